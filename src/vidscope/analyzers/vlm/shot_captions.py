"""``shot_captions``: a caption and six 0–1 attributes per shot from a vision-language model,
next to the same qualities measured by the other tracks, and a fusion of the two.

**Frames.**  Frames are sampled at ``fps`` and held until the shot list closes the shot they
belong to; then ``frames`` of them, evenly spaced over the shot, go to the model as separate
images, or stitched side by side into one image when the model takes fewer than that
(``max_images``, or the model family's own limit: one image for LLaVA 1.5/1.6, InstructBLIP
and PaliGemma).  A shot the shot list has not closed yet may be long, so past
``max_buffered`` frames every other held frame is dropped (the spacing doubles, the shot is
still covered end to end).

**Answer.**  The model answers with a JSON object (caption + ``suspense``, ``darkness``,
``ambiguity``, ``emotional_tension``, ``intensity``, ``motion``), parsed strictly against
:class:`~vidscope.models.vlm.prompts.ShotAnswer`; an answer that does not fit is sent back
once with what was wrong.  If that fails too, the shot's record carries ``error`` and the raw
``answer``, and no caption or attributes.

**Measured signals** (``measured``, each 0–1, null when the track did not run), from the
``shot_stats`` record of the shot and the shot's own length:

- ``darkness``: mean of ``1 - brightness`` and ``dark_share`` (share of pixels below 15 % luma);
- ``motion``: mean absolute luma change between frames 1/6 s apart, ``/ 0.1`` (a change of
  10 % of the luma range every sixth of a second is fast action), capped at 1;
- ``loudness``: RMS level, -50 dBFS → 0 to -10 dBFS → 1;
- ``pace``: ``log10(10 s / shot length)``: a 10-second shot → 0, 3 s → 0.5, 1 s or shorter → 1;
- ``intensity``: mean of ``loudness`` and ``pace`` (``pace`` alone without audio);
- ``speech_share``: share of the shot with speech.

**Fusion** (``fused``, only when the model answered): for ``darkness``, ``motion`` and
``intensity``, ``fusion_weight * model + (1 - fusion_weight) * measured`` (the model's value
alone where the measurement is missing); ``suspense``, ``ambiguity`` and ``emotional_tension``
have no measured counterpart and keep the model's value.  The model judges mood, the
measurements are exact about light, movement and sound, and a small model's scores drift;
the blend keeps both honest.

The model is asked as soon as a shot's frames are in; its result then waits for the shot's
``shot_stats`` record (small, no frames), so measured values are never missed for lateness.

Record: ``{"start", "end", "shot", "frames", "caption", "attributes", "measured", "fused",
"repaired"}`` plus ``error`` and ``answer`` when the model's answer was unusable.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import Field

from vidscope.analyzers.base import (
    Frame,
    FrameSpec,
    Item,
    Record,
    Requirements,
    TrackRecord,
    TrackView,
)
from vidscope.analyzers.vlm.common import Usage, VlmAnalyzer, VlmParams
from vidscope.media.probe import MediaInfo
from vidscope.models.vlm.base import VlmRequest
from vidscope.models.vlm.images import side_by_side
from vidscope.models.vlm.prompts import ShotAnswer, shot_prompt
from vidscope.models.vlm.structured import Structured, ask

MOTION_FULL = 0.1
QUIET_DB, LOUD_DB = -50.0, -10.0
MEASURED_ATTRIBUTES = ("darkness", "motion", "intensity")


class ShotCaptionsParams(VlmParams):
    """Parameters of :class:`ShotCaptionsAnalyzer` (backend parameters in :class:`VlmParams`)."""

    client_settable = frozenset({"frames", "fps", "fusion_weight", "max_new_tokens"})

    frames: int = Field(5, ge=1, le=16, description="frames per shot shown to the model")
    fps: float = Field(2.0, gt=0, le=8, description="frames sampled per second to choose from")
    width: int = Field(448, ge=56, description="frame width before the model's own resizing")
    max_buffered: int = Field(
        150, ge=16, description="frames held while a shot is open before thinning them"
    )
    fusion_weight: float = Field(
        0.5, ge=0, le=1, description="weight of the model's score in the fused attributes"
    )
    max_new_tokens: int = Field(256, ge=1, le=4096, description="longest answer, in tokens")


def _clip(x: float) -> float:
    return round(min(1.0, max(0.0, x)), 4)


def measured(duration: float, stats: Record | None) -> dict[str, float | None]:
    """The shot's measured signals, 0–1 (see the module notes for each mapping)."""
    stats = stats or {}

    def get(key: str) -> float | None:
        value = stats.get(key)
        return None if value is None else float(value)

    brightness, dark_share = get("brightness"), get("dark_share")
    motion, rms_db, speech = get("motion"), get("rms_db"), get("speech_share")
    darkness = (
        None
        if brightness is None or dark_share is None
        else _clip(((1 - brightness) + dark_share) / 2)
    )
    loudness = None if rms_db is None else _clip((rms_db - QUIET_DB) / (LOUD_DB - QUIET_DB))
    pace = _clip(math.log10(10.0 / duration)) if duration > 0 else None
    parts = [v for v in (loudness, pace) if v is not None]
    return {
        "darkness": darkness,
        "motion": None if motion is None else _clip(motion / MOTION_FULL),
        "loudness": loudness,
        "pace": pace,
        "intensity": _clip(sum(parts) / len(parts)) if parts else None,
        "speech_share": None if speech is None else _clip(speech),
    }


def fuse(
    model: dict[str, float], signals: dict[str, float | None], weight: float
) -> dict[str, float]:
    """The model's attributes blended with the measured ones (see the module notes)."""
    out = dict(model)
    for name in MEASURED_ATTRIBUTES:
        value = signals.get(name)
        if value is not None:
            out[name] = round(weight * model[name] + (1 - weight) * value, 4)
    return out


def pick_frames(
    frames: Sequence[tuple[float, np.ndarray]], lo: float, hi: float, n: int
) -> list[tuple[float, np.ndarray]]:
    """Up to ``n`` frames evenly spread over ``[lo, hi)`` (the nearest one to each of ``n``
    evenly spaced times); a shot too short to hold a sampled frame gets the nearest frame."""
    inside = [f for f in frames if lo <= f[0] < hi]
    if not inside:
        middle = (lo + hi) / 2
        return [min(frames, key=lambda f: abs(f[0] - middle))] if frames else []
    if len(inside) <= n:
        return inside
    times = np.array([t for t, _ in inside])
    targets = lo + (np.arange(n) + 0.5) * (hi - lo) / n
    chosen = sorted({int(np.abs(times - t).argmin()) for t in targets})
    return [inside[i] for i in chosen]


@dataclass
class _Asked:
    shot: Record
    times: list[float]
    request: VlmRequest | None
    error: str | None = None
    answer: Structured[ShotAnswer] | None = None


@dataclass
class _State:
    media: MediaInfo
    with_stats: bool
    usage: Usage
    frames: list[tuple[float, np.ndarray]] = field(default_factory=list)
    shots: deque[Record] = field(default_factory=deque)
    asked: list[_Asked] = field(default_factory=list)
    answered: deque[_Asked] = field(default_factory=deque)
    stats: dict[int, Record] = field(default_factory=dict)
    clock: float = float("-inf")
    done_until: float = float("-inf")
    calls: int = 0
    repaired: int = 0
    failed: int = 0


class ShotCaptionsAnalyzer(VlmAnalyzer[ShotCaptionsParams]):
    """A caption and attributes for every shot (see the module notes)."""

    name = "shot_captions"
    version = "1"
    description = "per-shot caption and suspense/darkness/... attributes from a VLM, fused"
    tracks = ("shot_captions",)
    needs_video = True
    views = (
        TrackView(
            "shot_captions",
            label=("{caption}", "(no caption: {error})", "(no caption: unknown)"),
            search=True,
            order=20,
        ),
    )
    Params = ShotCaptionsParams

    def requirements(self) -> Requirements:
        p = self.params
        return Requirements(
            frames=FrameSpec(fps=p.fps, width=p.width, format="rgb24"),
            tracks=("shots",),
            optional_tracks=("shot_stats",),
        )

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> _State:
        return _State(media, with_stats="shot_stats" in inputs, usage=self.usage_mark())

    def _request(self, state: _State, shot: Record) -> _Asked:
        p = self.params
        lo, hi = float(shot["start"]), float(shot["end"])
        chosen = pick_frames(state.frames, lo, hi, p.frames)
        times = [round(t, 3) for t, _ in chosen]
        if not chosen:
            return _Asked(shot, times, None, error="no frame was sampled in this shot")
        images = [im for _, im in chosen]
        stitched = len(images) > self.images_per_prompt()
        if stitched:
            images = [side_by_side(images)]
        prompt = shot_prompt(len(chosen), stitched, hi - lo)
        return _Asked(shot, times, VlmRequest.ask(prompt, images))

    def _ask(self, state: _State) -> None:
        p = self.params
        assert self.backend is not None
        to_ask = [a for a in state.asked if a.request is not None]
        answers = ask(
            self.backend,
            [a.request for a in to_ask],  # type: ignore[misc]
            ShotAnswer,
            max_new_tokens=p.max_new_tokens,
            batch_size=p.batch_size,
        )
        for asked, answer in zip(to_ask, answers, strict=True):
            asked.answer = answer
            state.calls += 1 + answer.repaired
            state.repaired += answer.repaired
        state.answered.extend(state.asked)
        state.asked = []

    def _record(self, state: _State, asked: _Asked) -> Record:
        p = self.params
        shot = asked.shot
        index = int(shot["index"])
        signals = measured(float(shot["end"]) - float(shot["start"]), state.stats.pop(index, None))
        answer = asked.answer
        value = answer.value if answer else None
        record: Record = {
            "start": shot["start"],
            "end": shot["end"],
            "shot": index,
            "frames": asked.times,
            "caption": value.caption if value else None,
            "attributes": value.attributes() if value else None,
            "measured": signals,
            "fused": fuse(value.attributes(), signals, p.fusion_weight) if value else None,
            "repaired": bool(answer and answer.repaired),
        }
        if value is None:
            state.failed += 1
            record["error"] = asked.error or (answer.error if answer else None)
            if answer and answer.answer:
                record["answer"] = answer.answer[:1000]
        return record

    def _advance(self, state: _State, final: bool) -> list[Record]:
        p = self.params
        while state.shots and (final or float(state.shots[0]["end"]) <= state.clock):
            shot = state.shots.popleft()
            state.asked.append(self._request(state, shot))
            state.done_until = float(shot["end"])
        if len(state.asked) >= p.batch_size or (final and state.asked):
            self._ask(state)
        keep_from = float(state.shots[0]["start"]) if state.shots else state.done_until
        state.frames = [f for f in state.frames if f[0] >= keep_from]
        if len(state.frames) > p.max_buffered:
            state.frames = state.frames[::2]
        out: list[Record] = []
        while state.answered and (
            final or not state.with_stats or int(state.answered[0].shot["index"]) in state.stats
        ):
            out.append(self._record(state, state.answered.popleft()))
        return out

    def process_batch(self, state: _State, items: Sequence[Item]) -> Iterable[Record]:
        for item in items:
            if isinstance(item, TrackRecord):
                if item.track == "shots":
                    state.shots.append(item.record)
                elif item.track == "shot_stats":
                    state.stats[int(item.record["shot"])] = item.record
            else:
                assert isinstance(item, Frame)
                state.frames.append((item.time, item.image))
                state.clock = max(state.clock, item.time)
        return self._advance(state, final=False)

    def finish(self, state: _State) -> Iterable[Record]:
        return self._advance(state, final=True)

    def report(self, state: _State) -> dict[str, Any]:
        return {
            "model_calls": state.calls,
            "repaired": state.repaired,
            "failed": state.failed,
            **self.usage_since(state.usage),
        }

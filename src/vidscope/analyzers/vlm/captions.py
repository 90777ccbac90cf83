"""``captions``: one caption per second of video from a vision-language model.

**Coverage.**  Every second ``[start + k, start + k + 1)`` of the media gets a record.  Its
frames are the ones sampled inside it (``fps`` per second); a second with no frame of its own
(a gap in a variable-frame-rate stream, or the end of the media) shows the frame before it,
and seconds before the first frame use the first frame.

**Reuse.**  A second whose frames differ from those of the last captioned second by less than
``dedup_threshold`` (see :mod:`vidscope.models.vlm.dedup`) is not sent to the model: it gets
that second's caption and ``repeated_from`` (the start of that second).  Comparing with the
last *captioned* second rather than the previous one keeps a slow drift from being carried
along for ever.  The run report counts the model calls this saved.

**Context.**  When the ``transcript`` or ``ocr`` tracks run too, the words spoken and the text
on screen during the second go into the prompt.  Both arrive late (a transcript segment
leaves Whisper once its 30-second window is done), so seconds wait for them until the frames
are ``context_lag`` seconds further on; that bounds the frames held in memory.

**Batching.**  Seconds to caption are collected until ``batch_size`` prompts are ready and then
sent in one ``generate`` call (in-process) or as concurrent requests (HTTP).  A failed prompt
marks that second's record with ``error`` and no text; the other seconds go on.

Record: ``{"start", "end", "text", "frames": [frame times]}`` plus ``repeated_from`` for a
reused caption and ``error`` (with ``text`` null) when the model gave none.
"""

from __future__ import annotations

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
from vidscope.analyzers.vlm.common import SideTracks, Usage, VlmAnalyzer, VlmParams
from vidscope.analyzers.windows import second_index, second_span, seconds_count
from vidscope.media.probe import MediaInfo
from vidscope.models.vlm.base import VlmRequest, VlmResult
from vidscope.models.vlm.dedup import Fingerprint, difference, fingerprint
from vidscope.models.vlm.images import side_by_side
from vidscope.models.vlm.prompts import caption_prompt

CONTEXT = ("transcript", "ocr")


class CaptionsParams(VlmParams):
    """Parameters of :class:`CaptionsAnalyzer` (backend parameters in :class:`VlmParams`)."""

    client_settable = frozenset({"fps", "dedup_threshold", "max_new_tokens"})

    fps: float = Field(1.0, gt=0, le=8, description="frames per second shown to the model")
    width: int = Field(448, ge=56, description="frame width before the model's own resizing")
    dedup_threshold: float = Field(
        0.05,
        ge=0,
        le=1,
        description="reuse the last caption when the frames differ by less than this (0-1); "
        "0 captions every second",
    )
    context_lag: float = Field(
        60.0, ge=0, description="how long to wait for transcript / on-screen text (seconds)"
    )
    max_new_tokens: int = Field(64, ge=1, le=4096, description="longest caption, in tokens")


@dataclass
class _Second:
    index: int
    times: list[float]
    images: list[np.ndarray]
    prints: list[Fingerprint]


@dataclass
class _Entry:
    """A second on its way out: asked of the model (``request``) or repeating ``origin``."""

    second: _Second
    request: VlmRequest | None = None
    origin: _Entry | None = None
    result: VlmResult | None = None


@dataclass
class _State:
    media: MediaInfo
    context: SideTracks
    usage: Usage
    collecting: _Second | None = None
    waiting: deque[_Second] = field(default_factory=deque)
    pending: deque[_Entry] = field(default_factory=deque)
    origin: _Entry | None = None
    clock: float = float("-inf")
    calls: int = 0
    repeated: int = 0
    failed: int = 0


def spoken(records: Sequence[Record], lo: float, hi: float) -> str:
    """The transcript words whose middle falls in ``[lo, hi)``."""
    words = [
        w["word"]
        for r in records
        for w in r.get("words") or ()
        if lo <= (float(w["start"]) + float(w["end"])) / 2 < hi
    ]
    return "".join(words).strip()


def on_screen(records: Sequence[Record]) -> str:
    """Distinct on-screen texts, in order."""
    texts = [str(r["text"]).strip() for r in records if r.get("text")]
    return " / ".join(dict.fromkeys(t for t in texts if t))


class CaptionsAnalyzer(VlmAnalyzer[CaptionsParams]):
    """A caption for every second of video (see the module notes)."""

    name = "captions"
    version = "1"
    description = "a caption for every second of video from a vision-language model"
    per_second = ("captions",)
    needs_video = True
    views = (TrackView("captions", label="{text}", search=True, order=40),)
    Params = CaptionsParams

    def requirements(self) -> Requirements:
        p = self.params
        return Requirements(
            frames=FrameSpec(fps=p.fps, width=p.width, format="rgb24"), optional_tracks=CONTEXT
        )

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> _State:
        p = self.params
        context = SideTracks([t for t in CONTEXT if t in inputs], media.start, p.context_lag)
        return _State(media, context, usage=self.usage_mark())

    def _add_frame(self, state: _State, frame: Frame) -> None:
        k = second_index(state.media, frame.time)
        state.clock = max(state.clock, frame.time)
        current = state.collecting
        if current is not None and k == current.index:
            current.times.append(frame.time)
            current.images.append(frame.image)
            current.prints.append(fingerprint(frame.image))
            return
        new = _Second(k, [frame.time], [frame.image], [fingerprint(frame.image)])
        if current is None:
            # Seconds before the first frame show nothing else: they use the first frame.
            state.waiting.extend(
                _Second(j, new.times[:1], new.images[:1], new.prints[:1]) for j in range(k)
            )
        else:
            state.waiting.append(current)
            state.waiting.extend(
                _Second(j, current.times, current.images, current.prints)
                for j in range(current.index + 1, k)
            )
        state.collecting = new

    def _prompt(self, state: _State, second: _Second) -> VlmRequest:
        lo, hi = second_span(state.media, second.index)
        speech = spoken(state.context.within("transcript", lo, hi), lo, hi)
        text = on_screen(state.context.within("ocr", lo, hi))
        images = second.images
        if len(images) > self.images_per_prompt():
            images = [side_by_side(images)]
        return VlmRequest.ask(caption_prompt(len(second.images), speech, text), images)

    def _entry(self, state: _State, second: _Second) -> _Entry:
        p = self.params
        origin = state.origin
        if origin is not None and p.dedup_threshold > 0:
            change = max(
                difference(a, b) for a, b in zip(second.prints, origin.second.prints, strict=False)
            )
            if change < p.dedup_threshold:
                state.repeated += 1
                return _Entry(second, origin=origin)
        entry = _Entry(second, request=self._prompt(state, second))
        state.origin = entry
        state.calls += 1
        return entry

    def _record(self, state: _State, entry: _Entry) -> Record:
        start, end = second_span(state.media, entry.second.index)
        source = entry.origin or entry
        assert source.result is not None
        record: Record = {
            "start": start,
            "end": end,
            "text": source.result.text,
            "frames": [round(t, 3) for t in entry.second.times],
        }
        if entry.origin is not None:
            record["repeated_from"] = second_span(state.media, entry.origin.second.index)[0]
        if source.result.error is not None:
            record["error"] = source.result.error
        return record

    def _flush(self, state: _State) -> list[Record]:
        p = self.params
        assert self.backend is not None
        asked = [e for e in state.pending if e.request is not None]
        results = self.backend.generate(
            [e.request for e in asked],  # type: ignore[misc]
            max_new_tokens=p.max_new_tokens,
            batch_size=p.batch_size,
        )
        for entry, result in zip(asked, results, strict=True):
            entry.result = result
            state.failed += result.error is not None
        return self._emit(state)

    def _emit(self, state: _State) -> list[Record]:
        """Records of the pending seconds, in order, as far as their captions are known."""
        out: list[Record] = []
        while state.pending and (state.pending[0].origin or state.pending[0]).result is not None:
            out.append(self._record(state, state.pending.popleft()))
        return out

    def _advance(self, state: _State, final: bool) -> list[Record]:
        p = self.params
        out: list[Record] = []
        while state.waiting:
            second = state.waiting[0]
            end = second_span(state.media, second.index)[1]
            if not (final or state.context.settled(end, state.clock)):
                break
            state.waiting.popleft()
            state.pending.append(self._entry(state, second))
            if sum(e.request is not None for e in state.pending) >= p.batch_size:
                out += self._flush(state)
        if final and any(e.request is not None for e in state.pending):
            out += self._flush(state)
        out += self._emit(state)
        oldest = state.waiting[0] if state.waiting else state.collecting
        if oldest is not None:
            state.context.prune(second_span(state.media, oldest.index)[0])
        return out

    def process_batch(self, state: _State, items: Sequence[Item]) -> Iterable[Record]:
        for item in items:
            if isinstance(item, TrackRecord):
                state.context.add(item)
            else:
                assert isinstance(item, Frame)
                self._add_frame(state, item)
        return self._advance(state, final=False)

    def finish(self, state: _State) -> Iterable[Record]:
        last = state.collecting
        if last is not None:
            state.waiting.append(last)
            state.waiting.extend(
                _Second(j, last.times, last.images, last.prints)
                for j in range(last.index + 1, seconds_count(state.media))
            )
            state.collecting = None
        return self._advance(state, final=True)

    def report(self, state: _State) -> dict[str, Any]:
        return {
            "model_calls": state.calls,
            "calls_saved_by_reuse": state.repeated,
            "failed": state.failed,
            **self.usage_since(state.usage),
        }

"""Shot boundaries: hard cuts (PySceneDetect's ContentDetector algorithm), fades to/from
black (its ThresholdDetector), and gradual transitions (TransNetV2 with per-frame evidence),
on the shared decode; see :mod:`.shot_detectors` and :mod:`.transitions`.

Frames are handed over as raw YUV planes and converted and downscaled here as PySceneDetect's
own pipeline does (BGR, then width / 256 with OpenCV's bilinear resize), so the published
PySceneDetect golden cut lists are reproduced frame for frame.  OpenCV's YUV->BGR conversion
is about 3x faster than swscale's and runs on this analyzer's thread, not the decoder's.

The learned detector reads each frame at 48x27 RGB, shrunk here from the content detector's
256-wide frame with OpenCV's area interpolation: upstream TransNetV2 scales with FFmpeg's
default (bicubic) swscale, which widens its filter to the whole source area when shrinking
27-fold, so an area average is the close equivalent (``tests/test_transitions.py`` bounds the
difference).  Shrinking the full-size frame instead costs 3.3 ms per 720p frame (0.08 CPU-RTF
at 25 fps, more than the whole gate's budget); the 256-wide frame, already made, 0.13 ms, and
the two 48x27 frames differ by 0.6 of 255 on average (testvideo.mp4).

Hard cuts keep their frame-exact times: a gradual transition within ``min_scene_len`` frames
of a cut is that cut (typed as the transition when the cut lies inside its span), and one
overlapping a fade through black gives that fade its span.

Frame numbers are derived from presentation time at the stream's nominal rate, counted from
the media start, so a variable-frame-rate file numbers its frames the way an editor would.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from vidscope.analyzers.base import (
    Analyzer,
    Availability,
    Frame,
    FrameSpec,
    Item,
    ModelInfo,
    Params,
    Record,
    Requirements,
    Resources,
    TrackView,
)
from vidscope.analyzers.shot_detectors import (
    MICROSECONDS,
    ContentDetector,
    FadeDetector,
    FrameDistance,
)
from vidscope.analyzers.transitions import Gradual, TransitionFinder
from vidscope.errors import ModelError
from vidscope.media.probe import MediaInfo

if TYPE_CHECKING:
    from vidscope.models.transnet import TransNet

TRANSNET_SIZE = (48, 27)
INSTALL = "pip install 'vidscope[shots]'"
NO_ONNXRUNTIME = (
    f"gradual transitions off (hard cuts and fades only): onnxruntime is not installed; {INSTALL}"
)


def _has_onnxruntime() -> bool:
    """Whether onnxruntime, which runs TransNetV2, is installed (checked without importing)."""
    return importlib.util.find_spec("onnxruntime") is not None


class ShotsParams(Params):
    client_settable = frozenset(
        {"threshold", "min_scene_len", "fade_threshold", "detect_fades", "transitions"}
    )

    threshold: float = Field(
        27.0, ge=0, le=255, description="ContentDetector threshold (HSV change score)"
    )
    min_scene_len: int = Field(15, ge=1, le=10_000, description="shortest shot, in frames")
    fade_threshold: float = Field(
        12.0, ge=0, le=255, description="mean pixel level counted as black"
    )
    detect_fades: bool = True
    transitions: Literal["auto", "all", "off"] = Field(
        "auto",
        description="gradual transitions (dissolves, wipes, fades) with TransNetV2: 'all' runs "
        "it on every frame, 'auto' only where the picture changes gradually (every frame where "
        "onnxruntime runs it on a GPU; none without onnxruntime), 'off' finds hard cuts and "
        "fades to black only",
    )
    min_width: int = Field(256, ge=32, description="detection width (PySceneDetect default)")


@dataclass
class _State:
    media: MediaInfo
    content: ContentDetector
    fade: FadeDetector | None
    finder: TransitionFinder | None
    fps: Fraction
    times: list[float] = field(default_factory=list)
    size: tuple[int, int] | None = None
    first_time: float | None = None
    last_end: float = 0.0
    boundaries: list[tuple[float, str, float, float, bool]] = field(default_factory=list)
    """``(time, type, transition start, transition end, exact)``, not yet turned into shots;
    exact boundaries are the cuts and fades of PySceneDetect's detectors."""
    shot_start: float | None = None
    shot_in: dict[str, Any] = field(default_factory=dict)
    index: int = 0


def _inside(t: float, kind: str, start: float, end: float) -> bool:
    """Whether a content cut at ``t`` is part of the gradual transition ``kind`` over
    ``start`` to ``end``.  A short dissolve or wipe changes the picture most at its edges'
    frames, where the content detector fires (measured: 8 and 12 frames, at the first or
    the first after); a cut from black onto a fade-in's first frame stays a cut (the
    PySceneDetect goldens)."""
    if kind in ("dissolve", "wipe"):
        return start <= t <= end
    return start < t < end


class ShotsAnalyzer(Analyzer[ShotsParams]):
    """Cuts, fades and gradual transitions; one record per shot with its start/end and how
    it begins and ends."""

    name = "shots"
    version = "2"
    description = (
        "shot boundaries: hard cuts and fades (PySceneDetect's detectors), dissolves and "
        "wipes (TransNetV2)"
    )
    extra = "shots"
    dependencies = ("cv2",)
    needs_video = True
    resources = Resources(batch_size=16)
    views = (TrackView("shots", label="#{index}", order=10),)
    Params = ShotsParams

    def requirements(self) -> Requirements:
        return Requirements(frames=FrameSpec(fps=None, width=None, format="yuv420p"))

    def configured(self) -> Availability:
        p = self.params
        if p.transitions == "off" or _has_onnxruntime():
            return Availability(True)
        if p.transitions == "all":
            return Availability(
                False,
                "analyzer.shots.transitions=all needs onnxruntime (for TransNetV2)",
                f"{INSTALL}, or --set analyzer.shots.transitions=off",
            )
        return Availability(True, detail=NO_ONNXRUNTIME)

    def _learned(self) -> bool:
        """Whether TransNetV2 looks for gradual transitions in this run."""
        return self.params.transitions != "off" and _has_onnxruntime()

    @cached_property
    def _net(self) -> TransNet:
        from vidscope.models.transnet import TransNet

        return TransNet(threads=1, device=self.device)

    def model_info(self) -> ModelInfo | None:
        from vidscope.models.transnet import TRANSNET_ID

        if self.params.transitions == "off":
            return None
        if not self._learned():
            return ModelInfo(TRANSNET_ID, extra={"warning": NO_ONNXRUNTIME})
        try:
            model = self._net.model
            # Which provider runs decides how much of the video the model reads (see start).
            extra = {"source": model.source, "provider": self._net.provider}
        except ModelError:
            # setup() raises the same error where the engine reports it for this track only.
            return ModelInfo(id=TRANSNET_ID)
        return ModelInfo(model.id, str(model.file), model.sha256, extra)

    def setup(self) -> None:
        import cv2

        # The engine already runs decoding and analyzers side by side; OpenCV's own thread
        # pool on top of that oversubscribes the cores (measured: decoding ran 3x slower).
        cv2.setNumThreads(1)
        self._cv2 = cv2
        self._transnet: TransNet | None = self._net if self._learned() else None

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> _State:
        p = self.params
        assert media.video is not None
        fps = Fraction(media.video.fps).limit_denominator(100000)
        distance = FrameDistance(fps)
        return _State(
            media=media,
            content=ContentDetector(self._cv2, distance, p.threshold, p.min_scene_len),
            fade=FadeDetector(self._cv2, distance, p.fade_threshold, p.min_scene_len)
            if p.detect_fades
            else None,
            finder=None
            if self._transnet is None
            else TransitionFinder(
                self._transnet.predict,
                every_frame=p.transitions == "all" or self._transnet.on_gpu,
                dark=p.fade_threshold,
            ),
            fps=fps,
        )

    def _frame_number(self, state: _State, time: float) -> int:
        return round((time - state.media.start) * float(state.fps))

    def _detect(self, state: _State, frame: Frame) -> None:
        image = self._cv2.cvtColor(frame.image, self._cv2.COLOR_YUV2BGR_I420)
        if state.size is None:
            h, w = image.shape[:2]
            state.size = detection_size(w, h, self.params.min_width)
        if state.size != (image.shape[1], image.shape[0]):
            image = self._cv2.resize(image, state.size, interpolation=self._cv2.INTER_LINEAR)
        # Frame times are already rounded to the microsecond, so this product is within a
        # rounding error of an integer (exact, and far cheaper than going through a Fraction).
        time_us = round(frame.time * MICROSECONDS)
        cut = state.content.process(time_us, image)
        if cut is not None:
            at = cut / MICROSECONDS
            state.boundaries.append((at, "cut", at, at, True))
        if state.fade is not None:
            fade = state.fade.process(time_us, image)
            if fade is not None:
                state.boundaries.append((fade, "fade", fade, fade, True))
        if state.finder is not None:
            state.times.append(frame.time)
            small = self._cv2.resize(image, TRANSNET_SIZE, interpolation=self._cv2.INTER_AREA)
            rgb = self._cv2.cvtColor(small, self._cv2.COLOR_BGR2RGB)
            self._gradual(state, state.finder.push(rgb))

    def _gradual(self, state: _State, found: list[Gradual]) -> None:
        """Add the gradual transitions found to the boundaries, in seconds; a transition's
        boundary is its middle frame."""
        times = state.times
        for g in found:
            end = times[g.last + 1] if g.last + 1 < len(times) else state.last_end
            middle = times[(g.first + g.last + 1) // 2]
            state.boundaries.append((middle, g.kind, times[g.first], end, False))

    def _close(self, state: _State, upto: float | None) -> list[Record]:
        """Turn boundaries older than ``upto`` (all, if None) into finished shot records."""
        min_len = self.params.min_scene_len / float(state.fps)
        if upto is not None and state.finder is not None:
            # Nothing is final where the learned detector may still report a transition.
            undecided = state.finder.decided
            if undecided < len(state.times):
                upto = min(upto, state.times[undecided])
        state.boundaries.sort()
        self._fuse(state, min_len)
        # A cut or fade up to min_len after a gradual transition decides about it.
        ready = [b for b in state.boundaries if upto is None or b[0] < upto - min_len]
        state.boundaries = state.boundaries[len(ready) :]
        records: list[Record] = []
        for t, kind, start, end, _ in ready:
            if state.shot_start is None or t <= state.shot_start:
                continue
            transition = {"type": kind, "start": round(start, 6), "end": round(end, 6)}
            if t - state.shot_start < min_len:
                # A fade and a content cut a few frames apart are one transition: a fade.
                if kind == "fade" and records and state.shot_in["type"] == "cut":
                    records[-1]["transition_out"] = state.shot_in = transition
                continue
            records.append(self._shot(state, t, transition))
        return records

    @staticmethod
    def _fuse(state: _State, min_len: float) -> None:
        """Drop each gradual transition within ``min_len`` of an exact boundary or of the
        video's start: that boundary stays at its frame-exact time.  A fade through black
        takes the gradual transitions' spans (its fade-out and fade-in) as its own; a cut
        inside a gradual transition's span (a fast fade or dissolve the content detector
        fired on) becomes that transition, at the cut's time."""
        bounds = state.boundaries = _through_black(state.boundaries, min_len)
        exact = [i for i, b in enumerate(bounds) if b[4]]
        keep = []
        for b in bounds:
            _, kind, start, end, is_exact = b
            if is_exact:
                continue
            near = [i for i in exact if start - min_len < bounds[i][0] < end + min_len]
            for i in near:
                t, other, first, last, _ = bounds[i]
                if other == "fade":
                    bounds[i] = (t, other, min(first, start), max(last, end), True)
                elif other == "cut" and _inside(t, kind, start, end):
                    bounds[i] = (t, kind, start, end, True)
            first_time = state.first_time if state.first_time is not None else start
            keep.append(not near and start - min_len >= first_time)
        flags = iter(keep)
        state.boundaries = [b for b in bounds if b[4] or next(flags)]

    def _shot(self, state: _State, end: float, transition: dict[str, Any]) -> Record:
        assert state.shot_start is not None
        record = {
            "start": round(state.shot_start, 6),
            "end": round(end, 6),
            "index": state.index,
            "start_frame": self._frame_number(state, state.shot_start),
            "end_frame": self._frame_number(state, end),
            "duration": round(end - state.shot_start, 6),
            "transition_in": state.shot_in,
            "transition_out": transition,
        }
        state.index += 1
        state.shot_start, state.shot_in = end, transition
        return record

    def process_batch(self, state: _State, items: Sequence[Item]) -> Iterable[Record]:
        for frame in items:
            assert isinstance(frame, Frame)
            if state.first_time is None:
                state.first_time = state.shot_start = frame.time
                state.shot_in = _edge("start", frame.time)
            self._detect(state, frame)
            state.last_end = frame.time + frame.duration
        # Both detectors may report a boundary a few frames late (flash filter); only
        # boundaries safely behind the current frame are final.
        horizon = state.last_end - 2 * self.params.min_scene_len / float(state.fps)
        return self._close(state, horizon)

    def finish(self, state: _State) -> Iterable[Record]:
        if state.first_time is None:
            return []
        if state.finder is not None:
            self._gradual(state, state.finder.finish())
        ending = self._fade_to_end(state) or _edge("end", state.last_end)
        records = self._close(state, None)
        if state.shot_start is not None and state.last_end > state.shot_start:
            records.append(self._shot(state, state.last_end, ending))
        return records

    def _fade_to_end(self, state: _State) -> dict[str, Any] | None:
        """A learned fade-out that reaches the video's end (within ``min_scene_len``) is how
        the last shot ends, not a boundary: nothing follows it but black.  Removed from the
        boundaries; its transition object, or None."""
        min_len = self.params.min_scene_len / float(state.fps)
        tail = [
            b
            for b in state.boundaries
            if not b[4] and b[1] == "fade_out" and state.last_end - b[3] < min_len
        ]
        if not tail:
            return None
        state.boundaries = [b for b in state.boundaries if b not in tail]
        _, kind, start, end, _ = min(tail)
        return {"type": kind, "start": round(start, 6), "end": round(end, 6)}

    def report(self, state: _State) -> dict[str, Any]:
        if state.finder is None:
            return {}
        return {
            "transition_windows": state.finder.windows_run,
            "transition_frames": state.finder.frames_read,
        }


def detection_size(width: int, height: int, min_width: int) -> tuple[int, int]:
    """The size the detectors read a ``width`` x ``height`` frame at: ``min_width`` wide, as
    PySceneDetect downscales (a narrower frame as it is)."""
    factor = width / min_width if width >= min_width else 1.0
    return max(1, round(width / factor)), max(1, round(height / factor))


def _through_black(
    bounds: list[tuple[float, str, float, float, bool]], min_len: float
) -> list[tuple[float, str, float, float, bool]]:
    """A learned fade-out followed within ``min_len`` by a fade-in is one fade through black,
    its boundary in the middle of the black between them."""
    out: list[tuple[float, str, float, float, bool]] = []
    for b in bounds:
        last = next((o for o in reversed(out) if not o[4]), None)
        if (
            last is not None
            and not b[4]
            and (last[1], b[1]) == ("fade_out", "fade_in")
            and b[2] - last[3] <= min_len
        ):
            out.remove(last)
            b = ((last[3] + b[2]) / 2, "fade", last[2], b[3], False)
        out.append(b)
    out.sort()
    return out


def _edge(kind: str, time: float) -> dict[str, Any]:
    """The transition object of the video's start or end."""
    return {"type": kind, "start": round(time, 6), "end": round(time, 6)}

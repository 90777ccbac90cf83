"""Shot boundaries: hard cuts (PySceneDetect's ContentDetector algorithm) and fades to/from
black (its ThresholdDetector), on the shared decode; see :mod:`.shot_detectors`.

Frames are handed over as raw YUV planes and converted and downscaled here as PySceneDetect's
own pipeline does (BGR, then width / 256 with OpenCV's bilinear resize), so the published
PySceneDetect golden cut lists are reproduced frame for frame.  OpenCV's YUV->BGR conversion
is about 3x faster than swscale's and runs on this analyzer's thread, not the decoder's.

Frame numbers are derived from presentation time at the stream's nominal rate, counted from
the media start, so a variable-frame-rate file numbers its frames the way an editor would.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from pydantic import Field

from vidscope.analyzers.base import (
    Analyzer,
    Frame,
    FrameSpec,
    Item,
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
from vidscope.media.probe import MediaInfo


class ShotsParams(Params):
    client_settable = frozenset({"threshold", "min_scene_len", "fade_threshold", "detect_fades"})

    threshold: float = Field(
        27.0, ge=0, le=255, description="ContentDetector threshold (HSV change score)"
    )
    min_scene_len: int = Field(15, ge=1, le=10_000, description="shortest shot, in frames")
    fade_threshold: float = Field(
        12.0, ge=0, le=255, description="mean pixel level counted as black"
    )
    detect_fades: bool = True
    min_width: int = Field(256, ge=32, description="detection width (PySceneDetect default)")


@dataclass
class _State:
    media: MediaInfo
    content: ContentDetector
    fade: FadeDetector | None
    fps: Fraction
    size: tuple[int, int] | None = None
    first_time: float | None = None
    last_end: float = 0.0
    boundaries: list[tuple[float, str]] = field(default_factory=list)
    shot_start: float | None = None
    shot_in: str = "start"
    index: int = 0


class ShotsAnalyzer(Analyzer[ShotsParams]):
    """Cuts and fades; one record per shot with its start/end and how it begins and ends."""

    name = "shots"
    version = "1"
    description = "shot boundaries: hard cuts and fades (PySceneDetect's detectors)"
    extra = "shots"
    dependencies = ("cv2",)
    needs_video = True
    resources = Resources(batch_size=16)
    views = (TrackView("shots", label="#{index}", order=10),)
    Params = ShotsParams

    def requirements(self) -> Requirements:
        return Requirements(frames=FrameSpec(fps=None, width=None, format="yuv420p"))

    def setup(self) -> None:
        import cv2

        # The engine already runs decoding and analyzers side by side; OpenCV's own thread
        # pool on top of that oversubscribes the cores (measured: decoding ran 3x slower).
        cv2.setNumThreads(1)
        self._cv2 = cv2

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
            fps=fps,
        )

    def _frame_number(self, state: _State, time: float) -> int:
        return round((time - state.media.start) * float(state.fps))

    def _detect(self, state: _State, frame: Frame) -> None:
        image = self._cv2.cvtColor(frame.image, self._cv2.COLOR_YUV2BGR_I420)
        if state.size is None:
            h, w = image.shape[:2]
            factor = w / self.params.min_width if w >= self.params.min_width else 1.0
            state.size = (max(1, round(w / factor)), max(1, round(h / factor)))
        if state.size != (image.shape[1], image.shape[0]):
            image = self._cv2.resize(image, state.size, interpolation=self._cv2.INTER_LINEAR)
        # Frame times are already rounded to the microsecond, so this product is within a
        # rounding error of an integer (exact, and far cheaper than going through a Fraction).
        time_us = round(frame.time * MICROSECONDS)
        cut = state.content.process(time_us, image)
        if cut is not None:
            state.boundaries.append((cut / MICROSECONDS, "cut"))
        if state.fade is not None:
            fade = state.fade.process(time_us, image)
            if fade is not None:
                state.boundaries.append((fade, "fade"))

    def _close(self, state: _State, upto: float | None) -> list[Record]:
        """Turn boundaries older than ``upto`` (all, if None) into finished shot records."""
        state.boundaries.sort()
        ready = [b for b in state.boundaries if upto is None or b[0] < upto]
        state.boundaries = state.boundaries[len(ready) :]
        records: list[Record] = []
        min_len = self.params.min_scene_len / float(state.fps)
        for t, kind in ready:
            if state.shot_start is None or t <= state.shot_start:
                continue
            if t - state.shot_start < min_len:
                # A fade and a content cut a few frames apart are one transition: a fade.
                if kind == "fade" and records and state.shot_in == "cut":
                    records[-1]["transition_out"] = state.shot_in = "fade"
                continue
            records.append(self._shot(state, t, kind))
        return records

    def _shot(self, state: _State, end: float, kind: str) -> Record:
        assert state.shot_start is not None
        record = {
            "start": round(state.shot_start, 6),
            "end": round(end, 6),
            "index": state.index,
            "start_frame": self._frame_number(state, state.shot_start),
            "end_frame": self._frame_number(state, end),
            "duration": round(end - state.shot_start, 6),
            "transition_in": state.shot_in,
            "transition_out": kind,
        }
        state.index += 1
        state.shot_start, state.shot_in = end, kind
        return record

    def process_batch(self, state: _State, items: Sequence[Item]) -> Iterable[Record]:
        for frame in items:
            assert isinstance(frame, Frame)
            if state.first_time is None:
                state.first_time = state.shot_start = frame.time
            self._detect(state, frame)
            state.last_end = frame.time + frame.duration
        # Both detectors may report a boundary a few frames late (flash filter); only
        # boundaries safely behind the current frame are final.
        horizon = state.last_end - 2 * self.params.min_scene_len / float(state.fps)
        return self._close(state, horizon)

    def finish(self, state: _State) -> Iterable[Record]:
        if state.first_time is None:
            return []
        records = self._close(state, None)
        if state.shot_start is not None and state.last_end > state.shot_start:
            records.append(self._shot(state, state.last_end, "end"))
        return records

"""Cut and fade detection on downscaled BGR frames: PySceneDetect's ContentDetector (with its
flash filter in merge mode) and ThresholdDetector (floor method), decision for decision.

They are reimplemented rather than imported because importing PySceneDetect costs a short run
more than its detection does (its package import pulls in tqdm, asyncio, ssl and its own video
backends: ~70 ms), and because its per-frame path builds several timecode objects and
int32 copies of every channel.  Here each frame costs three OpenCV calls that release the GIL
(HSV conversion, absolute difference, channel sums); the sums are exact integer totals, so
every score equals PySceneDetect's bit for bit (``tests/test_shots.py`` checks it frame by
frame against the library).

Times are integer microseconds, as PySceneDetect's PTS-backed timecodes are when fed
microsecond presentation times; frame distances are ``round(seconds * fps)`` like its
``FrameTimecode`` arithmetic, so variable-frame-rate inputs are counted the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

MICROSECONDS = 1_000_000


@dataclass
class FrameDistance:
    """Whole frames between two times in microseconds, at a stream's nominal rate."""

    rate: Fraction
    fps: float = field(init=False)

    def __post_init__(self) -> None:
        self.fps = float(self.rate)

    def frame(self, time_us: int) -> int:
        """The frame number of a time, counted from zero at the nominal rate."""
        return round(time_us / MICROSECONDS * self.fps)

    def __call__(self, later_us: int, earlier_us: int) -> int:
        # Both subtraction results clamp at zero, as FrameTimecode's do.
        return self.frame(max(0, later_us - earlier_us))


class ContentDetector:
    """Hard cuts from the mean HSV change between consecutive frames.

    A frame scoring at least ``threshold`` is a cut candidate; candidates closer than
    ``min_scene_len`` frames to the previous one are merged (a flash or a burst of fast
    changes becomes one cut at its last frame once the picture settles).
    """

    def __init__(self, cv2: Any, distance: FrameDistance, threshold: float, min_scene_len: int):
        self._cv2 = cv2
        self._distance = distance
        self._threshold = threshold
        self._min_len = min_scene_len
        self._last_hsv: np.ndarray | None = None
        self._last_above: int | None = None
        self._merge_enabled = False
        self._merging = False
        self._merge_start = 0
        self.last_score = 0.0
        """The latest frame's score (what ``threshold`` is compared against)."""

    def score(self, bgr: np.ndarray) -> float:
        """Mean absolute change of hue, saturation and value against the previous frame."""
        cv2 = self._cv2
        hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
        last, self._last_hsv = self._last_hsv, hsv
        if last is None:
            return 0.0
        pixels = float(hsv.shape[0] * hsv.shape[1])
        hue, sat, lum, _ = cv2.sumElems(cv2.absdiff(hsv, last))
        # Same order of operations as PySceneDetect's weighted sum with weights (1, 1, 1, 0).
        return (0 + hue / pixels + sat / pixels + lum / pixels + 0.0) / 3.0

    def process(self, time_us: int, bgr: np.ndarray) -> int | None:
        """Feed the next frame; returns the time of a cut decided now, if any."""
        self.last_score = self.score(bgr)
        above = self.last_score >= self._threshold
        if self._last_above is None:
            self._last_above = time_us
        long_enough = self._distance(time_us, self._last_above) >= self._min_len
        if above:
            self._last_above = time_us
        if self._merging:
            if (
                long_enough
                and not above
                and self._distance(self._last_above, self._merge_start) >= self._min_len
            ):
                self._merging = False
                return self._last_above
            return None
        if not above:
            return None
        if long_enough:
            self._merge_enabled = True
            return time_us
        if self._merge_enabled:
            self._merging = True
            self._merge_start = time_us
        return None


class FadeDetector:
    """Fades through black: the frame's mean level crossing ``threshold`` downwards and back.

    A fade-out followed by a fade-in at least ``min_scene_len`` frames after the previous
    boundary places one boundary halfway between the two crossings.
    """

    def __init__(self, cv2: Any, distance: FrameDistance, threshold: float, min_scene_len: int):
        self._cv2 = cv2
        self._distance = distance
        self._threshold = int(threshold)
        self._min_len = min_scene_len
        self._last_cut: int | None = None
        self._fade_type: str | None = None
        self._fade_time = 0

    def process(self, time_us: int, bgr: np.ndarray) -> float | None:
        """Feed the next frame; returns the time in seconds of a fade boundary, if any."""
        sums = self._cv2.sumElems(bgr)
        level = (sums[0] + sums[1] + sums[2]) / bgr.size
        dark = level < self._threshold
        if self._last_cut is None:
            self._last_cut = time_us
            self._fade_type, self._fade_time = ("out" if dark else "in"), time_us
            return None
        if self._fade_type == "in" and dark:
            self._fade_type, self._fade_time = "out", time_us
            return None
        if self._fade_type == "out" and not dark:
            boundary = None
            if self._distance(time_us, self._last_cut) >= self._min_len:
                frame = self._distance.frame
                out_frame = frame(self._fade_time)
                middle = out_frame + round((frame(time_us) - out_frame) / 2.0)
                # PySceneDetect reports this boundary as a frame number at the nominal rate.
                boundary = float(middle / self._distance.rate)
                self._last_cut = time_us
            self._fade_type, self._fade_time = "in", time_us
            return boundary
        return None

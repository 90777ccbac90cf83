"""When a text block appeared or vanished between two sampled frames, to the frame.

Text is read on sampled frames (1 per second by default); the frames between two samples are
kept undecoded-to-BGR (the I420 planes the decoder already holds for the shot detector) and
looked at only where a block appeared or vanished from one sample to the next.  A binary
search over those frames asks, frame by frame, whether the block is shown:

1. **Pixels first.**  The block's box is compared with the same box in the sample showing
   the block and in the sample without it, as grey levels scaled to their own contrast (so a
   fade, which dims text that stays readable, is not taken for its absence).  When it is
   within ``NEAR`` of one of the two and at least ``FAR`` from the other, that settles it for
   free: a caption over a still or slow background.
2. **Reading otherwise.**  When the background moves under the text (both differ) or nothing
   changed there (both alike), only the recogniser is run, on the block's line crops at their
   known place (no detection); the block is shown when at least half its lines read back as
   their text.

About ``log2(frames between samples)`` frames are looked at per edge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from vidscope.analyzers.vision.text_spans import Box, Line

MIN_CONTRAST = 8.0
"""Grey-level standard deviation below which a box is scaled as if it had this much (so the
noise of a flat box is not blown up into structure)."""
NEAR = 0.15
"""Mean absolute difference of contrast-scaled boxes (in standard deviations) up to which two
frames show the same thing there: H.264 noise on a still background stays under 0.1."""
FAR = 0.45
"""Difference from which two frames show different things there: a caption turning on or
off moves a tight box by 0.8 or more."""

Recognise = Callable[[np.ndarray, Line], bool]
"""Whether the BGR frame shows the line, by reading its crops in place."""


def pixel_box(box: Box, shape: tuple[int, ...], pad: float = 0.0) -> tuple[int, int, int, int]:
    """``box`` (fractions) in pixels of an image of ``shape``, grown by ``pad`` line heights
    on each side (half that vertically), clipped to the image."""
    h, w = shape[:2]
    x0, y0, x1, y1 = box[0] * w, box[1] * h, box[2] * w, box[3] * h
    grow = pad * (y1 - y0)
    return (
        max(0, int(x0 - grow)),
        max(0, int(y0 - grow / 2)),
        min(w, int(np.ceil(x1 + grow))),
        min(h, int(np.ceil(y1 + grow / 2))),
    )


def _grey(image: np.ndarray, box: Box) -> np.ndarray:
    """The box as grey levels scaled to zero mean and unit contrast."""
    x0, y0, x1, y1 = pixel_box(box, image.shape)
    grey = image[y0:y1, x0:x1].astype(np.float32) @ np.array([0.114, 0.587, 0.299], np.float32)
    return (grey - grey.mean()) / max(float(grey.std()), MIN_CONTRAST)


def _differ(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


@dataclass
class Step:
    """The frames between two samples, as ``(time, raw image)``, and the two samples' BGR
    pictures (``after`` is None past the last sample)."""

    before: np.ndarray
    after: np.ndarray | None
    frames: Sequence[tuple[float, np.ndarray]]
    picture: Callable[[np.ndarray], np.ndarray]
    """Raw frame to BGR at the analysis size."""
    recognise: Recognise
    pictures: dict[int, np.ndarray] = field(default_factory=dict)
    by_pixels: int = 0
    by_reading: int = 0

    def _image(self, i: int) -> np.ndarray:
        if i not in self.pictures:
            self.pictures[i] = self.picture(self.frames[i][1])
        return self.pictures[i]

    def shown(self, i: int, line: Line, with_it: np.ndarray, without: np.ndarray | None) -> bool:
        """Whether frame ``i`` shows ``line``, given a picture ``with_it`` and one ``without``."""
        image = self._image(i)
        region = _grey(image, line.box)
        if without is not None:
            d_with = _differ(region, _grey(with_it, line.box))
            d_without = _differ(region, _grey(without, line.box))
            if min(d_with, d_without) <= NEAR and max(d_with, d_without) >= FAR:
                self.by_pixels += 1
                return d_with < d_without
        self.by_reading += 1
        return self.recognise(image, line)

    def _first(self, test: Callable[[int], bool], hi: int) -> int:
        """The first index in ``[0, hi)`` where ``test`` holds, ``hi`` if none; ``test`` is
        false before some index and true from it on."""
        lo = -1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if test(mid):
                hi = mid
            else:
                lo = mid
        return hi

    def appeared(self, line: Line, at: float) -> float:
        """When ``line``, read in the ``after`` sample taken at ``at``, first showed."""
        assert self.after is not None
        after = self.after
        i = self._first(lambda k: self.shown(k, line, after, self.before), len(self.frames))
        return self.frames[i][0] if i < len(self.frames) else at

    def vanished(self, line: Line, at: float) -> float | None:
        """The first frame without ``line`` (read in the ``before`` sample), ``at`` (the
        ``after`` sample's time) if it is in none of the frames between; past the last sample
        (``after`` None), None when the last frame still shows it."""
        n = len(self.frames)
        if self.after is None:
            if not n or self.shown(n - 1, line, self.before, None):
                return None
            n -= 1
        i = self._first(lambda k: not self.shown(k, line, self.before, self.after), n)
        return self.frames[i][0] if i < len(self.frames) else at

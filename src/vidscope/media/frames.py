"""What the decoder hands out: video frames on the stream's exact clock, and audio chunks.

A frame keeps its presentation time the way the container stores it, as integer ticks of the
stream's time base; seconds are derived from the ticks when read, so a variable-frame-rate
or many-hour input is never off by more than one rounding, wherever a frame lies.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np


def seconds(ticks: int, time_base: Fraction) -> float:
    """``ticks * time_base`` in seconds, rounded once as ``float(ticks * time_base)`` is: the
    integer product and true division give the same float without building a Fraction."""
    return ticks * time_base.numerator / time_base.denominator


@dataclass(frozen=True, slots=True)
class FrameSpec:
    """Which frames an analyzer wants and in what shape.

    ``fps=None`` asks for every decoded frame; otherwise the sampler picks, for every tick of
    ``1/fps`` seconds on the media's own clock, the first frame shown at or after the tick.
    ``width`` resizes keeping the aspect ratio (``None`` keeps the decoded size); scaling and
    colour conversion happen together in FFmpeg's swscale with area averaging.  ``yuv420p``
    hands over the decoded planes (``(h * 3 / 2, w)``, coded orientation, never resized) for
    analyzers that convert faster themselves, off the decode thread.
    """

    fps: float | None = None
    width: int | None = None
    format: Literal["bgr24", "rgb24", "gray", "yuv420p"] = "bgr24"


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded video frame, converted to the analyzer's :class:`FrameSpec`.

    ``pts * time_base`` is the exact presentation time in seconds and
    ``duration_ticks * time_base`` the exact time the frame is shown; :attr:`time` and
    :attr:`duration` are the same in (float) seconds.
    """

    index: int
    """Position in presentation order, counting from 0 at the first decoded frame."""
    pts: int
    """Presentation timestamp in ticks of ``time_base``."""
    duration_ticks: int
    """How long the frame is shown, in ticks of ``time_base``."""
    time_base: Fraction
    """Seconds per tick of the stream's clock."""
    image: np.ndarray

    @property
    def time(self) -> float:
        """Presentation time in seconds, rounded to the microsecond (the resolution of every
        record)."""
        return round(seconds(self.pts, self.time_base), 6)

    @property
    def duration(self) -> float:
        """How long the frame is shown, in seconds."""
        return seconds(self.duration_ticks, self.time_base)


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A block of 16 kHz mono float32 samples starting at ``time`` seconds."""

    time: float
    samples: np.ndarray
    sample_rate: int = 16000

    @property
    def end(self) -> float:
        return self.time + len(self.samples) / self.sample_rate

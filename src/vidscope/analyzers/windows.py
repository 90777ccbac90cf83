"""Per-second windows on the media clock, shared by the per-second analyzers."""

from __future__ import annotations

import math

from vidscope.media.probe import MediaInfo


def second_index(media: MediaInfo, time: float) -> int:
    """Index of the one-second window ``[start + k, start + k + 1)`` holding ``time``."""
    return max(0, math.floor(time - media.start + 1e-9))


def second_span(media: MediaInfo, k: int) -> tuple[float, float]:
    """``(start, end)`` of window ``k``, the last one clipped to the media end."""
    start = media.start + k
    return round(start, 6), round(min(start + 1.0, media.end), 6)


def seconds_count(media: MediaInfo) -> int:
    return max(1, math.ceil(media.duration - 1e-9))

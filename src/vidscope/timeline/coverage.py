"""Measured coverage: which share of the media's time a track's records actually span."""

from __future__ import annotations

import bisect


class Coverage:
    """Union of half-open ``[start, end)`` intervals, kept merged.

    Records arrive almost in time order, so the list of disjoint intervals stays tiny (one
    interval for a track without holes) however long the media is.
    """

    __slots__ = ("_ends", "_starts")

    def __init__(self) -> None:
        self._starts: list[float] = []
        self._ends: list[float] = []

    def add(self, start: float, end: float) -> None:
        if end <= start:
            return
        i = bisect.bisect_left(self._ends, start)
        j = bisect.bisect_right(self._starts, end)
        if i < j:
            start = min(start, self._starts[i])
            end = max(end, self._ends[j - 1])
        self._starts[i:j] = [start]
        self._ends[i:j] = [end]

    def fraction(self, lo: float, hi: float) -> float:
        """Share of ``[lo, hi)`` covered."""
        if hi <= lo:
            return 0.0
        covered = sum(
            max(0.0, min(e, hi) - max(s, lo)) for s, e in zip(self._starts, self._ends, strict=True)
        )
        return min(1.0, covered / (hi - lo))

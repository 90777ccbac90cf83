"""Which shot a stretch of time falls in, from ``shots`` records as they arrive."""

from __future__ import annotations

import bisect
from typing import Any


class ShotIndex:
    """Shots received so far (in time order), pruned as the consumer moves on."""

    def __init__(self) -> None:
        self._starts: list[float] = []
        self._shots: list[tuple[float, float, int]] = []
        self.until = float("-inf")
        """Time up to which the shot list is final."""

    def __len__(self) -> int:
        return len(self._shots)

    def add(self, record: dict[str, Any]) -> None:
        start, end = float(record["start"]), float(record["end"])
        self._starts.append(start)
        self._shots.append((start, end, int(record["index"])))
        self.until = max(self.until, end)

    def at(self, time: float) -> int | None:
        """Index of the shot showing at ``time``, or None outside every known shot."""
        i = bisect.bisect_right(self._starts, time) - 1
        if i >= 0 and time < self._shots[i][1]:
            return self._shots[i][2]
        return None

    def overlapping(self, start: float, end: float) -> int | None:
        """Index of the shot sharing the most time with ``[start, end)`` (an instant: ``at``)."""
        if end <= start:
            return self.at(start)
        best, best_overlap = None, 0.0
        i = max(0, bisect.bisect_right(self._starts, start) - 1)
        for lo, hi, index in self._shots[i:]:
            if lo >= end:
                break
            overlap = min(hi, end) - max(lo, start)
            if overlap > best_overlap:
                best, best_overlap = index, overlap
        return best

    def prune(self, before: float) -> None:
        """Forget shots that end at or before ``before``: nothing earlier will be asked."""
        keep = 0
        while keep < len(self._shots) and self._shots[keep][1] <= before:
            keep += 1
        if keep:
            del self._shots[:keep], self._starts[:keep]

"""Which shot a time falls in, from ``shots`` records as they arrive: the one shot lookup of
every analyzer that consumes the ``shots`` track record by record."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Shot:
    """A record of the ``shots`` track, as far as a lookup needs it."""

    start: float
    end: float
    index: int


class ShotIndex:
    """Shots received so far (in time order), pruned as the consumer moves on."""

    def __init__(self) -> None:
        self._starts: list[float] = []
        self._shots: list[Shot] = []
        self.until = float("-inf")
        """Time up to which the shot list is final."""

    def __len__(self) -> int:
        return len(self._shots)

    def add(self, record: dict[str, Any]) -> None:
        shot = Shot(float(record["start"]), float(record["end"]), int(record["index"]))
        self._starts.append(shot.start)
        self._shots.append(shot)
        self.until = max(self.until, shot.end)

    def find(self, time: float) -> Shot | None:
        """The shot showing at ``time``, or None outside every known shot."""
        i = bisect.bisect_right(self._starts, time) - 1
        if i >= 0 and time < self._shots[i].end:
            return self._shots[i]
        return None

    def at(self, time: float) -> int | None:
        """Index of the shot showing at ``time``, or None outside every known shot."""
        shot = self.find(time)
        return None if shot is None else shot.index

    def between(self, start: float, end: float) -> list[Shot]:
        """The shots sharing some time with ``(start, end)``, in time order."""
        i = max(0, bisect.bisect_right(self._starts, start) - 1)
        return [s for s in self._shots[i:] if s.start < end and s.end > start]

    def overlapping(self, start: float, end: float) -> int | None:
        """Index of the shot sharing the most time with ``[start, end)`` (an instant: ``at``)."""
        if end <= start:
            return self.at(start)
        best, best_overlap = None, 0.0
        i = max(0, bisect.bisect_right(self._starts, start) - 1)
        for shot in self._shots[i:]:
            if shot.start >= end:
                break
            overlap = min(shot.end, end) - max(shot.start, start)
            if overlap > best_overlap:
                best, best_overlap = shot.index, overlap
        return best

    def prune(self, before: float) -> None:
        """Forget shots that end at or before ``before``: nothing earlier will be asked."""
        keep = 0
        while keep < len(self._shots) and self._shots[keep].end <= before:
            keep += 1
        if keep:
            del self._shots[:keep], self._starts[:keep]

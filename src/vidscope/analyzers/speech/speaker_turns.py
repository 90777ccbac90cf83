"""Who says each transcript segment and word: the ``speakers`` track's turns joined to the
``transcript`` track's records by time."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from vidscope.analyzers.base import Record


class TurnIndex:
    """Speaker turns ``{start, end, speaker}`` looked up by time overlap."""

    def __init__(self) -> None:
        self._turns: list[tuple[float, float, str]] = []
        self._longest = 0.0

    def add(self, turn: Record) -> None:
        entry = (float(turn["start"]), float(turn["end"]), str(turn["speaker"]))
        bisect.insort(self._turns, entry)
        self._longest = max(self._longest, entry[1] - entry[0])

    def speaker(self, start: float, end: float) -> str | None:
        """The speaker of the turn overlapping ``[start, end)`` most (an instant: the turn
        holding it); None when no turn does."""
        first = bisect.bisect_left(self._turns, (start - self._longest,))
        best, most = None, -1.0
        for t_start, t_end, name in self._turns[first:]:
            if t_start > end:
                break
            overlap = min(end, t_end) - max(start, t_start)
            if (overlap > 0 or t_start <= start < t_end) and overlap > most:
                best, most = name, overlap
        return best


def assign_speakers(records: Sequence[Record], turns: TurnIndex) -> list[Record]:
    """Add ``speaker`` to each transcript segment and to each of its words."""
    for record in records:
        record["speaker"] = turns.speaker(record["start"], record["end"])
        for word in record.get("words", ()):
            word["speaker"] = turns.speaker(word["start"], word["end"])
    return list(records)

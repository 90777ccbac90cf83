"""Per-frame results grouped by the shot they fall in, for analyzers that work shot by shot.

``shots`` records reach a consumer in either order relative to its frames: after the frames
they cover when the shot track is computed live (a cut is known only once the next shot has
begun), or all at once before any frame when a finished shot track is replayed.  A shot's
group is therefore released only once a frame at or past the shot's end has arrived (every
frame of the shot is in), or when the media ends.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from vidscope.analyzers.base import Record

T = TypeVar("T")


@dataclass
class ShotGroups(Generic[T]):
    """Items with a time, held until the shot containing them is complete."""

    shots: deque[Record] = field(default_factory=deque)
    items: list[tuple[float, T]] = field(default_factory=list)
    latest: float = float("-inf")
    """Time of the latest item: every item before it has arrived."""

    def add_shot(self, record: Record) -> None:
        self.shots.append(record)

    def add(self, time: float, item: T) -> None:
        self.items.append((time, item))
        self.latest = max(self.latest, time)

    def ready(self, final: bool = False) -> Iterator[tuple[Record | None, list[T]]]:
        """``(shot, items)`` for every complete shot, in time order; with ``final`` also the
        shots still open and then (shot ``None``) any items after the last shot."""
        while self.shots and (final or self.latest >= float(self.shots[0]["end"])):
            shot = self.shots.popleft()
            end = float(shot["end"])
            n = next((i for i, (t, _) in enumerate(self.items) if t >= end), len(self.items))
            group, self.items = self.items[:n], self.items[n:]
            yield shot, [item for _, item in group]
        if final and self.items:
            group, self.items = self.items, []
            yield None, [item for _, item in group]

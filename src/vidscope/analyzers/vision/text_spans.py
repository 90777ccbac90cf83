"""Spans of on-screen text: lines read in consecutive sampled frames joined into one record
each, split at shot boundaries (the rules are in :mod:`vidscope.analyzers.vision.ocr`).

No model is involved: lines come in, already read, with their normalised text and box.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from vidscope.analyzers.base import Record
from vidscope.analyzers.boxes import iou
from vidscope.analyzers.shot_index import Shot

Box = tuple[float, float, float, float]


class Line(NamedTuple):
    """One text line, or one block of lines, read in one frame."""

    text: str
    key: str
    """``text`` normalised for comparison."""
    box: Box
    """``(x0, y0, x1, y1)`` as fractions of the frame's width and height."""
    score: float
    parts: tuple[tuple[str, Box], ...] = ()
    """The lines of a block, top to bottom, each with its box (empty for a single line)."""
    since: float | None = None
    """When it appeared, if a frame before this one was looked at to find out."""
    until: float | None = None
    """When it was gone, if a frame after this one was looked at to find out."""
    pieces: tuple[Box, ...] = ()
    """The boxes of the detector's lines a block was made of."""
    born: float | None = None
    """When a block's text was first seen (the sample it appeared or last changed in)."""


def normalise(text: str) -> str:
    """Text as compared between frames: NFKC, casefolded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def similarity(a: str, b: str) -> float:
    """How alike two normalised readings are (0-1); 0 when their digits differ, because a
    number that changes (a score, a clock, a frame counter) is new text, not a misreading."""
    if a == b:
        return 1.0
    if [c for c in a if c.isdigit()] != [c for c in b if c.isdigit()]:
        return 0.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


MOVED_ALIKE = 0.9
"""Least similarity of a line at another place to the line it continues (scrolling credits,
a ticker): stricter than in place, where the place is evidence too."""
MOVED_CHARS = 6
"""Fewest letters and digits of a line that is followed to another place."""
SAME_SIZE = 0.2
"""Most a moved line's width or height may differ from the line it continues (a share)."""


NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
PART = 0.8
"""Least share of a partial reading's characters found, in order, in the whole one."""


def part_of(part: str, whole: str) -> bool:
    """Whether normalised reading ``part`` says ``whole`` or a part of it (a sample that read
    a block only in part): at least :data:`PART` of its characters found in order in
    ``whole``, and its numbers a run of those of ``whole`` (a counter that ticked is other
    text)."""
    numbers, was = NUMBER.findall(part), NUMBER.findall(whole)
    if not any(was[i : i + len(numbers)] == numbers for i in range(len(was) - len(numbers) + 1)):
        return False
    matcher = difflib.SequenceMatcher(None, part, whole, autojunk=False)
    return sum(m.size for m in matcher.get_matching_blocks()) >= PART * len(part)


def union(boxes: Sequence[Box]) -> Box:
    """The smallest box holding ``boxes``."""
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def covered(box: Box, boxes: Sequence[Box]) -> float:
    """Share of ``box`` that ``boxes`` (not overlapping each other) cover."""
    area = (box[2] - box[0]) * (box[3] - box[1])
    inside = sum(
        max(min(box[2], b[2]) - max(box[0], b[0]), 0.0)
        * max(min(box[3], b[3]) - max(box[1], b[1]), 0.0)
        for b in boxes
    )
    return inside / area if area > 0 else 0.0


def followed(key: str) -> bool:
    """Whether a reading is long enough to be followed as the same text elsewhere, or as part
    of a longer one."""
    return sum(c.isalnum() for c in key) >= MOVED_CHARS


def may_have_moved(a: Line, b: Line) -> bool:
    """Whether ``b``, at another place, may be ``a`` moved: text long enough to follow, at
    the same size (the text itself is compared with :data:`MOVED_ALIKE`)."""
    if not followed(a.key):
        return False
    (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = a.box, b.box
    return all(
        abs(da - db) <= SAME_SIZE * max(da, db)
        for da, db in ((ax1 - ax0, bx1 - bx0), (ay1 - ay0, by1 - by0))
    )


def pair_up(
    previous: Sequence[Line], lines: Sequence[Line], min_similarity: float, min_iou: float
) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of ``previous[i]`` and ``lines[j]`` that are the same line, at the
    same place or moved (:func:`may_have_moved`, text at least :data:`MOVED_ALIKE` alike),
    or, in place, read only in part (:func:`part_of`); each line pairs at most once, the most
    alike pairs first (a line in place before one that moved)."""
    candidates = []
    for i, a in enumerate(previous):
        for j, b in enumerate(lines):
            overlap = iou(a.box, b.box)
            in_place, inside = overlap >= min_iou, covered(b.box, [a.box]) >= 0.5
            moved = not in_place and may_have_moved(a, b)
            if not (in_place or inside or moved):
                continue
            alike = similarity(a.key, b.key)
            if in_place and alike >= min_similarity:
                candidates.append((alike + overlap, i, j))
            elif inside and followed(b.key) and part_of(b.key, a.key):
                candidates.append((alike + overlap, i, j))  # read in part, in its place
            elif moved and alike >= MOVED_ALIKE:
                candidates.append((alike, i, j))
    candidates.sort(key=lambda c: -c[0])
    pairs, used_i, used_j = [], set(), set()
    for _, i, j in candidates:
        if i not in used_i and j not in used_j:
            pairs.append((i, j))
            used_i.add(i)
            used_j.add(j)
    return pairs


@dataclass
class _Span:
    start: float
    shot: int | None
    last: Line
    votes: dict[str, float] = field(default_factory=dict)
    parts: dict[str, tuple[tuple[str, Box], ...]] = field(default_factory=dict)
    box_sum: np.ndarray = field(default_factory=lambda: np.zeros(4))
    score_sum: float = 0.0
    score_max: float = 0.0
    frames: int = 0

    def add(self, line: Line) -> None:
        self.last = line
        self.votes[line.text] = self.votes.get(line.text, 0.0) + line.score
        self.parts[line.text] = line.parts or ((line.text, line.box),)
        self.box_sum += line.box
        self.score_sum += line.score
        self.score_max = max(self.score_max, line.score)
        self.frames += 1

    def reference(self) -> Line:
        """What the next reading is compared with: the last one or, when that was a part of
        the span's best reading (a sample that read the block in part), the best one."""
        best = max(self.votes.items(), key=lambda kv: kv[1])[0]
        key = normalise(best)
        if best == self.last.text or not part_of(self.last.key, key):
            return self.last
        rows = self.parts[best]
        return self.last._replace(text=best, key=key, box=union([b for _, b in rows]), parts=rows)

    def record(self, end: float) -> Record:
        """The span as a record ending at ``end``, or where its last line was seen to vanish
        (even past a cut: the frames after the cut no longer showed it)."""
        if self.last.until is not None:
            end = self.last.until
        box = self.box_sum / self.frames
        text = max(self.votes.items(), key=lambda kv: kv[1])[0]
        return {
            # Microseconds, as the shot track: a span cut at a shot boundary ends exactly there.
            "start": round(self.start, 6),
            "end": round(max(end, self.start), 6),
            "text": text,
            "box": _rounded(box),
            "score": round(self.score_sum / self.frames, 4),
            "score_max": round(self.score_max, 4),
            "frames": self.frames,
            "shot": self.shot,
            "lines": [{"text": t, "box": _rounded(b)} for t, b in self.parts[text]],
        }


def _rounded(box: Sequence[float] | np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in box]


def _order(record: Record) -> tuple:
    return record["start"], record["box"][1], record["box"][0]


class TextSpanTracker:
    """Per-frame lines in, closed spans out, split at shot boundaries (no model involved)."""

    def __init__(self, min_similarity: float, min_iou: float) -> None:
        self.min_similarity = min_similarity
        self.min_iou = min_iou
        self.open: list[_Span] = []
        self.shot: Shot | None = None
        self.time = float("-inf")
        """Time of the last frame observed."""

    def _pairs(self, spans: Sequence[_Span], lines: Sequence[Line]) -> list[tuple[int, int]]:
        return pair_up([s.reference() for s in spans], lines, self.min_similarity, self.min_iou)

    def observe(self, time: float, shot: Shot | None, lines: Sequence[Line]) -> list[Record]:
        """Feed the lines of the frame at ``time`` (in ``shot``); the spans it closes."""
        out: list[Record] = []
        carried: list[_Span] = []
        cut = time
        index = shot.index if shot else None
        if self.open and index != (self.shot.index if self.shot else None):
            boundary = _boundary(self.shot, shot, time)
            if boundary <= self.time:
                # The frames before were in this shot already, placed before its record
                # arrived (see MAX_PENDING): nothing to cut.
                for s in self.open:
                    s.shot = index
            else:
                cut = min(boundary, time)
                carried, self.open = self.open, []
                out += [s.record(cut) for s in carried]
        self.shot, self.time = shot, time

        pairs = self._pairs(self.open, lines)
        for i, j in pairs:
            self.open[i].add(lines[j])
        kept_spans = {i for i, _ in pairs}
        out += [s.record(time) for i, s in enumerate(self.open) if i not in kept_spans]
        still_open = [s for i, s in enumerate(self.open) if i in kept_spans]

        paired = {j for _, j in pairs}
        new = [line for j, line in enumerate(lines) if j not in paired]
        # A line that was on screen just before the cut has been there since the cut.
        continued = {j for _, j in self._pairs(carried, new)}
        # A line that appeared since the frame before starts where it was first seen (even
        # before a cut: the frames before the cut showed it already).
        for j, line in enumerate(new):
            since = time if line.since is None else line.since
            span = _Span(cut if j in continued else since, index, line)
            span.add(line)
            still_open.append(span)
        self.open = still_open
        return sorted(out, key=_order)

    def close(self, end: float) -> list[Record]:
        """Close every open span at ``end`` (or at the end of its shot, if earlier)."""
        if self.shot is not None:
            end = min(end, self.shot.end)
        out = sorted((s.record(end) for s in self.open), key=_order)
        self.open = []
        return out


def _boundary(old: Shot | None, new: Shot | None, time: float) -> float:
    """When the picture moved from shot ``old`` to shot ``new`` (either may be unknown)."""
    if new is not None:
        return new.start
    if old is not None:
        return old.end
    return time

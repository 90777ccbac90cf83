"""Text blocks: the lines a frame's detector found, grouped into the phrases they belong to.

The detector cuts a line wherever the gap between words is wide, so one phrase can come out
as "first two words" and "last word", and a caption of two lines as two unrelated lines.  Two
lines are one block when they sit on one row (their heights overlap by half the smaller one,
heights within ``HEIGHT_RATIO``) with a gap of at most ``ROW_GAP`` line heights, or when they
are stacked (overlapping horizontally) with at most ``STACK_GAP`` line heights between them.
Wider gaps keep items apart that only share a row: the copyright notice and the web address
at the bottom of PySceneDetect's ``testvideo.mp4`` stand 2.5 line heights apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from vidscope.analyzers.vision.text_spans import Box, Line, normalise

ROW_GAP = 1.5
"""Widest gap between two pieces of one row, in line heights."""
STACK_GAP = 0.8
"""Widest gap between two rows of one block, in line heights."""
HEIGHT_RATIO = 1.6
"""Most a line may be taller than another of its block (larger type is another block)."""


def _union(boxes: Sequence[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _together(a: Box, b: Box, aspect: float) -> bool:
    """Whether lines at ``a`` and ``b`` (fractions of a frame ``aspect`` = w/h) join."""
    ha, hb = a[3] - a[1], b[3] - b[1]
    low, high = min(ha, hb), max(ha, hb)
    if high > HEIGHT_RATIO * low:
        return False
    # Horizontal distances in units of the frame height, to compare with line heights.
    x_gap = (max(a[0], b[0]) - min(a[2], b[2])) * aspect
    y_gap = max(a[1], b[1]) - min(a[3], b[3])
    if -y_gap >= 0.5 * low:
        return x_gap <= ROW_GAP * high
    return x_gap < 0 and y_gap <= STACK_GAP * high


def _rows(members: list[Line]) -> list[list[Line]]:
    """``members`` in reading order: rows top to bottom, each row left to right."""
    rows: list[list[Line]] = []
    for line in sorted(members, key=lambda m: (m.box[1] + m.box[3]) / 2):
        centre = (line.box[1] + line.box[3]) / 2
        if rows and rows[-1][-1].box[1] < centre < rows[-1][-1].box[3]:
            rows[-1].append(line)
        else:
            rows.append([line])
    return [sorted(row, key=lambda m: m.box[0]) for row in rows]


def block(members: list[Line]) -> Line:
    """One line standing for ``members``: their text in reading order (rows joined by a line
    break), the union of their boxes, the mean score, and each row as a part."""
    parts = tuple(
        (" ".join(m.text for m in row), _union([m.box for m in row])) for row in _rows(members)
    )
    text = "\n".join(t for t, _ in parts)
    score = sum(m.score for m in members) / len(members)
    return Line(text, normalise(text), _union([b for _, b in parts]), score, parts)


def merge_lines(lines: Sequence[Line], aspect: float) -> list[Line]:
    """``lines`` of one frame (``aspect`` = its width / height) grouped into blocks."""
    parent = list(range(len(lines)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            if _together(lines[i].box, lines[j].box, aspect):
                parent[root(i)] = root(j)
    groups: dict[int, list[Line]] = {}
    for i, line in enumerate(lines):
        groups.setdefault(root(i), []).append(line)
    return sorted((block(g) for g in groups.values()), key=lambda b: (b.box[1], b.box[0]))

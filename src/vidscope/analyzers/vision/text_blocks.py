"""Text blocks: the lines a frame's detector found, grouped into the phrases they belong to.

The detector cuts a line wherever the gap between words is wide, so one phrase can come out
as "first two words" and "last word", and a caption of two lines as two unrelated lines.  Two
lines are one block when they sit on one row (their heights overlap by half the smaller one,
heights within ``HEIGHT_RATIO``) with a gap of at most ``ROW_GAP`` line heights, or when they
are stacked (overlapping horizontally) with at most ``STACK_GAP`` line heights between them.
Wider gaps keep items apart that only share a row: the copyright notice and the web address
at the bottom of PySceneDetect's ``testvideo.mp4`` stand 2.5 line heights apart.

**Time.**  Nearness alone would also join a caption to the footage's own text beside it (a
title drawn above a burned-in copyright line, a name over a computer screen's menu), and the
record would then say neither.  Text that belongs together comes and changes together, so the
recent samples decide too.  Each line continues the block (of the previous sample, or of the
one before when the detector missed it once) whose detected lines cover most of it (text in
place, changed or not) or whose rows hold its text at the same size elsewhere (scrolling).  A
line is ``born`` when its text was first seen: that block's birth if it still says what its
row said, part of it or more of it (one sample may read a line in part), else now; a number
that changed makes it new text.  Lines near each other join only when born in the same
sample: a caption appearing beside text already on screen stays its own block for as long as
it is shown, while rows that change together (a clock, a counter, the next subtitle) stay
one.  A block of rows that appeared together but that the next sample shows to be born apart
is cut in two (:func:`split_back`).
"""

from __future__ import annotations

from collections.abc import Sequence

from vidscope.analyzers.vision.text_spans import (
    SAME_SIZE,
    Box,
    Line,
    covered,
    followed,
    normalise,
    part_of,
    union,
)

ROW_GAP = 1.5
"""Widest gap between two pieces of one row, in line heights."""
STACK_GAP = 0.8
"""Widest gap between two rows of one block, in line heights."""
HEIGHT_RATIO = 1.6
"""Most a line may be taller than another of its block (larger type is another block)."""
COVERS = 0.5
"""Least share of a line's box that a previous block's lines cover for it to continue that
block in place."""


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


def block(members: list[Line], born: float | None = None) -> Line:
    """One line standing for ``members``: their text in reading order (rows joined by a line
    break), the union of their boxes, the mean score, and each row as a part."""
    parts = tuple(
        (" ".join(m.text for m in row), union([m.box for m in row])) for row in _rows(members)
    )
    text = "\n".join(t for t, _ in parts)
    score = sum(m.score for m in members) / len(members)
    box = union([b for _, b in parts])
    return Line(
        text, normalise(text), box, score, parts, pieces=tuple(m.box for m in members), born=born
    )


def origin(line: Line, previous: Sequence[Line]) -> tuple[Line, str] | None:
    """The block of ``previous`` (recent samples' blocks, the latest first) that ``line``
    continues and the text of its row there; None when it appeared."""
    if not previous:
        return None
    share, k = max((covered(line.box, b.pieces or (b.box,)), -k) for k, b in enumerate(previous))
    k = -k
    if share >= COVERS:
        rows = previous[k].parts or ((previous[k].text, previous[k].box),)
        return previous[k], max(rows, key=lambda r: covered(line.box, (r[1],)))[0]
    if not followed(line.key):
        return None
    height = line.box[3] - line.box[1]
    for b in previous:
        for text, box in b.parts or ((b.text, b.box),):
            if line.key in normalise(text) and abs(box[3] - box[1] - height) <= SAME_SIZE * height:
                return b, text
    return None


def _kept(text: str, before: str) -> bool:
    """Whether normalised ``text`` says what ``before`` said, part of it or more of it (one
    sample may read a line only in part)."""
    before = normalise(before)
    return part_of(text, before) or part_of(before, text)


def born(line: Line, previous: Sequence[Line], time: float) -> tuple[float, Line | None]:
    """When the text of ``line``, read at ``time``, was first seen, and the previous block it
    continues: that block's birth if it still says what the block's row said, else ``time``
    (and no block)."""
    continued = origin(line, previous)
    if continued is None or continued[0].born is None or not _kept(line.key, continued[1]):
        return time, None
    return continued[0].born, continued[0]


def _groups(pairs: list[tuple[int, int]], n: int) -> list[list[int]]:
    """The connected groups of ``n`` items joined by ``pairs``, in order of first item."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def merge_lines(
    lines: Sequence[Line], aspect: float, previous: Sequence[Line] = (), time: float = 0.0
) -> list[Line]:
    """``lines`` of one frame at ``time`` (``aspect`` = its width / height) grouped into
    blocks; ``previous`` are the blocks of recent samples, the latest first (the one before
    too: a line the detector missed in one sample still continues its block)."""
    found = [born(line, previous, time) for line in lines]
    births, blocks = [b for b, _ in found], [k for _, k in found]
    # Lines still saying what the rows of one block said stay one block, even where the
    # detector's boxes no longer pass the rules (a row's box taking in some background).
    near = [
        (i, j)
        for i in range(len(lines))
        for j in range(i + 1, len(lines))
        if births[i] == births[j]
        and (
            (blocks[i] is not None and blocks[i] is blocks[j])
            or _together(lines[i].box, lines[j].box, aspect)
        )
    ]
    out = [block([lines[i] for i in g], births[g[0]]) for g in _groups(near, len(lines))]
    return sorted(out, key=lambda b: (b.box[1], b.box[0]))


def split_back(previous: Sequence[Line], blocks: Sequence[Line]) -> list[Line]:
    """``previous`` blocks, each cut into its rows' groups where rows that appeared together
    turned out, in the next sample's ``blocks``, to belong to blocks born at different times
    (a caption that appeared as the clock beside it ticked: the clock's rows changed again,
    the caption's did not).  The later sample's knowledge corrects the earlier grouping, so
    the caption's record starts where it appeared, not one sample later."""
    out: list[Line] = []
    for b in previous:
        if len(b.parts) < 2:
            out.append(b)
            continue
        fates: dict[float | None, list[tuple[str, Box]]] = {}
        for text, box in b.parts:
            share, fate = max(
                ((covered(box, n.pieces or (n.box,)), n.born) for n in blocks),
                default=(0.0, None),
            )
            fates.setdefault(fate if share >= COVERS else None, []).append((text, box))
        if len(fates.keys() - {None}) < 2:
            out.append(b)
            continue
        for rows in fates.values():
            text = "\n".join(t for t, _ in rows)
            box = union([r for _, r in rows])
            pieces = tuple(p for p in b.pieces if covered(p, [r for _, r in rows]) >= COVERS)
            out.append(
                b._replace(
                    text=text, key=normalise(text), box=box, parts=tuple(rows), pieces=pieces
                )
            )
    return out

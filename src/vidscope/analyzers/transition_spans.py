"""Where a dissolve or wipe starts and ends, read from its frames (48x27 RGB, as the
``shots`` analyzer's :mod:`~vidscope.analyzers.transitions` holds them).

TransNetV2 marks only the middle of a long dissolve (a 40-frame one from 9 frames in) and the
gate's span is an estimate, while a dissolve's progress from one shot to the other is a line
and the frames where a wipe's pixels turn are a plane, whose ends are the transition's
(:func:`transition_span`).  On dissolves and wipes of 8 to 40 frames between shots of three
clips this finds 64 of 64 with their spans within three frames, where the model's and the
gate's spans found 46, and the line alone for wipes 61 (``bench/bench_transitions.py``).
"""

from __future__ import annotations

import numpy as np

MIN_CHANGE = 10.0
"""Mean absolute change (of 255) from which two frames are two shots' (the gate's threshold
too)."""
MIN_FRAMES = 3
"""Fewest frames of a gradual transition (a shorter change is a cut)."""
EDGE = 3
"""Frames beyond half a transition's length either side that :func:`transition_span` reads."""
ON_WAY = 0.2
"""Frames this far or farther from both shots are inside the transition."""
SETTLED = 0.02
"""Progress (of the way from one shot to the other) within which a frame is still the
shot's own."""
READS = 3
"""Most times :func:`transition_span` reads a span, each from the previous answer."""
FIT = 0.1
"""Largest distance of such a frame from the line through them: a blend or wipe is close
to one; camera motion and lights are not."""
TURN = 2.0
"""Frames within which a pixel of a wipe turns where the plane through all of them says."""
ON_PLANE = 0.8
"""Share of a wipe's differing pixels that must turn on the plane for it to give the span."""
MIN_PIXELS = 40
"""Fewest differing pixels (of 48x27) a wipe's plane is fitted to."""


def _along(t: np.ndarray) -> tuple[float, float] | None:
    """Where a transition's even progress ``t`` (one value a frame) leaves 0 and reaches 1,
    from the line through the frames well on the way; None when they do not follow one."""
    on = np.flatnonzero((t >= ON_WAY) & (t <= 1 - ON_WAY))
    if len(on) < 2 or on[-1] - on[0] + 1 != len(on):
        return None
    slope, at = np.polyfit(on.astype(np.float64), t[on], 1)
    if slope <= 0 or float(np.abs(at + slope * on - t[on]).max()) > FIT:
        return None
    # The line's 0 falls on the last frame of the first shot, its 1 on the first frame of
    # the second (a blend's weights are k / (n + 1) for its frames k = 1 .. n).
    return -at / slope, (1 - at) / slope


def _wipe_ends(inside: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float] | None:
    """Where a wipe from ``a`` to ``b`` through the frames ``inside`` (from ``a`` to ``b``)
    leaves ``a`` and reaches ``b``: each pixel that differs between the two turns from
    ``a``'s to ``b``'s at one frame, and a straight edge moving at an even pace turns them at
    frames that lie on a plane over the picture; the plane's least and greatest values over
    the picture are the last frame of ``a`` and the first of ``b``.  Where the two shots look
    alike the wipe cannot be seen, and the plane still spans it (a share of the differing
    pixels would grow unevenly there).  Where the pixels do not turn on a plane (an iris or
    clock wipe, footage moving under it, too few of them), the share of them turned, on a line
    as a dissolve's progress (:func:`_along`); None when neither tells."""
    differs = np.abs(b - a).sum(axis=2) >= 3 * MIN_CHANGE
    ys, xs = np.nonzero(differs)
    near_a = np.abs(inside[:, ys, xs] - a[ys, xs]).sum(axis=2)
    near_b = np.abs(inside[:, ys, xs] - b[ys, xs]).sum(axis=2)
    still_a = near_a <= near_b
    if len(ys) >= MIN_PIXELS:
        # Frames still showing ``a`` there: the index of the first showing ``b``, the
        # pixel's turn rounded up to a frame (half a frame late on average).
        turned = still_a.sum(axis=0).astype(np.float64) - 0.5
        design = np.column_stack([np.ones(len(xs)), xs + 0.5, ys + 0.5])
        on = np.ones(len(xs), bool)
        # Trimmed least squares: pixels the footage's own motion turned are left out of the
        # next fit (two passes left a 40-frame wipe over moving footage at 53 % on the
        # plane, three 83 %).
        for _ in range(3):
            coef = np.linalg.lstsq(design[on], turned[on], rcond=None)[0]
            on = np.abs(design @ coef - turned) <= TURN
        if on.mean() >= ON_PLANE:
            h, w = differs.shape
            corners = np.array([[1.0, x, y] for x in (0, w) for y in (0, h)]) @ coef
            return float(corners.min()), float(corners.max())
    return _along((~still_a).mean(axis=1))


def transition_span(frames: np.ndarray, first: int, last: int, kind: str) -> tuple[int, int] | None:
    """The first and last frames of the dissolve or wipe that ``frames`` show over about
    ``first`` to ``last``, or None when they do not tell.

    The model marks the middle of a long dissolve only, and the gate's span is an estimate;
    the picture says where the change starts and ends.  Between a frame before it and one
    after it (``a`` and ``b``), a dissolve moves each frame along the way from ``a`` to ``b``
    at an even pace (its projection on ``b - a``), and a line through the frames well on the
    way (:data:`ON_WAY`) gives where the change leaves ``a`` and reaches ``b``.  A wipe turns
    each pixel from ``a``'s to ``b``'s at a frame that lies on a plane over the picture
    (:func:`_wipe_ends`); one that does not (an iris, a clock) is read as the share of the
    differing pixels turned, on a line like a dissolve's.  The span is read again from each
    answer, whose margins then reach into both shots, until one inside its window follows
    another (at most :data:`READS`).  None when the frames do not follow a line or plane
    (camera motion, a light changing): the caller keeps its span.
    """
    for read in range(READS):
        n = last - first + 1
        lo, hi = max(0, first - n // 4 - EDGE), min(len(frames) - 1, last + n // 4 + EDGE)
        a, b = frames[lo].astype(np.float32), frames[hi].astype(np.float32)
        inside = frames[lo : hi + 1].astype(np.float32)
        diff = b - a
        if float(np.abs(diff).mean()) < MIN_CHANGE:
            return None
        if kind == "dissolve":
            weight = float((diff * diff).sum())
            progress = ((inside - a) * diff).reshape(len(inside), -1).sum(axis=1) / weight
            ends = _along(progress)
        else:
            ends = _wipe_ends(inside, a, b)
        if ends is None:
            return None
        start, end = round(ends[0]) + 1, round(ends[1]) - 1
        if end - start < MIN_FRAMES - 1:
            return None
        first, last = max(0, lo + start), min(len(frames) - 1, lo + end)
        if start <= 0 or end >= len(inside) - 1:
            # The change runs on past this window (the estimate was short): read again
            # around where it says.
            continue
        if kind == "dissolve":
            first = lo + _settled(progress, start)
            last = lo + len(inside) - 1 - _settled(1 - progress[::-1], len(inside) - 1 - end)
        if read:
            return first, last
    return None


def _settled(progress: np.ndarray, start: int) -> int:
    """The first frame of a dissolve whose line says it starts at ``start``: an edited
    dissolve may jump at its first frame (testvideo.mp4's: 0.07 of the way at its first,
    then 0.05 and 0.03 a frame), so the line through its middle starts it a few frames
    early; frames that have not left the first shot (:data:`SETTLED`) are that shot's.
    (Not the other way: the footage's own motion after a dissolve looks like more of it.)"""
    while start < len(progress) - 1 and progress[start] <= SETTLED:
        start += 1
    return start

"""Gradual transitions (dissolves, wipes, fades) for the ``shots`` analyzer: TransNetV2 beside
cheap per-frame evidence, on 48x27 RGB frames.

**The gate.**  A frame ``i`` is *gradual* when, against the frame :data:`SPAN` frames earlier,
the picture has changed a lot (mean absolute change >= :data:`MIN_CHANGE` of 255), along a
straight path (that change is at least :data:`STRAIGHT` of the summed frame-to-frame changes:
a blend or a wipe moves each pixel once, from one shot to the other, while camera or subject
motion goes back and forth) and spread out (no single step is over :data:`SPREAD` of it: a hard
cut is one step).  On PySceneDetect's test clips and Megamind it fires on the fades and the
dissolve and nowhere else (two frames of Megamind, shorter than a region).

**Gated (the CPU default).**  Each region the gate marks is decided by the cheapest evidence
that settles it: a region that reaches black is a fade, its span read from the mean level
(:func:`fade_spans`: the level falls frame by frame into the black and rises out of it); a
region whose frames are split between the two shots rather than blended is a wipe (TransNetV2
barely reacts to wipes); a region whose every frame is a blend of two different pictures, the
frames either side of it (:func:`blended`), is a dissolve.  Any other region, a dissolve the
frames do not settle or a gradual change that is no transition at all (a slow zoom, a light),
is read by TransNetV2 in one window centred on it
(:func:`~vidscope.models.transnet.centred_window`: 64 frames for a dissolve of up to a
second and a quarter, at most 100).  So the model runs only on dissolve-like regions the
frames leave in doubt, never on footage of cuts, fades and clean dissolves.

**Every frame** (``all``, or the model on a GPU): TransNetV2 reads upstream's windows of 100
frames over the whole video; the gate only adds the wipes the model misses.

Either way a run of at least :data:`MIN_FRAMES` frames that the model's ``many_hot`` head puts
inside a transition (probability >= 0.5) is a transition; shorter runs are hard cuts, left to
the content detector.

**The span** of a dissolve or wipe is then read from the frames
(:mod:`~vidscope.analyzers.transition_spans`): the model marks only the middle of a long
dissolve and the gate's span is an estimate.

**The type** (:func:`classify`), from the frames just before and after the span ``a`` and ``b``
and the middle half of the span ``m``: a span that starts, ends or passes through black (mean
level at most the shots' ``fade_threshold``) is a fade (``fade_in`` when ``a`` is black,
``fade_out`` when ``b`` is, ``fade`` through black when only the span is); else each middle
frame is compared with its best blend ``a + t (b - a)`` and with its best split (each pixel
taken from ``a`` or ``b``): a ``wipe`` when the split explains it at least twice as well, a
``dissolve`` otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from vidscope.analyzers.transition_spans import EDGE, MIN_CHANGE, MIN_FRAMES, transition_span
from vidscope.models.transnet import (
    CONTEXT,
    SHORTEST,
    STRIDE,
    WINDOW,
    centred_window,
    window_frames,
)

SPAN = 10
"""Frames between the two frames the gate compares."""
STRAIGHT = 0.7
SPREAD = 0.35
GAP = 3
"""Gate frames this close together belong to one region."""
KEEP = 400
"""Frames kept for classification (a longer transition is typed from its last part)."""
LOOKAHEAD = SHORTEST // 2
"""Frames seen past a gate region before it is decided: a centred window's right half."""
BACK = SHORTEST // 2 + SPAN
"""Frames before a gate region where the transition it finds may start."""
STEP = 0.25
"""Smallest change of the mean level (of 255) between two frames of a fade."""
BLEND_FIT = 0.25
"""Largest difference of a frame from its best blend of the frames either side of a region, as
a share of their own difference, for the region to be a dissolve without the model: 0.01-0.17
on every dissolve of the tests' clips (real footage, 8-40 frames), 0.42 on a slow zoom."""
SAME_PICTURE = 0.8
"""Correlation of the two sides' luma above which they are one picture (a light coming on is a
blend too); 0.61 at most between the two shots of a dissolve in the tests' clips."""
Predict = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""Batches ``[n, 100, 27, 48, 3]`` -> both heads' probabilities ``[n, 100]``."""


@dataclass(frozen=True, slots=True)
class Gradual:
    """A gradual transition over frames ``first`` to ``last`` (inclusive)."""

    first: int
    last: int
    kind: str


def classify(before: np.ndarray, inside: np.ndarray, after: np.ndarray, dark: float) -> str:
    """The type of a transition from ``before`` to ``after`` through the frames ``inside``."""
    if before.mean() <= dark:
        return "fade_in"
    if after.mean() <= dark:
        return "fade_out"
    if inside.reshape(len(inside), -1).mean(axis=1).min() <= dark:
        return "fade"
    a, b = before.astype(np.float32), after.astype(np.float32)
    diff = b - a
    scale = float(np.abs(diff).mean())
    n = len(inside)
    middle = inside[n // 4 : max(n // 4 + 1, n - n // 4)].astype(np.float32)
    if scale < 1.0:
        return "dissolve"
    weight = float((diff * diff).sum())
    blend = split = 0.0
    for m in middle:
        t = float(np.clip(((m - a) * diff).sum() / weight, 0.0, 1.0))
        blend += float(np.abs(m - a - t * diff).mean())
        near_a = np.abs(m - a).sum(axis=2)
        near_b = np.abs(m - b).sum(axis=2)
        split += float(np.minimum(near_a, near_b).mean()) / 3
    return "wipe" if split * 2 <= blend else "dissolve"


def blended(before: np.ndarray, inside: np.ndarray, after: np.ndarray) -> bool:
    """Whether every frame of ``inside`` is, to within :data:`BLEND_FIT`, a blend
    ``before + t (after - before)`` of two different pictures, with ``t`` running over at
    least half the way: a dissolve, with no model needed to say so."""
    a, b = before.astype(np.float32), after.astype(np.float32)
    diff = b - a
    scale, weight = float(np.abs(diff).mean()), float((diff * diff).sum())
    if scale < MIN_CHANGE:
        return False
    luma = np.corrcoef(a.mean(axis=2).ravel(), b.mean(axis=2).ravel())[0, 1]
    if not luma <= SAME_PICTURE:  # NaN (a flat picture) is no evidence either
        return False
    m = inside.astype(np.float32)
    t = np.einsum("nhwc,hwc->n", m - a, diff) / weight
    residual = np.abs(m - a - np.clip(t, 0.0, 1.0)[:, None, None, None] * diff).mean(axis=(1, 2, 3))
    return float(t.max() - t.min()) >= 0.5 and float(residual.max()) <= BLEND_FIT * scale


def fade_spans(levels: Sequence[float], lo: int, look: range, dark: float) -> list[Gradual] | None:
    """The fades around the first black frame (mean level at most ``dark``) of ``look``, from
    the frames' mean levels: a fade-out is the frames whose level falls, step after step, into
    the black; a fade-in the frames whose level rises out of it; neither reaches back before
    frame ``lo``.  None when no frame of ``look`` is black (not a fade), an empty list when the
    black is reached by a cut (the content and fade detectors' part) or its fade-in has not
    ended among the levels given."""
    black = next((i for i in look if levels[i] <= dark), None)
    if black is None:
        return None
    last = len(levels) - 1
    out: list[Gradual] = []
    first = black
    while first > lo and levels[first - 1] > levels[first] + STEP:
        first -= 1
    bottom = black
    while bottom < last and levels[bottom + 1] < levels[bottom] - STEP:
        bottom += 1
    if bottom - first - 1 >= MIN_FRAMES:
        out.append(Gradual(first + 1, bottom - 1, "fade_out"))
    top = bottom
    while top < last and levels[top + 1] <= dark and levels[top + 1] <= levels[top] + STEP:
        top += 1
    end = top
    while end < last and levels[end + 1] > levels[end] + STEP:
        end += 1
    if end < last and end - top - 1 >= MIN_FRAMES:
        out.append(Gradual(top + 1, end - 1, "fade_in"))
    return out


def _gated_span(g0: int, g1: int) -> tuple[int, int] | None:
    """The frames of the transition a run of gate frames ``g0`` to ``g1`` stands for, or None
    for a run too short to be one.  The gate fires from about half its span into a linear
    transition until about two frames after it (measured on built dissolves and wipes of 25
    frames)."""
    if g1 - g0 < SPAN // 2:
        return None
    return max(0, g0 - SPAN // 2), max(g0, g1 - SPAN + 2)


def _runs(
    flags: Mapping[int, bool] | Sequence[bool], start: int, stop: int
) -> tuple[list[tuple[int, int]], int]:
    """Finished runs ``(first, last)`` of true flags in ``[start, stop)``, joined across gaps
    of up to :data:`GAP` frames, and where the unfinished run starts (``stop`` if none)."""
    out: list[tuple[int, int]] = []
    first = last = -1
    for i in range(start, stop):
        if flags[i]:
            if first >= 0 and i - last > GAP:
                out.append((first, last))
                first = -1
            if first < 0:
                first = i
            last = i
    if first >= 0 and stop - 1 - last > GAP:
        out.append((first, last))
        first = -1
    return out, stop if first < 0 else first


@dataclass
class TransitionFinder:
    """Streams 48x27 RGB frames in; gives back gradual transitions once they are decided."""

    predict: Predict
    every_frame: bool
    dark: float
    frames: dict[int, np.ndarray] = field(default_factory=dict)
    count: int = 0
    gate: list[bool] = field(default_factory=list)
    steps: list[float] = field(default_factory=list)
    levels: list[float] = field(default_factory=list)
    many_hot: list[float] = field(default_factory=list)
    windows_run: int = 0
    frames_read: int = 0
    """Frames the model has read, all windows together (what its CPU cost follows)."""
    next_window: int = 0
    scanned: int = 0
    """Frames before this have had their model runs and gate regions decided."""
    found: list[Gradual] = field(default_factory=list)
    """The latest transitions given: a run scanned again, or a gate region overlapping one of
    them, is the same transition."""

    @property
    def decided(self) -> int:
        """Every transition starting before this frame has been given."""
        return max(0, self.scanned - BACK)

    def push(self, rgb: np.ndarray) -> list[Gradual]:
        """Add the next frame; return the transitions decided now."""
        i = self.count
        self.frames[i] = rgb
        self.frames.pop(i - KEEP, None)
        self.count += 1
        self._gate(i)
        if not self.every_frame:
            return self._regions(self.count - LOOKAHEAD)
        while (self.next_window + 1) * STRIDE + WINDOW // 4 <= self.count:
            self._window(self.next_window)
            self.next_window += 1
        return self._scan(self.next_window * STRIDE)

    def finish(self) -> list[Gradual]:
        """The transitions still undecided at the end of the video."""
        # Frames past the end mark no change: a region running into the last frame ends there.
        self.gate.extend([False] * (GAP + 1))
        if not self.every_frame:
            return self._regions(self.count + GAP + 1)
        while self.next_window * STRIDE < self.count:
            self._window(self.next_window)
            self.next_window += 1
        self.many_hot.append(0.0)
        return self._scan(self.count + GAP + 1)

    def _gate(self, i: int) -> None:
        f = self.frames[i].astype(np.float32)
        self.levels.append(float(f.mean()))
        self.steps.append(float(np.abs(f - self.frames[i - 1]).mean()) if i else 0.0)
        gradual = False
        if i >= SPAN and i - SPAN in self.frames:
            change = float(np.abs(f - self.frames[i - SPAN]).mean())
            recent = self.steps[i - SPAN + 1 :]
            gradual = (
                change >= MIN_CHANGE
                and change >= STRAIGHT * sum(recent)
                and max(recent) <= SPREAD * change
            )
        self.gate.append(gradual)

    def _read(self, indices: np.ndarray) -> np.ndarray:
        """The model's ``many_hot`` probabilities for the frames ``indices``."""
        batch = np.stack([self.frames[int(j)] for j in indices])[None]
        _, many_hot = self.predict(batch)
        self.windows_run += 1
        self.frames_read += len(indices)
        return many_hot[0]

    def _window(self, k: int) -> None:
        first, stop = k * STRIDE, min((k + 1) * STRIDE, self.count)
        self.many_hot.extend([0.0] * (stop - len(self.many_hot)))
        kept = self._read(window_frames(k, self.count))[CONTEXT : CONTEXT + stop - first]
        self.many_hot[first:stop] = [float(p) for p in kept]

    def _regions(self, upto: int) -> list[Gradual]:
        """Gated: decide the gate regions that end before frame ``upto``."""
        upto = min(upto, len(self.gate))
        if upto <= self.scanned:
            return []
        runs, self.scanned = _runs(self.gate, self.scanned, upto)
        found: list[Gradual] = []
        for g0, g1 in runs:
            span = _gated_span(g0, g1)
            if span is None or self._known(*span):
                continue
            a, b = span
            look = range(max(0, g0 - SPAN), g1 + 1)
            new = fade_spans(self.levels, max(0, g0 - BACK), look, self.dark)
            if new is None:
                sides = self._sides(a, b)
                kind = classify(*sides, self.dark)
                if kind == "wipe" or (kind == "dissolve" and blended(*sides)):
                    new = [self._span(a, b, kind)]
                else:
                    new = self._confirm(a, b)
            for g in new:
                if not self._known(g.first, g.last):
                    found.append(g)
                    self.found.append(g)
        self.found = self.found[-8:]
        return sorted(found, key=lambda t: t.first)

    def _confirm(self, a: int, b: int) -> list[Gradual]:
        """The model's transition around the frames ``a`` to ``b``, read in one window
        centred on them.  Runs of the model inside one gate region are one transition: on a
        dissolve of two seconds or more TransNetV2 marks pieces of it (measured: 2.4 s between
        a shot and its negative gave two runs), and beyond 100 frames its window sees the
        middle of the change only, which is where it is surest."""
        frames = centred_window(a, b)
        read = self._read(np.clip(np.asarray(frames), 0, self.count - 1))
        # Not the copies that pad an end of the video.
        inside = {
            i: p >= 0.5 for i, p in zip(frames, read.tolist(), strict=True) if 0 <= i < self.count
        }
        lo, hi = min(inside), max(inside) + 1
        inside.update((i, False) for i in range(hi, hi + GAP + 1))
        runs, _ = _runs(inside, lo, hi + GAP + 1)
        runs = [
            (first, last)
            for first, last in runs
            if last - first >= MIN_FRAMES - 1 and first <= b + SPAN // 2 and a - SPAN // 2 <= last
        ]
        if not runs:
            return []
        first, last = runs[0][0], runs[-1][1]
        return [self._span(first, last, self._type(first, last))]

    def _scan(self, upto: int) -> list[Gradual]:
        """Every frame: decide the transitions that end before frame ``upto``."""
        upto = min(upto, len(self.many_hot), len(self.gate))
        if upto <= self.scanned:
            return []
        # Only the frames not yet decided: a list over every frame seen would make a long
        # video's scans grow with the square of its length.
        confirmed = {i: self.many_hot[i] >= 0.5 for i in range(self.scanned, upto)}
        model_runs, model_open = _runs(confirmed, self.scanned, upto)
        gate_runs, gate_open = _runs(self.gate, self.scanned, upto)
        found: list[Gradual] = []
        for a, b in model_runs:
            if b - a >= MIN_FRAMES - 1 and not self._known(a, b):
                found.append(self._span(a, b, self._type(a, b)))
                self.found.append(found[-1])
        for g0, g1 in gate_runs:
            span = _gated_span(g0, g1)
            if span is None or self._known(g0 - SPAN, g1):
                continue
            a, b = span
            if self._type(a, b) == "wipe":
                found.append(self._span(a, b, "wipe"))
                self.found.append(found[-1])
        self.found = self.found[-8:]
        # An unfinished model run is scanned again from its start; a gate run only where the
        # model cannot claim it any more.
        self.scanned = min(model_open, gate_open)
        return sorted(found, key=lambda t: t.first)

    def _known(self, first: int, last: int) -> bool:
        """Whether a transition already given overlaps frames ``first`` to ``last``."""
        return any(first <= t.last and t.first <= last for t in self.found)

    def _span(self, first: int, last: int, kind: str) -> Gradual:
        """The transition ``kind`` found over about ``first`` to ``last``, its span read from
        the frames (:func:`transition_span`) where they tell it."""
        oldest, n = max(0, self.count - KEEP + 1), last - first + 1
        # Room for the span to grow by the estimate's length each way, at least twice the
        # gate's look back, and still have margins: the gate stalls inside a wipe where the
        # two shots look alike, so one of its regions may stand for part of a wipe only (a
        # 40-frame one came as frames 2-21 and 31-40, a 25-frame one as 13-18), and its span
        # is read on past that region's ends.
        grow = max(n, 2 * SPAN) + EDGE
        lo, hi = max(oldest, first - grow), min(self.count - 1, last + grow)
        stack = np.stack([self.frames[j] for j in range(lo, hi + 1)])
        span = transition_span(stack, first - lo, last - lo, kind)
        if span is None:
            return Gradual(first, last, kind)
        return Gradual(lo + span[0], lo + span[1], kind)

    def _sides(self, first: int, last: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The frames before, inside and after ``first`` to ``last`` (those still kept)."""
        oldest = max(0, self.count - KEEP + 1)
        before = self.frames[max(oldest, first - 1)]
        after = self.frames[min(self.count - 1, last + 1)]
        inside = np.stack([self.frames[j] for j in range(max(oldest, first), last + 1)])
        return before, inside, after

    def _type(self, first: int, last: int) -> str:
        before, inside, after = self._sides(first, last)
        return classify(before, inside, after, self.dark)

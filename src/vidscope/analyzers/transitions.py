"""Gradual transitions (dissolves, wipes, fades) for the ``shots`` analyzer: TransNetV2 beside
cheap per-frame evidence, on 48x27 RGB frames.

**The gate.**  A frame ``i`` is *gradual* when, against the frame :data:`SPAN` frames earlier,
the picture has changed a lot (mean absolute change >= :data:`MIN_CHANGE` of 255), along a
straight path (that change is at least :data:`STRAIGHT` of the summed frame-to-frame changes:
a blend or a wipe moves each pixel once, from one shot to the other, while camera or subject
motion goes back and forth) and spread out (no single step is over :data:`SPREAD` of it: a hard
cut is one step).  On PySceneDetect's test clips and Megamind it fires on the fades and the
dissolve and nowhere else (two frames of Megamind, shorter than a region).

**The model.**  TransNetV2 (:mod:`vidscope.models.transnet`) reads upstream's windows of 100
frames; ``every_frame`` runs every window (upstream's own use), otherwise only the windows whose
predicted frames the gate marked, which costs nothing on footage without gradual change.  A
run of at least :data:`MIN_FRAMES` frames that the model's ``many_hot`` head puts inside a
transition (probability >= 0.5) is a transition; shorter runs are hard cuts, left to the
content detector.  TransNetV2 barely reacts to wipes, so a gate region the model does not
confirm is kept when, and only when, its frames are split rather than blended (a wipe).

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

from vidscope.models.transnet import STRIDE, WINDOW, window_frames

SPAN = 10
"""Frames between the two frames the gate compares."""
MIN_CHANGE = 10.0
STRAIGHT = 0.7
SPREAD = 0.35
MIN_FRAMES = 3
"""Shortest model run taken as a gradual transition (shorter ones are cuts)."""
GAP = 3
"""Gate frames this close together belong to one region."""
KEEP = 400
"""Frames kept for classification (a longer transition is typed from its last part)."""

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
    many_hot: list[float] = field(default_factory=list)
    windows_run: int = 0
    next_window: int = 0
    scanned: int = 0
    """Frames before this are decided: every transition starting earlier has been given."""
    found: list[Gradual] = field(default_factory=list)
    """The latest transitions given: a run scanned again, or a gate region overlapping one of
    them, is the same transition."""

    def push(self, rgb: np.ndarray) -> list[Gradual]:
        """Add the next frame; return the transitions decided now."""
        i = self.count
        self.frames[i] = rgb
        self.frames.pop(i - KEEP, None)
        self.count += 1
        self._gate(i)
        while (self.next_window + 1) * STRIDE + WINDOW // 4 <= self.count:
            self._window(self.next_window)
            self.next_window += 1
        return self._scan(self.next_window * STRIDE)

    def finish(self) -> list[Gradual]:
        """The transitions still undecided at the end of the video."""
        while self.next_window * STRIDE < self.count:
            self._window(self.next_window)
            self.next_window += 1
        self.gate.append(False)
        self.many_hot.append(0.0)
        return self._scan(self.count + GAP + 1)

    def _gate(self, i: int) -> None:
        f = self.frames[i].astype(np.float32)
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

    def _window(self, k: int) -> None:
        first, stop = k * STRIDE, min((k + 1) * STRIDE, self.count)
        self.many_hot.extend([0.0] * (stop - len(self.many_hot)))
        # A region shorter than SPAN // 2 frames is never a transition (see _scan).
        marked = sum(self.gate[first : min(stop + SPAN, self.count)]) > SPAN // 2
        if not (self.every_frame or marked):
            return
        indices = window_frames(k, self.count)
        batch = np.stack([self.frames[int(j)] for j in indices])[None]
        _, many_hot = self.predict(batch)
        self.windows_run += 1
        kept = many_hot[0, WINDOW // 4 : WINDOW // 4 + stop - first]
        self.many_hot[first:stop] = [float(p) for p in kept]

    def _scan(self, upto: int) -> list[Gradual]:
        """Decide the transitions that end before frame ``upto``."""
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
                found.append(Gradual(a, b, self._type(a, b)))
                self.found.append(found[-1])
        for g0, g1 in gate_runs:
            if g1 - g0 < SPAN // 2 or self._known(g0 - SPAN, g1):
                continue
            # The gate fires from about half its span into a linear transition until about
            # two frames after it (measured on built dissolves and wipes of 25 frames).
            a, b = max(0, g0 - SPAN // 2), max(g0, g1 - SPAN + 2)
            if self._type(a, b) == "wipe":
                found.append(Gradual(a, b, "wipe"))
                self.found.append(found[-1])
        self.found = self.found[-8:]
        # An unfinished model run is scanned again from its start; a gate run only where the
        # model cannot claim it any more.
        self.scanned = min(model_open, gate_open)
        return sorted(found, key=lambda t: t.first)

    def _known(self, first: int, last: int) -> bool:
        """Whether a transition already given overlaps frames ``first`` to ``last``."""
        return any(first <= t.last and t.first <= last for t in self.found)

    def _type(self, first: int, last: int) -> str:
        oldest = max(0, self.count - KEEP + 1)
        before = self.frames[max(oldest, first - 1)]
        after = self.frames[min(self.count - 1, last + 1)]
        inside = np.stack([self.frames[j] for j in range(max(oldest, first), last + 1)])
        return classify(before, inside, after, self.dark)

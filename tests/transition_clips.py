"""Gradual transitions with known spans, built from real footage and written with PyAV.

Shots of PySceneDetect's ``testvideo.mp4`` (cuts at frames 30, 180 and 394) are joined by a
cross-dissolve, a left-to-right wipe and a fade through black, each blended frame by frame in
NumPy (both shots keep playing through the transition, as in an edit), and encoded as H.264 at
25 fps.  Used by ``tests/test_transitions.py`` and ``bench/bench_transitions.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from synth import encode_frames, h264_stream

FPS = 25
SIZE = (640, 360)
HOLD = 40
"""Frames of each shot alone between two transitions (1.6 s)."""
TRANSITION = 25
"""Frames of each gradual transition (1 s)."""

# First frame used of each source shot of testvideo.mp4: inside a shot, away from its own
# fades and dissolve (frames 212-239, 333-359, 394-422, 528-558 and 666-692).
SOURCES = (40, 240, 425, 560)


@dataclass(frozen=True)
class Transition:
    kind: str
    start: float
    """Time of the first blended frame."""
    end: float
    """Time of the first frame after the transition."""


def source_frames(video: Path) -> dict[int, np.ndarray]:
    """The testvideo frames the clip uses, by frame number, resized to :data:`SIZE` RGB."""
    wanted = {s + i for s in SOURCES for i in range(HOLD + 2 * TRANSITION)}
    out: dict[int, np.ndarray] = {}
    with av.open(str(video)) as container:
        for n, frame in enumerate(container.decode(video=0)):
            if n in wanted:
                out[n] = frame.reformat(*SIZE, "rgb24").to_ndarray()
            if n > max(wanted):
                break
    return out


def _blend(kind: str, a: np.ndarray, b: np.ndarray, step: int) -> np.ndarray:
    """Frame ``step`` (0-based) of a :data:`TRANSITION`-frame transition from ``a`` to ``b``."""
    alpha = (step + 1) / (TRANSITION + 1)
    if kind == "dissolve":
        return np.round(a * (1 - alpha) + b * alpha).astype(np.uint8)
    if kind == "wipe":
        edge = round(alpha * a.shape[1])
        return np.concatenate([b[:, :edge], a[:, edge:]], axis=1)
    # Through black: the first half fades a out, the second fades b in.
    level = abs(2 * alpha - 1)
    return np.round((a if alpha < 0.5 else b) * level).astype(np.uint8)


def build(video: Path, out: Path, kinds: tuple[str, ...]) -> list[Transition]:
    """Write shots of ``video`` joined by ``kinds`` into ``out``; return the true spans."""
    frames = source_frames(video)
    truth: list[Transition] = []

    def images() -> Iterator[np.ndarray]:
        for k, kind in enumerate((*kinds, None)):
            # Each shot after the first resumes where its part in the last transition ended.
            first = SOURCES[k] + (TRANSITION if k else 0)
            yield from (frames[first + i] for i in range(HOLD))
            if kind is None:
                return
            start = (k * (HOLD + TRANSITION) + HOLD) / FPS
            truth.append(Transition(kind, start, start + TRANSITION / FPS))
            a, b = first + HOLD, SOURCES[k + 1]
            yield from (_blend(kind, frames[a + i], frames[b + i], i) for i in range(TRANSITION))

    with av.open(str(out), "w") as container:
        encode_frames(container, h264_stream(container, FPS, SIZE, crf=18), images(), FPS)
    return truth

"""Gradual transitions with known spans, built from real footage and written with PyAV.

Shots of PySceneDetect's ``testvideo.mp4`` (cuts at frames 30, 180 and 394) are joined by a
cross-dissolve, a left-to-right wipe and a fade through black, each blended frame by frame in
NumPy (both shots keep playing through the transition, as in an edit), and encoded as H.264 at
25 fps; :func:`build_mixed` joins shots of three clips by dissolves and wipes of 8 to 40
frames, in an order and lengths a seed picks.  Used by ``tests/test_transitions.py`` and
``bench/bench_transitions.py``.
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


def source_frames(video: Path, longest: int = TRANSITION) -> dict[int, np.ndarray]:
    """The testvideo frames a clip whose longest transition has ``longest`` frames may use,
    by frame number, resized to :data:`SIZE` RGB."""
    return _decoded(video, {s + i for s in SOURCES for i in range(HOLD + 2 * longest)})


def _blend(kind: str, a: np.ndarray, b: np.ndarray, step: int, frames: int) -> np.ndarray:
    """Frame ``step`` (0-based) of a transition of ``frames`` frames from ``a`` to ``b``."""
    alpha = (step + 1) / (frames + 1)
    if kind == "dissolve":
        return np.round(a * (1 - alpha) + b * alpha).astype(np.uint8)
    if kind == "wipe":
        edge = round(alpha * a.shape[1])
        return np.concatenate([b[:, :edge], a[:, edge:]], axis=1)
    # Through black: the first half fades a out, the second fades b in.
    level = abs(2 * alpha - 1)
    return np.round((a if alpha < 0.5 else b) * level).astype(np.uint8)


def build(
    video: Path, out: Path, kinds: tuple[str, ...], lengths: tuple[int, ...] = ()
) -> list[Transition]:
    """Write shots of ``video`` joined by ``kinds`` into ``out``; return the true spans.
    ``lengths`` gives each transition's frames (:data:`TRANSITION` each by default); the
    second and third shots have room for 52 and 62 frames of transitions."""
    lengths = lengths or (TRANSITION,) * len(kinds)
    frames = source_frames(video, max(lengths))
    truth: list[Transition] = []

    def images() -> Iterator[np.ndarray]:
        done = 0
        for k, kind in enumerate((*kinds, None)):
            # Each shot after the first resumes where its part in the last transition ended.
            first = SOURCES[k] + (lengths[k - 1] if k else 0)
            yield from (frames[first + i] for i in range(HOLD))
            done += HOLD
            if kind is None:
                return
            n = lengths[k]
            truth.append(Transition(kind, done / FPS, (done + n) / FPS))
            a, b = first + HOLD, SOURCES[k + 1]
            yield from (_blend(kind, frames[a + i], frames[b + i], i, n) for i in range(n))
            done += n

    with av.open(str(out), "w") as container:
        encode_frames(container, h264_stream(container, FPS, SIZE, crf=18), images(), FPS)
    return truth


MIXED = (
    ("pyscenedetect/testvideo.mp4", 40, 139),
    ("pyscenedetect/testvideo.mp4", 240, 92),
    ("pyscenedetect/testvideo.mp4", 425, 102),
    ("pyscenedetect/testvideo.mp4", 560, 105),
    ("pyscenedetect/goldeneye-vfr-drop3.mp4", 2, 55),
    ("pyscenedetect/goldeneye-vfr-drop3.mp4", 63, 74),
    ("debian/Megamind.avi", 2, 95),
    ("debian/Megamind.avi", 100, 53),
    ("debian/Megamind.avi", 202, 66),
)
"""Stretches of shots of three shared clips: (clip, first decoded frame, frames)."""
MIXED_HOLD = 20


def _decoded(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        for n, frame in enumerate(container.decode(video=0)):
            if n in wanted:
                out[n] = frame.reformat(*SIZE, "rgb24").to_ndarray()
            if n > max(wanted):
                break
    return out


def build_mixed(media: Path, out: Path, seed: int, count: int = 8) -> list[Transition]:
    """``count`` dissolves and wipes of 8 to 40 frames (chosen by ``seed``) joining
    stretches of :data:`MIXED` shots, each shot held :data:`MIXED_HOLD` frames between
    them; the true spans."""
    import random

    rng = random.Random(seed)
    sources: dict[str, set[int]] = {}
    for clip, first, n in MIXED:
        sources.setdefault(clip, set()).update(range(first, first + n))
    frames = {clip: _decoded(media / clip, wanted) for clip, wanted in sources.items()}

    def stretch(k: int, start: int, n: int) -> list[np.ndarray]:
        clip, first, _ = MIXED[k]
        return [frames[clip][first + start + i] for i in range(n)]

    images: list[np.ndarray] = []
    truth: list[Transition] = []
    shot, into = rng.randrange(len(MIXED)), 0
    for _ in range(count):
        kind = rng.choice(["dissolve", "dissolve", "wipe"])
        n = rng.choice([8, 12, 25, 40])
        while MIXED[shot][2] < into + MIXED_HOLD + n:
            n //= 2
        following = rng.choice([k for k in range(len(MIXED)) if k != shot])
        images += stretch(shot, into, MIXED_HOLD)
        a, b = stretch(shot, into + MIXED_HOLD, n), stretch(following, 0, n)
        truth.append(Transition(kind, len(images) / FPS, (len(images) + n) / FPS))
        images += [_blend(kind, a[i], b[i], i, n) for i in range(n)]
        shot, into = following, n
    images += stretch(shot, into, MIXED_HOLD)
    with av.open(str(out), "w") as container:
        encode_frames(container, h264_stream(container, FPS, SIZE, crf=18), iter(images), FPS)
    return truth

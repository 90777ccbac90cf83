"""Near-duplicate frames: a difference hash (dHash) plus the grey thumbnail it is made from.

The thumbnail is an area average (block means), so compression noise and small subject motion
barely move it, while a cut, a pan or a new subject flips many dHash bits.  dHash alone only
sees the direction of brightness changes, so a fade to black or a flat frame changing colour
keeps every bit; comparing the thumbnails themselves catches those.  Pure NumPy, about 0.1 ms
for a 448-pixel frame.

Measured at one frame per second: static shots differ by 0.00–0.03, a slow camera move by
0.02–0.05, talking animated characters by 0.12–0.23 and a cut by 0.3–0.55.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HASH_SIZE = 16
"""Rows and columns of the hash: 256 bits."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What two frames are compared by."""

    bits: np.ndarray
    """dHash: true where the thumbnail gets brighter to the right."""
    thumb: np.ndarray
    """Grey thumbnail, 0–1."""


def _block_means(grey: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Area-average ``grey`` down to ``rows x cols`` (means over near-equal blocks)."""
    h, w = grey.shape
    r_edges = np.linspace(0, h, rows + 1).astype(int)[:-1]
    c_edges = np.linspace(0, w, cols + 1).astype(int)[:-1]
    sums = np.add.reduceat(np.add.reduceat(grey, r_edges, axis=0), c_edges, axis=1)
    r_len = np.diff(np.append(r_edges, h)).clip(min=1)
    c_len = np.diff(np.append(c_edges, w)).clip(min=1)
    return sums / np.outer(r_len, c_len)


def fingerprint(image: np.ndarray, size: int = HASH_SIZE) -> Fingerprint:
    """The fingerprint of an RGB (or grey) uint8 frame."""
    grey = image.astype(np.float32)
    if grey.ndim == 3:
        grey = grey.mean(axis=2)
    thumb = _block_means(grey, size, size + 1) / 255.0
    return Fingerprint(bits=(thumb[:, 1:] > thumb[:, :-1]).ravel(), thumb=thumb)


def difference(a: Fingerprint, b: Fingerprint) -> float:
    """How different two frames look, 0–1: the larger of the share of differing dHash bits
    (structure) and the mean absolute difference of the thumbnails (brightness and colour)."""
    bits = float(np.count_nonzero(a.bits != b.bits)) / a.bits.size
    return max(bits, float(np.abs(a.thumb - b.thumb).mean()))

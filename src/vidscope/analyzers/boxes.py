"""Geometry of ``(x0, y0, x1, y1)`` boxes, shared by the analyzers that match boxes between
frames.

Standard library only: the people worker, run by path in an environment where vidscope is not
installed, loads this file by its path too (see :mod:`vidscope.analyzers.people.worker`).
"""

from __future__ import annotations

from collections.abc import Sequence


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes (0 for boxes that do not overlap)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0

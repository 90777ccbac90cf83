"""Image helpers shared by the backends: bounding pixel counts and stitching frames side by
side for models that take one image per prompt."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

GAP = 8
"""Black columns between stitched frames, so the model sees where one frame ends."""


def fit_pixels(image: np.ndarray, max_pixels: int) -> np.ndarray:
    """``image`` scaled down (aspect kept, area averaging) to at most ``max_pixels`` pixels."""
    h, w = image.shape[:2]
    if h * w <= max_pixels:
        return image
    from PIL import Image

    scale = math.sqrt(max_pixels / (h * w))
    size = (max(1, int(w * scale)), max(1, int(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))


def side_by_side(images: Sequence[np.ndarray]) -> np.ndarray:
    """Frames in time order, left to right, on one RGB canvas (heights matched to the first)."""
    height = images[0].shape[0]
    from PIL import Image

    parts: list[np.ndarray] = []
    for image in images:
        if image.shape[0] != height:
            width = max(1, round(image.shape[1] * height / image.shape[0]))
            image = np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BOX))
        if parts:
            parts.append(np.zeros((height, GAP, 3), np.uint8))
        parts.append(image)
    return np.ascontiguousarray(np.hstack(parts))

"""Still frames: whether a sampled frame shows what the previous one did, so the ``ocr``
analyzer can reuse its reading.

The frames' luma is averaged over 4x4 blocks; a frame is still when no block moved by
``still_level`` grey levels or more.  Between still frames of ``testvideo.mp4`` no block moves
by more than 3 levels; one digit of a 1-pixel-stroke caption 10 pixels high turning into
another moves a block by 17 or more (with 16x16 blocks that margin is gone: noise up to 1.1,
such a change as little as 1.4).
"""

from __future__ import annotations

import numpy as np

BLOCK = 4
"""Side of the luma blocks compared to detect still frames (pixels)."""


def block_luma(image: np.ndarray) -> np.ndarray:
    """Mean luma of the BGR image's ``BLOCK`` x ``BLOCK`` blocks (edge remainders dropped)."""
    h, w = image.shape[:2]
    b = max(1, min(BLOCK, h, w))
    crop = image[: h - h % b, : w - w % b].astype(np.float32)
    luma = crop @ np.array([0.114, 0.587, 0.299], np.float32)
    return luma.reshape(h // b, b, w // b, b).mean(axis=(1, 3))


def is_still(blocks: np.ndarray, previous: np.ndarray | None, level: float) -> bool:
    """Whether no block changed by ``level`` grey levels or more since ``previous``."""
    return (
        previous is not None
        and previous.shape == blocks.shape
        and float(np.abs(blocks - previous).max()) < level
    )

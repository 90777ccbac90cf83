"""The PP-OCR models that rapidocr bundles, checked in place, and its output as lines."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from vidscope.analyzers.vision.text_spans import Line, normalise
from vidscope.errors import ModelError
from vidscope.models.resolve import package_dir, sha256_file

MODEL_ID = "PP-OCRv6 small (RapidOCR)"
MODEL_FILES = {
    "det": "PP-OCRv6_det_small.onnx",
    "rec": "PP-OCRv6_rec_small.onnx",
    "cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}
"""The models rapidocr 3.10 bundles and loads by default; any other model type downloads."""


@cache
def sha256(path: Path) -> str:
    """``path``'s sha256, computed once per process (the model files do not change)."""
    return sha256_file(path)


def model_files() -> dict[str, Path]:
    """The bundled RapidOCR model files; :class:`ModelError` when any is missing."""
    root = package_dir("rapidocr")
    if root is None:
        raise ModelError("rapidocr is not installed: pip install 'vidscope[vision]'")
    files = {role: root / "models" / name for role, name in MODEL_FILES.items()}
    missing = [p.name for p in files.values() if not p.is_file()]
    if missing:
        raise ModelError(
            f"RapidOCR's bundled models are missing from {root / 'models'} "
            f"({', '.join(missing)}); reinstall rapidocr==3.10.0 (pip install 'vidscope[vision]'):"
            " vidscope only runs the models shipped in that wheel and never downloads them"
        )
    return files


def warmup_image() -> np.ndarray:
    """A small frame with a word on it, so setup loads the detector and the recogniser."""
    import cv2

    image = np.full((64, 256, 3), 255, np.uint8)
    cv2.putText(image, "vidscope", (12, 44), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 0), 2)
    return image


def to_lines(
    boxes: Any,
    texts: Sequence[str],
    scores: Sequence[float],
    size: tuple[int, int],
    min_score: float,
) -> list[Line]:
    """RapidOCR's quadrilaterals, texts and scores for a ``size = (w, h)`` image as lines."""
    w, h = size
    lines: list[Line] = []
    for quad, text, score in zip(boxes, texts, scores, strict=True):
        key = normalise(text)
        if score < min_score or not any(c.isalnum() for c in key):
            continue
        pts = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
        x0, x1 = np.clip([pts[:, 0].min() / w, pts[:, 0].max() / w], 0.0, 1.0)
        y0, y1 = np.clip([pts[:, 1].min() / h, pts[:, 1].max() / h], 0.0, 1.0)
        if x1 > x0 and y1 > y0:
            box = (float(x0), float(y0), float(x1), float(y1))
            lines.append(Line(text.strip(), key, box, float(score)))
    return lines

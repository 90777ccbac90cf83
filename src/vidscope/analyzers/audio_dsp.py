"""Spectral descriptors, filter banks and a tempo pick on NumPy alone, as librosa defines them.

Each function computes what the librosa call named in its docstring computes, for the
arguments ``audio_features`` uses (``tests/test_audio_dsp.py`` compares them with librosa
on real recordings).  They are written out because importing librosa's feature
modules costs 1.3-1.4 s per process (SciPy's signal and stats packages, numba kernels read
back from its cache) while all of ``audio_features``' work on a minute of audio takes about
0.1 s; in the shared pipeline that import also holds the GIL and stalls decoding.  Every
function here is a few lines of array arithmetic.
"""

from __future__ import annotations

import numpy as np

# Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa's default, htk=False).
_MEL_F_SP = 200.0 / 3
_MEL_MIN_LOG_HZ = 1000.0
_MEL_MIN_LOG_MEL = _MEL_MIN_LOG_HZ / _MEL_F_SP
_MEL_LOGSTEP = np.log(6.4) / 27.0


def fft_frequencies(sr: int, n_fft: int) -> np.ndarray:
    """Centre frequency of each rFFT bin (``librosa.fft_frequencies``)."""
    return np.fft.rfftfreq(n_fft, 1.0 / sr)


def hann(n: int) -> np.ndarray:
    """Periodic Hann window, the STFT window (``scipy.signal.get_window("hann", n)``)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.atleast_1d(np.asarray(hz, dtype=np.float64))
    mel = hz / _MEL_F_SP
    high = hz >= _MEL_MIN_LOG_HZ
    mel[high] = _MEL_MIN_LOG_MEL + np.log(hz[high] / _MEL_MIN_LOG_HZ) / _MEL_LOGSTEP
    return mel


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.atleast_1d(np.asarray(mel, dtype=np.float64))
    hz = mel * _MEL_F_SP
    high = mel >= _MEL_MIN_LOG_MEL
    hz[high] = _MEL_MIN_LOG_HZ * np.exp(_MEL_LOGSTEP * (mel[high] - _MEL_MIN_LOG_MEL))
    return hz


def mel_filters(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Slaney-normalised triangular mel bank, 0 Hz to Nyquist, shape ``(n_mels, 1 + n_fft/2)``
    (``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)``)."""
    top = hz_to_mel(np.array([sr / 2]))[0]
    edges = mel_to_hz(np.linspace(0.0, top, n_mels + 2))
    widths = np.diff(edges)
    ramps = np.subtract.outer(edges, fft_frequencies(sr, n_fft))
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    # Constant energy per band: each triangle scaled by 2 / its width in Hz.
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def normalize_columns(S: np.ndarray, norm: float) -> np.ndarray:
    """Each column divided by its ``norm`` (1, 2 or inf); columns whose norm is below the
    dtype's smallest normal number are left as they are (``librosa.util.normalize(S,
    norm=norm, axis=0)``)."""
    mag = np.abs(S)
    if norm == np.inf:
        length = np.max(mag, axis=0, keepdims=True)
    else:
        length = np.sum(mag**norm, axis=0, keepdims=True) ** (1.0 / norm)
    length = np.where(length < np.finfo(S.dtype).tiny, 1.0, length).astype(S.dtype)
    return S / length


def chroma_filters(sr: int, n_fft: int, n_chroma: int = 12) -> np.ndarray:
    """Chroma bank starting at C, tuned to A440, shape ``(n_chroma, 1 + n_fft/2)``
    (``librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=0.0)``): a Gaussian bump per
    pitch class on each bin's log-frequency, weighted towards octave 5 over two octaves."""
    frequencies = np.linspace(0, sr, n_fft, endpoint=False)[1:]
    bins = n_chroma * np.log2(frequencies / (440.0 / 16))
    # The 0 Hz bin gets a made-up position 1.5 octaves below bin 1 (a broad bump).
    bins = np.concatenate(([bins[0] - 1.5 * n_chroma], bins))
    widths = np.concatenate((np.maximum(bins[1:] - bins[:-1], 1.0), [1]))
    half = np.round(n_chroma / 2)
    D = np.subtract.outer(bins, np.arange(n_chroma, dtype=np.float64)).T
    D = np.remainder(D + half + 10 * n_chroma, n_chroma) - half
    weights = normalize_columns(np.exp(-0.5 * (2 * D / widths[None, :]) ** 2), 2)
    weights *= np.exp(-0.5 * ((bins / n_chroma - 5.0) / 2.0) ** 2)[None, :]
    weights = np.roll(weights, -3 * (n_chroma // 12), axis=0)
    return np.ascontiguousarray(weights[:, : 1 + n_fft // 2], dtype=np.float32)


def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """The first ``n_out`` rows of the orthonormal DCT-II of length ``n_in``, so that
    ``dct_matrix(13, n) @ log_mel`` is ``librosa.feature.mfcc(S=log_mel, n_mfcc=13)``."""
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    basis = np.sqrt(2.0 / n_in) * np.cos(np.pi * k * (2 * n + 1) / (2 * n_in))
    basis[0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


def power_to_db(S: np.ndarray, amin: float) -> np.ndarray:
    """``librosa.power_to_db(S, amin=amin, top_db=None)`` (reference power 1)."""
    return 10.0 * np.log10(np.maximum(amin, S))


def spectral_centroid(shares: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """Magnitude-weighted mean frequency per frame, from ``shares``, the magnitude spectrum
    with each column normalised to sum 1 (``normalize_columns(S, 1)``); as
    ``librosa.feature.spectral_centroid(S=S)``."""
    return np.sum(freq[:, None] * shares, axis=0)


def spectral_bandwidth(shares: np.ndarray, freq: np.ndarray, centroid: np.ndarray) -> np.ndarray:
    """Magnitude-weighted standard deviation around the centroid per frame, from the same
    ``shares`` (``librosa.feature.spectral_bandwidth(S=S)``, p=2)."""
    return np.sum(shares * (freq[:, None] - centroid[None, :]) ** 2, axis=0) ** 0.5


def spectral_rolloff(S: np.ndarray, freq: np.ndarray, share: float = 0.85) -> np.ndarray:
    """Lowest bin frequency below which ``share`` of the magnitude lies, per frame
    (``librosa.feature.spectral_rolloff``)."""
    total = np.cumsum(S, axis=0)
    return freq[np.argmax(total >= share * total[-1], axis=0)]


def spectral_flatness(power: np.ndarray, amin: float) -> np.ndarray:
    """Geometric over arithmetic mean of the power spectrum ``S**2`` per frame
    (``librosa.feature.spectral_flatness(S=S)``)."""
    power = np.maximum(amin, power)
    return np.exp(np.mean(np.log(power), axis=0)) / np.mean(power, axis=0)


def frame_rms(power: np.ndarray, n_fft: int) -> np.ndarray:
    """Per-frame RMS from the power spectrum ``S**2`` by Parseval (``librosa.feature.rms(S=S)``):
    the DC and Nyquist bins appear once in an rFFT, every other bin stands for two."""
    total = 2 * np.sum(power, axis=0) - power[0]
    if n_fft % 2 == 0:
        total -= power[-1]
    return np.sqrt(total / n_fft**2)


def onset_strength(log_mel: np.ndarray) -> np.ndarray:
    """Spectral flux: the mean over bands of each frame's rise from the previous frame, a
    zero first (``librosa.onset.onset_strength(S=log_mel, lag=1, max_size=1,
    center=False)``)."""
    flux = np.mean(np.maximum(0.0, log_mel[:, 1:] - log_mel[:, :-1]), axis=0)
    return np.concatenate([np.zeros(1, flux.dtype), flux])


def autocorrelate(x: np.ndarray, max_size: int) -> np.ndarray:
    """Autocorrelation at lags ``0 .. max_size - 1`` through the FFT
    (``librosa.autocorrelate``)."""
    n = 2 * len(x) - 1
    return np.fft.irfft(np.abs(np.fft.rfft(x, n)) ** 2, n)[:max_size]


def tempo_from_tempogram(
    column: np.ndarray,
    sr: int,
    hop: int,
    start_bpm: float = 120.0,
    std_bpm: float = 1.0,
    max_tempo: float = 320.0,
) -> float:
    """The tempo of one autocorrelation tempogram column: the lag whose strength, weighted by
    a log-normal prior around ``start_bpm``, is highest (``librosa.feature.tempo(tg=column)``
    with its defaults)."""
    bpms = np.full(len(column), np.inf)
    bpms[1:] = 60.0 * sr / (hop * np.arange(1.0, len(column)))
    log_prior = -0.5 * ((np.log2(bpms) - np.log2(start_bpm)) / std_bpm) ** 2
    log_prior[: int(np.argmax(bpms < max_tempo))] = -np.inf
    return float(bpms[np.argmax(np.log1p(1e6 * column) + log_prior)])

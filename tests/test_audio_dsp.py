"""``audio_dsp`` computes what librosa computes, checked with librosa itself on real audio.

``audio_features`` no longer imports librosa (it costs more than the analysis); these tests
hold its NumPy definitions to librosa's: filter banks, every spectral descriptor, the onset
envelope, the autocorrelation and the tempo pick, on speech (jfk.flac) and music (a
frozen-bubble track), frame by frame.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import need
from vidscope.analyzers import audio_dsp as dsp
from vidscope.analyzers.audio_features import (
    SAMPLE_RATE,
    autocorrelation_tempogram,
    magnitude_spectrogram,
)
from vidscope.media.decode import load_audio
from vidscope.media.probe import probe

MUSIC = ("/usr/share/games/frozen-bubble/snd/frozen-mainzik-1p.ogg", "frozen-bubble-data")
N_FFT, HOP, N_MELS = 1024, 256, 64
AMIN = 1e-10


@pytest.fixture(scope="module")
def librosa():
    return need("librosa", reason="librosa is the reference these definitions are checked on")


def spectrum(path, seconds: float) -> np.ndarray:
    """|STFT| of the first ``seconds`` of a file, as audio_features frames it."""
    _, samples = load_audio(probe(path))
    return magnitude_spectrogram(samples[: int(seconds * SAMPLE_RATE)], dsp.hann(N_FFT), HOP)


@pytest.fixture(scope="module", params=["speech", "music"])
def S(request, media, debian_file) -> np.ndarray:
    if request.param == "speech":
        return spectrum(media("faster-whisper/jfk.flac"), 11.0)
    return spectrum(debian_file(*MUSIC), 30.0)


def test_banks_and_window_are_librosas(librosa) -> None:
    import scipy.signal

    assert np.allclose(dsp.hann(N_FFT), scipy.signal.get_window("hann", N_FFT), atol=1e-7)
    assert np.allclose(
        dsp.mel_filters(SAMPLE_RATE, N_FFT, N_MELS),
        librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS),
        rtol=1e-5,
        atol=1e-9,
    )
    assert np.allclose(
        dsp.chroma_filters(SAMPLE_RATE, N_FFT),
        librosa.filters.chroma(sr=SAMPLE_RATE, n_fft=N_FFT, tuning=0.0),
        rtol=1e-5,
        atol=1e-9,
    )
    assert np.allclose(
        dsp.fft_frequencies(SAMPLE_RATE, N_FFT),
        librosa.fft_frequencies(sr=SAMPLE_RATE, n_fft=N_FFT),
    )


def test_descriptors_are_librosas_frame_by_frame(librosa, S) -> None:
    freq = dsp.fft_frequencies(SAMPLE_RATE, N_FFT)
    feature = librosa.feature
    close = {"rtol": 1e-4, "atol": 1e-6}
    shares = dsp.normalize_columns(S, 1)
    centroid = dsp.spectral_centroid(shares, freq)
    assert np.allclose(centroid, feature.spectral_centroid(S=S, sr=SAMPLE_RATE)[0], **close)
    assert np.allclose(
        dsp.spectral_bandwidth(shares, freq, centroid),
        feature.spectral_bandwidth(S=S, sr=SAMPLE_RATE)[0],
        **close,
    )
    assert np.array_equal(
        dsp.spectral_rolloff(S, freq), feature.spectral_rolloff(S=S, sr=SAMPLE_RATE)[0]
    )
    assert np.allclose(
        dsp.spectral_flatness(S**2, AMIN), feature.spectral_flatness(S=S, amin=AMIN)[0], **close
    )
    assert np.allclose(dsp.frame_rms(S**2, N_FFT), feature.rms(S=S, frame_length=N_FFT)[0], **close)
    power = S**2
    log_mel = dsp.power_to_db(dsp.mel_filters(SAMPLE_RATE, N_FFT, N_MELS) @ power, AMIN)
    mel = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS)
    assert np.allclose(log_mel, librosa.power_to_db(mel @ power, amin=AMIN, top_db=None), **close)
    assert np.allclose(
        dsp.dct_matrix(13, N_MELS) @ log_mel,
        feature.mfcc(S=log_mel, n_mfcc=13),
        rtol=1e-4,
        atol=1e-3,
    )
    chroma = dsp.normalize_columns(dsp.chroma_filters(SAMPLE_RATE, N_FFT) @ power, np.inf)
    reference = librosa.util.normalize(
        librosa.filters.chroma(sr=SAMPLE_RATE, n_fft=N_FFT, tuning=0.0) @ power,
        norm=np.inf,
        axis=0,
    )
    assert np.allclose(chroma, reference, **close)
    assert np.allclose(
        dsp.onset_strength(log_mel),
        librosa.onset.onset_strength(
            S=log_mel, sr=SAMPLE_RATE, hop_length=HOP, lag=1, max_size=1, center=False
        ),
        **close,
    )


def test_tempo_pick_is_librosas_on_every_window(librosa, S) -> None:
    """Every 8 s window of the onset envelope, one second apart: same autocorrelation, same
    tempo bin as ``librosa.feature.tempo`` given the same one-column tempogram."""
    power = S**2
    env = dsp.onset_strength(
        dsp.power_to_db(dsp.mel_filters(SAMPLE_RATE, N_FFT, N_MELS) @ power, AMIN)
    )
    fps = SAMPLE_RATE // HOP
    windows = [env[max(0, end - 8 * fps) : end] for end in range(3 * fps, len(env), fps)]
    assert len(windows) >= 8
    for window in windows:
        lags = len(window) // 2
        assert np.allclose(
            dsp.autocorrelate(window.astype(np.float64), lags),
            librosa.autocorrelate(window.astype(np.float64), max_size=lags),
            rtol=1e-9,
            atol=1e-9,
        )
        tg = autocorrelation_tempogram(window, lags)
        ours = dsp.tempo_from_tempogram(tg, SAMPLE_RATE, HOP)
        theirs = librosa.feature.tempo(tg=tg[:, None], sr=SAMPLE_RATE, hop_length=HOP)[0]
        assert ours == float(theirs)


def test_audio_features_runs_without_librosa_or_scipy(media) -> None:
    """The point of these definitions: a run imports neither library."""
    code = (
        "import sys; from vidscope.analyzers.audio_features import AudioFeaturesAnalyzer;"
        "from vidscope.analyzers.base import AudioChunk; import numpy as np;"
        "a = AudioFeaturesAnalyzer(); a.setup(); s = a.start(None);"
        "chunk = AudioChunk(0.0, np.random.default_rng(0).standard_normal(16000).astype('f4'));"
        "assert len(list(a.process_batch(s, [chunk] * 4))) == 4;"
        "loaded = [m for m in ('librosa', 'scipy', 'numba') if m in sys.modules];"
        "sys.exit(f'imported {loaded}' if loaded else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr

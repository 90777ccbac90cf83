"""audio_features and audio_class on real recordings: speech, music, noise and silence.

Each file is decoded and analysed once per module (module-scoped fixtures); the assertions
check what the analyzers say about it against what the recording is known to contain.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import need
from vidscope.analyzers.audio_class import (
    LABELS,
    AudioClassAnalyzer,
    AudioClassParams,
)
from vidscope.analyzers.audio_features import (
    N_MFCC,
    RMS_DB_FLOOR,
    AudioFeaturesAnalyzer,
    AudioFeaturesParams,
)
from vidscope.analyzers.base import AudioChunk, Record, Requirements, TrackRecord
from vidscope.media.decode import Decoder
from vidscope.media.probe import MediaInfo, probe

MUSIC = ("/usr/share/games/frozen-bubble/snd/frozen-mainzik-1p.ogg", "frozen-bubble-data")
SPEECH = ("/usr/share/codec2/raw/speech_orig_16k.wav", "codec2-examples")
NOISE = ("/usr/share/sounds/alsa/Noise.wav", "alsa-utils")
APPLAUSE = ("/usr/share/games/frozen-bubble/snd/applause.ogg", "frozen-bubble-data")
BATCH = 8  # the engine's default batch size


@dataclass
class Analysis:
    media: MediaInfo
    chunks: list[AudioChunk]
    features: list[Record]
    spans: list[Record]

    def share(self, label: str) -> float:
        """Fraction of the analysed duration carrying ``label``."""
        totals = seconds_per_label(self.spans)
        return totals[label] / sum(totals.values())


def seconds_per_label(spans: Iterable[Record]) -> dict[str, float]:
    totals = dict.fromkeys(LABELS, 0.0)
    for span in spans:
        totals[span["label"]] += span["end"] - span["start"]
    return totals


def batches(items: Sequence, size: int) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def run_features(
    analyzer: AudioFeaturesAnalyzer, media: MediaInfo, chunks: Sequence[AudioChunk], size: int
) -> list[Record]:
    state = analyzer.start(media)
    out: list[Record] = []
    for batch in batches(chunks, size):
        out.extend(analyzer.process_batch(state, batch))
    out.extend(analyzer.finish(state))
    return out


def run_class(
    analyzer: AudioClassAnalyzer, media: MediaInfo | None, features: Sequence[Record], size: int
) -> list[Record]:
    state = analyzer.start(media)  # type: ignore[arg-type]
    items = [TrackRecord("audio_features", rec) for rec in features]
    out: list[Record] = []
    for batch in batches(items, size):
        out.extend(analyzer.process_batch(state, batch))
    out.extend(analyzer.finish(state))
    return out


@pytest.fixture(scope="module")
def features_analyzer() -> AudioFeaturesAnalyzer:
    analyzer = AudioFeaturesAnalyzer()
    analyzer.setup()
    return analyzer


@pytest.fixture(scope="module")
def analyse(features_analyzer):
    classifier = AudioClassAnalyzer()
    classifier.setup()

    def run(path: Path) -> Analysis:
        media = probe(path)
        chunks = [c for _, c in Decoder(media, [], True) if isinstance(c, AudioChunk)]
        features = run_features(features_analyzer, media, chunks, BATCH)
        spans = run_class(classifier, media, features, BATCH)
        return Analysis(media, chunks, features, spans)

    return run


@pytest.fixture(scope="module")
def jfk(media, analyse) -> Analysis:
    return analyse(media("faster-whisper/jfk.flac"))


@pytest.fixture(scope="module")
def music(debian_file, analyse) -> Analysis:
    return analyse(debian_file(*MUSIC))


@pytest.fixture(scope="module")
def speech(debian_file, analyse) -> Analysis:
    return analyse(debian_file(*SPEECH))


@pytest.fixture(scope="module")
def noise(debian_file, analyse) -> Analysis:
    return analyse(debian_file(*NOISE))


@pytest.fixture(scope="module")
def silence(tmp_path_factory, analyse) -> Analysis:
    path = tmp_path_factory.mktemp("audio") / "silence.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(2 * 16000 * 5 + 2 * 4000))  # 5.25 s of digital silence
    return analyse(path)


# -- checks shared by every recording ----------------------------------------------------


def assert_features_sound(a: Analysis) -> None:
    """One finite, JSON-safe record per chunk, tiling the audio without gaps."""
    recs = a.features
    assert len(recs) == len(a.chunks) == math.ceil(a.media.duration - 1e-3)
    assert recs[0]["start"] == pytest.approx(a.chunks[0].time, abs=1e-6)
    assert recs[-1]["end"] == pytest.approx(a.chunks[-1].end, abs=1e-6)
    assert recs[-1]["end"] == pytest.approx(a.media.end, abs=0.05)
    for prev, cur in itertools.pairwise(recs):
        assert cur["start"] == pytest.approx(prev["end"], abs=1e-6)
    for rec in recs:
        assert len(rec["mfcc_mean"]) == len(rec["mfcc_std"]) == N_MFCC
        assert len(rec["chroma"]) == 12
        assert RMS_DB_FLOOR <= rec["rms_db"] <= 0.0
        assert 0.0 <= rec["zero_crossing_rate"] <= 1.0
        assert 0.0 <= rec["spectral_flatness"] <= 1.0
        assert 0.0 <= rec["spectral_centroid"] <= 8000.0
        assert all(0.0 <= c <= 1.0 for c in rec["chroma"])
        values = [v for k, v in rec.items() if k not in ("tempo", "pulse_clarity")]
        flat = [x for v in values for x in (v if isinstance(v, list) else [v])]
        assert all(math.isfinite(x) for x in flat), rec
        json.dumps(rec, allow_nan=False)  # raises on NaN/inf


def assert_spans_tile(a: Analysis) -> None:
    spans = a.spans
    assert spans, "no spans"
    assert spans[0]["start"] == pytest.approx(a.features[0]["start"])
    assert spans[-1]["end"] == pytest.approx(a.features[-1]["end"])
    for prev, cur in itertools.pairwise(spans):
        assert cur["start"] == pytest.approx(prev["end"])
        assert cur["label"] != prev["label"], "adjacent spans with one label were not merged"
    for span in spans:
        assert span["label"] in ("silent", "dialog", "music", "ambiance")
        assert 0.0 <= span["confidence"] <= 1.0


# -- speech ------------------------------------------------------------------------------


def test_jfk_features_cover_every_second(jfk: Analysis) -> None:
    assert_features_sound(jfk)
    # Speech: irregular onsets (low pulse clarity), strongly modulated level.
    pulses = [r["pulse_clarity"] for r in jfk.features if r["pulse_clarity"] is not None]
    assert pulses and statistics.median(pulses) < 0.3
    assert statistics.median(r["rms_cv"] for r in jfk.features) > 0.6
    assert all(r["tempo"] is None for r in jfk.features[:2]), "tempo needs ~3 s of envelope"


def test_jfk_is_dialog(jfk: Analysis) -> None:
    assert_spans_tile(jfk)
    assert jfk.share("dialog") >= 0.7
    assert jfk.share("music") <= 0.2


def test_recorded_speech_is_dialog(speech: Analysis) -> None:
    assert_features_sound(speech)
    assert_spans_tile(speech)
    assert speech.share("dialog") >= 0.7


# -- music -------------------------------------------------------------------------------


def test_music_is_music_with_a_tempo(music: Analysis) -> None:
    assert_features_sound(music)
    assert_spans_tile(music)
    assert music.share("music") >= 0.8
    assert music.share("dialog") <= 0.1
    audible = [r for r in music.features if r["start"] >= 3.0 and r["rms_db"] > -50.0]
    tempos = [r["tempo"] for r in audible if r["tempo"] is not None]
    assert len(tempos) >= 0.95 * len(audible)
    assert 60.0 <= statistics.median(tempos) <= 200.0
    assert statistics.median(r["pulse_clarity"] for r in audible) > 0.4


# -- noise and silence ------------------------------------------------------------------


def test_pink_noise_is_ambiance(noise: Analysis) -> None:
    assert_features_sound(noise)  # 1.4 s: a full chunk and a 0.4 s one
    assert_spans_tile(noise)
    assert noise.share("ambiance") >= 0.9
    assert noise.share("dialog") == noise.share("music") == 0.0
    assert all(r["spectral_flatness"] > 0.1 for r in noise.features)


def test_silence_is_silent_and_finite(silence: Analysis) -> None:
    assert_features_sound(silence)
    assert [s["label"] for s in silence.spans] == ["silent"]
    assert silence.spans[0]["confidence"] == 1.0
    for rec in silence.features:
        assert rec["rms"] == 0.0 and rec["rms_db"] == RMS_DB_FLOOR
        assert rec["tempo"] is None and rec["pulse_clarity"] is None


# -- streaming behaviour -----------------------------------------------------------------


def test_results_do_not_depend_on_batching(jfk: Analysis, features_analyzer) -> None:
    one_by_one = run_features(features_analyzer, jfk.media, jfk.chunks, 1)
    assert one_by_one == jfk.features
    assert run_class(AudioClassAnalyzer(), jfk.media, jfk.features, 1) == jfk.spans
    assert run_class(AudioClassAnalyzer(), jfk.media, jfk.features, 1000) == jfk.spans


def test_state_stays_bounded(features_analyzer) -> None:
    p = features_analyzer.params
    window = round(p.tempo_window * 16000 / p.hop_length)
    state = features_analyzer.start(None)
    rng = np.random.default_rng(1)
    for t in range(30):
        chunk = AudioChunk(float(t), (0.1 * rng.standard_normal(16000)).astype(np.float32))
        list(features_analyzer.process_batch(state, [chunk]))
    assert len(state.onset) == len(state.frame_power) == window
    assert len(state.carry) < p.n_fft

    classifier = AudioClassAnalyzer()
    cstate = classifier.start(None)
    rec = {"start": 0.0, "end": 1.0, "rms_db": -20.0, "mfcc_std": [30.0] * 13, "rms_cv": 1.0}
    for t in range(100):
        item = TrackRecord("audio_features", {**rec, "start": float(t), "end": t + 1.0})
        assert list(classifier.process_batch(cstate, [item])) == []  # one open span
    assert len(cstate.scoring) <= 3 and len(cstate.labelling) <= 3
    (span,) = classifier.finish(cstate)
    assert (span["start"], span["end"], span["label"]) == (0.0, 100.0, "dialog")


def test_tiny_inputs_do_not_crash(features_analyzer) -> None:
    rng = np.random.default_rng(2)
    # A media shorter than one STFT frame.
    state = features_analyzer.start(None)
    (rec,) = features_analyzer.process_batch(state, [AudioChunk(0.0, np.zeros(100, np.float32))])
    assert rec["end"] == pytest.approx(100 / 16000) and rec["rms_db"] == RMS_DB_FLOOR
    # A 1-sample and a 50-sample final chunk after real audio.
    for tail in (1, 50):
        chunks = [
            AudioChunk(0.0, (0.1 * rng.standard_normal(16000)).astype(np.float32)),
            AudioChunk(1.0, (0.1 * rng.standard_normal(tail)).astype(np.float32)),
        ]
        recs = run_features(features_analyzer, None, chunks, BATCH)  # type: ignore[arg-type]
        assert [r["end"] for r in recs] == [1.0, pytest.approx(1.0 + tail / 16000)]
        json.dumps(recs, allow_nan=False)


def test_an_isolated_second_is_smoothed_away() -> None:
    voice = {"spectral_centroid": 1500.0, "zero_crossing_rate": 0.1, "rms_db": -20.0}
    speech = {**voice, "mfcc_std": [30.0] * 13, "rms_cv": 1.0, "pulse_clarity": 0.1}
    steady = {**voice, "mfcc_std": [8.0] * 13, "rms_cv": 0.2, "pulse_clarity": 0.7}
    seq = [speech] * 4 + [steady] + [speech] * 4 + [steady] * 5
    feats = [{**r, "start": float(t), "end": t + 1.0} for t, r in enumerate(seq)]
    spans = run_class(AudioClassAnalyzer(), None, feats, 3)
    assert [(s["label"], s["start"], s["end"]) for s in spans] == [
        ("dialog", 0.0, 9.0),
        ("music", 9.0, 14.0),
    ]
    raw = run_class(AudioClassAnalyzer(AudioClassParams(smooth=False)), None, feats, 3)
    assert [s["label"] for s in raw] == ["dialog", "music", "dialog", "music"]


# -- contract ------------------------------------------------------------------------------


def per_second(spans: Sequence[Record]) -> list[tuple[str, str]]:
    """(label, basis) of every whole second the spans cover."""
    return [
        (s["label"], s["basis"])
        for s in spans
        for t in range(math.ceil(s["start"]), math.ceil(s["end"] - 1e-6))
    ]


def run_with_events(
    analyzer: AudioClassAnalyzer, items: Sequence[TrackRecord], size: int = BATCH
) -> list[Record]:
    state = analyzer.start(None, frozenset({"audio_features", "audio_events"}))  # type: ignore[arg-type]
    out: list[Record] = []
    for batch in batches(items, size):
        out.extend(analyzer.process_batch(state, batch))
    out.extend(analyzer.finish(state))
    return out


def test_events_decide_the_seconds_they_cover(jfk: Analysis) -> None:
    # JFK is speech to the rules; a music span over 2-6 s (as a model would report a song
    # under the speech) makes exactly those seconds music, the rest stays dialog.
    features = [TrackRecord("audio_features", r) for r in jfk.features]
    song = TrackRecord(
        "audio_events",
        {"start": 2.0, "end": 6.0, "label": "music", "family": "music", "score": 0.9},
    )
    rules = AudioClassAnalyzer(AudioClassParams(smooth=False))
    expected = [label for label, _ in per_second(run_class(rules, None, jfk.features, BATCH))]
    expected[2:6] = ["music"] * 4
    seconds = per_second(run_with_events(rules, [*features, song]))
    assert [label for label, _ in seconds] == expected
    assert all(basis != "audio_features" for _, basis in seconds[2:6])
    # Speech over the music wins: it is a film's dialog stem.
    words = TrackRecord(
        "audio_events",
        {"start": 0.0, "end": 11.0, "label": "speech", "family": "speech", "score": 0.8},
    )
    spans = run_with_events(AudioClassAnalyzer(), [*features, song, words])
    assert [(s["label"], s["basis"]) for s in spans] == [("dialog", "audio_events")]


def test_events_wait_is_bounded(jfk: Analysis) -> None:
    # A span that closes later than `events_wait` comes too late for the seconds it covers:
    # they were labelled by the rules, which were not held back.
    features = [TrackRecord("audio_features", r) for r in jfk.features]
    late = TrackRecord(
        "audio_events", {"start": 0.0, "end": 11.0, "label": "music", "family": "music"}
    )
    analyzer = AudioClassAnalyzer(AudioClassParams(events_wait=3.0))
    state = analyzer.start(None, frozenset({"audio_features", "audio_events"}))  # type: ignore[arg-type]
    for item in features:
        list(analyzer.process_batch(state, [item]))
        assert len(state.waiting) <= 4
    list(analyzer.process_batch(state, [late]))
    labels = per_second([*analyzer.finish(state)])
    # Seconds ending by 8 s had waited 3 s when the last feature record came: rules.
    assert {basis for _, basis in labels[:8]} == {"audio_features"}
    assert set(labels[8:]) == {("music", "audio_events")}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("source", "label"), [(MUSIC, "music"), (SPEECH, "dialog"), (APPLAUSE, "ambiance")]
)
def test_audio_class_through_the_engine_uses_events(debian_file, tmp_path, source, label):
    need("onnxruntime", reason="the speech extra is not installed")
    import vidscope

    result = vidscope.analyze(
        debian_file(*source), analyzers=["audio_class", "audio_events"], output=tmp_path / "b"
    )
    spans = result.track("audio_class")
    totals = seconds_per_label(spans)
    assert totals[label] >= 0.7 * sum(totals.values()), spans
    assert any(s["basis"] in ("audio_events", "mixed") for s in spans), spans
    assert {e["family"] for e in result.track("audio_events")} <= {"speech", "music", "other"}


def test_contract_and_params() -> None:
    assert AudioFeaturesAnalyzer().requirements() == Requirements(audio=True)
    assert AudioClassAnalyzer().requirements() == Requirements(
        tracks=("audio_features",), optional_tracks=("audio_events",)
    )
    assert AudioFeaturesAnalyzer.per_second == ("audio_features",)
    assert AudioFeaturesAnalyzer.availability().ok
    with pytest.raises(ValueError):
        AudioFeaturesParams(n_fft=256, hop_length=512)
    with pytest.raises(ValueError):
        AudioClassParams(silence_threshold=-50)

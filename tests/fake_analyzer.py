"""Two small analyzers for scheduler tests, importable by worker processes and Ray actors.

``FakeStats`` reads frames and audio and writes one record per item into two tracks (frames
into ``fake_frames``, audio into ``fake_audio``); ``FakeCount`` reads ``fake_frames`` and
writes one record at the end.  Every record depends only on the item it comes from, never on
how items were batched, so any worker must write the very same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import numpy as np

from vidscope.analyzers.base import (
    Analyzer,
    Item,
    Params,
    Record,
    Requirements,
    Resources,
    TrackRecord,
)
from vidscope.media.frames import AudioChunk, Frame, FrameSpec
from vidscope.media.probe import MediaInfo


class FakeStatsParams(Params):
    fps: float = 2.0


class FakeStats(Analyzer):
    name = "fake_stats"
    version = "1"
    tracks = ("fake_frames", "fake_audio")
    Params = FakeStatsParams
    resources: ClassVar[Resources] = Resources(batch_size=3)

    def requirements(self) -> Requirements:
        return Requirements(
            frames=FrameSpec(fps=self.params.fps, width=32, format="gray"), audio=True
        )

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> Any:
        return {"items": 0}

    def process_batch(self, state: Any, items: Sequence[Item]) -> Iterable[Record]:
        for item in items:
            state["items"] += 1
            if isinstance(item, Frame):
                yield {
                    "_track": "fake_frames",
                    "start": round(float(item.time), 6),
                    "end": round(float(item.time) + float(item.duration), 6),
                    "index": item.index,
                    "mean": round(float(np.mean(item.image)), 4),
                }
            elif isinstance(item, AudioChunk):
                yield {
                    "_track": "fake_audio",
                    "start": round(float(item.time), 6),
                    "end": round(float(item.end), 6),
                    "rms": round(float(np.sqrt(np.mean(np.square(item.samples)))), 6),
                }

    def report(self, state: Any) -> dict[str, Any]:
        return {"items": state["items"]}


class FakeCount(Analyzer):
    name = "fake_count"
    version = "1"

    def requirements(self) -> Requirements:
        return Requirements(tracks=("fake_frames",))

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> Any:
        return {"span": (media.start, media.end), "frames": 0, "mean": 0.0, "inputs": inputs}

    def process_batch(self, state: Any, items: Sequence[Item]) -> Iterable[Record]:
        for item in items:
            assert isinstance(item, TrackRecord) and item.track == "fake_frames"
            state["frames"] += 1
            state["mean"] += item.record["mean"]
        return ()

    def finish(self, state: Any) -> Iterable[Record]:
        start, end = state["span"]
        yield {
            "start": start,
            "end": end,
            "frames": state["frames"],
            "mean": round(state["mean"], 3),
            "inputs": sorted(state["inputs"]),
        }


class FakeBroken(Analyzer):
    """Fails on its second batch of audio."""

    name = "fake_broken"
    version = "1"
    resources: ClassVar[Resources] = Resources(batch_size=1)

    def requirements(self) -> Requirements:
        return Requirements(audio=True)

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> Any:
        return {"batches": 0}

    def process_batch(self, state: Any, items: Sequence[Item]) -> Iterable[Record]:
        state["batches"] += 1
        if state["batches"] == 2:
            raise ValueError("the second batch is always bad")
        return [{"start": 0.0, "end": 0.0}]

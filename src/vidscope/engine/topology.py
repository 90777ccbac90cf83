"""Who feeds whom in the run of one input.

Each analyzer becomes a :class:`Node` with its own bounded inbox.  The decoder feeds the nodes
that read frames (grouped by the :class:`~vidscope.analyzers.base.FrameSpec` they ask for) or
audio; a node forwards its records to the nodes that read its tracks; a finished track of an
earlier run is replayed from its file to the nodes that read it.  A node knows how many of
these upstreams it waits for, so it ends when each of them has said so.
"""

from __future__ import annotations

import queue
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from vidscope.analyzers.base import Analyzer
from vidscope.engine.report import StageStats
from vidscope.engine.workers import Worker
from vidscope.media.frames import FrameSpec
from vidscope.media.probe import MediaInfo
from vidscope.timeline.bundle import TrackWriter
from vidscope.timeline.coverage import Coverage


@dataclass
class Stage:
    """One analyzer to run over an input: where it runs and the track files it writes."""

    analyzer: Analyzer
    worker: Worker
    writers: dict[str, TrackWriter]
    """Track name -> the open file of that track."""


@dataclass
class Node:
    """One analyzer in the running graph."""

    name: str
    analyzer: Analyzer
    worker: Worker
    inbox: queue.Queue
    writers: dict[str, TrackWriter] = field(default_factory=dict)
    upstreams: int = 0
    """How many feeders (decoder, other nodes, replays) send it items and then an end."""
    decoded: bool = False
    """Fed by the decoder: a decoding failure leaves its tracks incomplete."""
    inputs: set[str] = field(default_factory=set)
    required_from: set[str] = field(default_factory=set)
    """Analyzer names whose failure makes this analyzer's output meaningless."""
    consumers: list[Node] = field(default_factory=list)
    stats: StageStats = field(default_factory=StageStats)
    error: str | None = None
    exit_code: int | None = None
    """The exit code of a vidscope error that failed the analyzer (a model: 4)."""
    done: float = 0.0
    """Seconds of the media done, as last reported."""
    frame_step: float | None = None
    """Seconds each sampled frame stands for (None: the frame's own duration)."""


@dataclass
class Topology:
    """The nodes of one input and who feeds them."""

    nodes: dict[str, Node]
    by_spec: dict[FrameSpec, list[Node]]
    """What the decoder produces for whom: frames of each spec."""
    audio: list[Node]
    """The nodes that take the decoded audio."""
    replay: dict[str, list[Node]]
    """Track of an earlier run -> the nodes its file is replayed to."""

    @property
    def decoded(self) -> list[Node]:
        """Every node the decoder feeds, each once."""
        return [n for n in self.nodes.values() if n.decoded]


def inbox_size(analyzer: Analyzer, queue_size: int) -> int:
    """How many items the inbox of ``analyzer`` holds before its feeders wait.

    Frames are large and get the configured depth; audio chunks and records are small, and a
    deeper queue lets decoding run ahead while a model is still loading.
    """
    return queue_size * (1 if analyzer.requirements().frames is not None else 8)


def build_topology(
    media: MediaInfo, stages: Mapping[str, Stage], reused: Collection[str], queue_size: int
) -> Topology:
    """Wire ``stages`` for ``media``: ``reused`` names finished tracks replayed from their files
    (a track that a stage writes is taken from that stage instead)."""
    nodes = {
        name: Node(
            name, s.analyzer, s.worker, queue.Queue(inbox_size(s.analyzer, queue_size)), s.writers
        )
        for name, s in stages.items()
    }
    track_owner = {t: n for n, node in nodes.items() for t in node.writers}
    by_spec: dict[FrameSpec, list[Node]] = {}
    audio: list[Node] = []
    replay: dict[str, list[Node]] = {}
    for node in nodes.values():
        req = node.analyzer.requirements()
        if req.frames is not None and media.video is not None:
            by_spec.setdefault(req.frames, []).append(node)
            node.stats.analyzed = Coverage()
            node.frame_step = 1 / req.frames.fps if req.frames.fps else None
            node.decoded = True
        if req.audio and media.audio is not None:
            audio.append(node)
            node.decoded = True
        if node.decoded:
            # One end for the whole decode pass, frames and audio together.
            node.upstreams += 1
        for track in (*req.tracks, *req.optional_tracks):
            if track in track_owner:
                owner = nodes[track_owner[track]]
                owner.consumers.append(node)
                node.upstreams += 1
                node.inputs.add(track)
                if track in req.tracks:
                    node.required_from.add(owner.name)
            elif track in reused:
                replay.setdefault(track, []).append(node)
                node.upstreams += 1
                node.inputs.add(track)
    return Topology(nodes, by_spec, audio, replay)

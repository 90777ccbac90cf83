"""The run of one input: one decode thread, one thread per analyzer, bounded queues between them.

```
decoder ──frames/audio──> [queue] analyzer A ──records──> track file
                        └> [queue] analyzer B ──records──> track file
                                             └──records──> [queue] analyzer C (depends on B)
```
Queues are bounded, so a slow analyzer slows the decoder instead of letting frames pile up:
memory depends on queue sizes and frame sizes, never on the length of the video.  Records go
to their track file as they are produced and, at the same moment, to the analyzers that
consume that track, so shot-dependent work starts as soon as the first shot is known.

The :class:`Scheduler`'s parts each run on their own thread: :meth:`Scheduler.decode` feeds
the decoded media, :meth:`Scheduler.replay` feeds a track of an earlier run, and
:meth:`Scheduler.work` is one analyzer's loop, which hands its records to
:meth:`Scheduler.emit`.  Who feeds whom is :mod:`vidscope.engine.topology`.
"""

from __future__ import annotations

import functools
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from vidscope.analyzers.base import Item, Record, TrackRecord
from vidscope.engine.progress import ProgressSink, null_sink
from vidscope.engine.report import StageStats
from vidscope.engine.threads import run_threads
from vidscope.engine.topology import Node, Stage, build_topology
from vidscope.engine.workers import exit_code_of
from vidscope.errors import InputError
from vidscope.media.decode import AudioChannel, Decoder
from vidscope.media.frames import AudioChunk, Frame
from vidscope.media.probe import MediaInfo
from vidscope.timeline.result import track_lines

END = object()
"""What a feeder puts in an inbox after its last item."""
STOPPED = "stopped before the end of the input"
"""The error of an analyzer that the run's stop event stopped (nothing went wrong with it)."""

TrackDone = Callable[[str, str | None, StageStats], None]
"""Called on the analyzer's thread as it ends: its name, its error (None when it finished)
and its statistics."""


@dataclass
class Outcome:
    """What happened to each analyzer of one input."""

    errors: dict[str, str]
    exit_codes: dict[str, int]
    """Of the failed analyzers whose error carries one (see ``Node.exit_code``)."""
    stages: dict[str, StageStats]
    decode_warnings: list[str]
    decode_error: str | None


def put(node: Node, item: Any, stop: threading.Event) -> bool:
    """Blocking put that gives up when the run is being cancelled."""
    while not stop.is_set():
        try:
            node.inbox.put(item, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False


def decode_threads_left(readers: int) -> int:
    """FFmpeg threads for the video decoder when ``readers`` analyzers take frames or audio.

    Frame threading costs 25-40 % more CPU per frame than one thread (measured on MPEG-4 and
    H.264); it pays only on cores nobody else uses.  Each reading analyzer keeps about one
    core busy, so the decoder gets the rest, and decodes on its own thread when none are left.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) - readers)


def item_time(item: Item) -> float:
    """The media time up to which ``item`` covers the input."""
    if isinstance(item, AudioChunk):
        return item.end
    if isinstance(item, TrackRecord):
        return item.time
    return item.time + item.duration


def _nothing(name: str, error: str | None, stats: StageStats) -> None:
    """The default :data:`TrackDone`: a caller that only wants the :class:`Outcome`."""


class Scheduler:
    """Runs one input through a set of resident analyzers (whose workers may be local threads,
    local processes or remote actors: the scheduler only calls the
    :class:`~vidscope.engine.workers.Worker` methods)."""

    def __init__(
        self,
        media: MediaInfo,
        stages: Mapping[str, Stage],
        *,
        reused: Mapping[str, Path] | None = None,
        queue_size: int = 16,
        audio_channel: AudioChannel = "mix",
        decode_threads: int = 0,
        on_done: TrackDone = _nothing,
        sink: ProgressSink = null_sink,
        stop: threading.Event | None = None,
    ) -> None:
        """``stages`` maps each analyzer (already set up or not) to its worker and track files;
        ``reused`` maps a finished track to its file, replayed to the analyzers that read it
        instead of being recomputed.  ``decode_threads`` 0 leaves the cores no analyzer uses
        to the decoder."""
        self.media = media
        self.reused = dict(reused or {})
        self.topology = build_topology(media, stages, self.reused, queue_size)
        self.audio_channel = audio_channel
        self.decode_threads = decode_threads
        self.on_done = on_done
        self.sink = sink
        self.stop = stop or threading.Event()
        self.decode_stats = StageStats()
        self.decode_error: str | None = None
        self.decode_warnings: list[str] = []

    def run(self) -> Outcome:
        """Run every part on its own thread until the input ends or ``stop`` is set."""
        nodes = self.topology.nodes
        jobs: list[tuple[str, Callable[[], None]]] = [
            (f"vidscope-{n.name}", functools.partial(self.work, n)) for n in nodes.values()
        ]
        if self.topology.decoded:
            jobs.append(("vidscope-decode", self.decode))
        for track in self.topology.replay:
            jobs.append((f"vidscope-replay-{track}", functools.partial(self.replay, track)))
        run_threads(jobs, self.stop)
        return self.outcome()

    def outcome(self) -> Outcome:
        """Errors and statistics of every analyzer, once the parts have returned."""
        nodes = self.topology.nodes
        stages = {"decode": self.decode_stats, **{n: node.stats for n, node in nodes.items()}}
        errors = {n: node.error for n, node in nodes.items() if node.error}
        if self.decode_error:
            errors = {n: self.decode_error for n in nodes if n not in errors} | errors
        codes = {n: node.exit_code for n, node in nodes.items() if node.exit_code is not None}
        return Outcome(errors, codes, stages, self.decode_warnings, self.decode_error)

    def decode(self) -> None:
        """The decode feeder: one pass over the media, each frame and audio chunk put into the
        inboxes of the analyzers that asked for it, then an end for each of them."""
        topology = self.topology
        readers = len(topology.decoded)
        decoder = Decoder(
            self.media,
            list(topology.by_spec),
            bool(topology.audio),
            audio_channel=self.audio_channel,
            threads=self.decode_threads or decode_threads_left(readers),
            stop=self.stop,
        )
        try:
            it = iter(decoder)
            while True:
                with self.decode_stats.timed():
                    try:
                        spec, item = next(it)
                    except StopIteration:
                        break
                self.decode_stats.items += 1
                targets = topology.audio if spec is None else topology.by_spec[spec]
                for node in targets:
                    if not put(node, item, self.stop):
                        return
        except (av.error.FFmpegError, OSError) as exc:
            self.decode_error = f"decoding failed: {exc}"
        except Exception as exc:
            # Anything else is a stream the decoder could not follow: the tracks fed so far
            # are incomplete and must not be marked complete.
            self.decode_error = f"decoding failed: {type(exc).__name__}: {exc}"
        finally:
            self.decode_warnings = decoder.stats.warnings
            for node in topology.decoded:
                put(node, END, self.stop)

    def replay(self, track: str) -> None:
        """Feed the records of an earlier run's ``track`` from its file, then an end."""
        targets = self.topology.replay[track]
        try:
            for _, record in track_lines(self.reused[track]):
                item = TrackRecord(track, record)
                for node in targets:
                    if not put(node, item, self.stop):
                        return
        except InputError as exc:
            # A track file damaged since its run: its consumers fail instead of finishing on
            # part of it.
            for node in targets:
                node.error = node.error or str(exc)
        for node in targets:
            put(node, END, self.stop)

    def emit(self, node: Node, records: list[Record]) -> None:
        """Write ``records`` of ``node`` to their track files and pass each to the analyzers
        that read its track."""
        default = next(iter(node.writers))
        for record in records:
            track = record.pop("_track", default)
            node.writers[track].write(record)
            node.stats.records += 1
            for consumer in node.consumers:
                if track in consumer.inputs:
                    put(consumer, TrackRecord(track, record), self.stop)

    def progress(self, node: Node, t: float) -> None:
        """Tell the sink ``node`` has reached media time ``t`` (every half second of media,
        and at the end)."""
        duration = self.media.duration
        done = max(0.0, min(duration, t - self.media.start))
        if done - node.done >= 0.5 or done >= duration:
            node.done = done
            self.sink("progress", analyzer=node.name, done=round(done, 2), total=duration)

    def work(self, node: Node) -> None:
        """One analyzer's loop: set up and start its worker, take batches from its inbox until
        every upstream has ended, finish, pass an end on, and report how it ended.  The sink
        hears ``analyzer_state`` ``running`` once the worker is set up (its model loaded) and
        ``finishing`` once all its input is in.

        After an error the loop still drains the inbox, so its feeders never wait on it."""
        started = self._start(node)
        if started:
            self.sink("analyzer_state", analyzer=node.name, state="running")
        ends = 0
        while ends < node.upstreams and not self.stop.is_set():
            batch, ends = self._take(node, ends)
            if batch and node.error is None:
                self._process(node, batch)
        self._settle(node)
        if node.error is None and started:
            # What an analyzer keeps for the end (the last transcript window, clustering)
            # runs now, after its progress has reached the media's end.
            self.sink("analyzer_state", analyzer=node.name, state="finishing")
            try:
                with node.stats.timed():
                    records, node.stats.counters = node.worker.finish()
                self.emit(node, records)
                self.progress(node, self.media.end)
            except Exception as exc:
                node.error = f"{type(exc).__name__}: {exc}"
        for consumer in node.consumers:
            put(consumer, END, self.stop)
        self.on_done(node.name, node.error, node.stats)

    def _start(self, node: Node) -> bool:
        """Set up the worker (its model loads on first use, while the decoder already runs)
        and start its input; False when either fails or the node already failed."""
        try:
            t0 = time.perf_counter()
            node.worker.setup()
            node.stats.setup = time.perf_counter() - t0
        except Exception as exc:
            node.error = f"setup failed: {type(exc).__name__}: {exc}"
            node.exit_code = exit_code_of(exc)
            return False
        if node.error is not None:
            # A replayed input track was found damaged meanwhile.
            return False
        try:
            node.worker.start(self.media, frozenset(node.inputs))
        except Exception as exc:
            node.error = f"{type(exc).__name__}: {exc}"
            return False
        return True

    def _take(self, node: Node, ends: int) -> tuple[list[Item], int]:
        """Up to a batch of what is waiting in the inbox (at least one item or end, unless
        nothing comes for a moment), and the count of ends seen so far."""
        try:
            item = node.inbox.get(timeout=0.2)
        except queue.Empty:
            return [], ends
        batch_size = max(1, node.analyzer.resources.batch_size)
        batch: list[Item] = []
        while True:
            if item is END:
                ends += 1
            else:
                batch.append(item)
            if len(batch) >= batch_size or ends >= node.upstreams:
                return batch, ends
            try:
                item = node.inbox.get_nowait()
            except queue.Empty:
                return batch, ends

    def _process(self, node: Node, batch: list[Item]) -> None:
        try:
            with node.stats.timed():
                records = node.worker.process(batch)
            node.stats.items += len(batch)
            node.stats.batches += 1
            if node.stats.analyzed is not None:
                for it in batch:
                    if isinstance(it, Frame):
                        # A sampled frame is the first shown at or after its tick, so the tick
                        # lies within one frame duration before it.
                        step = node.frame_step or it.duration
                        lo = it.time - it.duration if node.frame_step else it.time
                        node.stats.analyzed.add(lo, it.time + step)
            self.emit(node, records)
            self.progress(node, item_time(batch[-1]))
        except Exception as exc:
            node.error = f"{type(exc).__name__}: {exc}"

    def _settle(self, node: Node) -> None:
        """Why ``node`` cannot finish although it did not fail itself, if it cannot."""
        if self.stop.is_set():
            node.error = node.error or STOPPED
        if node.error is None and node.decoded and self.decode_error:
            node.error = self.decode_error
        nodes = self.topology.nodes
        failed_upstream = [n for n in node.required_from if nodes[n].error]
        if node.error is None and failed_upstream:
            node.error = f"input track from {failed_upstream[0]!r} failed"

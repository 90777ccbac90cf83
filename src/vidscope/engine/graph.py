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
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

from vidscope.analyzers.base import (
    Analyzer,
    AudioChunk,
    Frame,
    FrameSpec,
    Item,
    Record,
    TrackRecord,
)
from vidscope.engine.progress import ProgressSink
from vidscope.engine.report import StageStats
from vidscope.engine.workers import Worker
from vidscope.errors import InputError
from vidscope.media.decode import AudioChannel, Decoder
from vidscope.media.probe import MediaInfo
from vidscope.timeline.bundle import TrackWriter
from vidscope.timeline.coverage import Coverage
from vidscope.timeline.result import track_lines

_END = object()
STOPPED = "stopped before the end of the input"
"""The error of an analyzer that the run's stop event stopped (nothing went wrong with it)."""


@dataclass
class Node:
    """One analyzer in the running graph."""

    name: str
    analyzer: Analyzer
    worker: Worker
    inbox: queue.Queue
    upstreams: int = 0
    inputs: set[str] = field(default_factory=set)
    required_from: set[str] = field(default_factory=set)
    """Analyzer names whose failure makes this analyzer's output meaningless."""
    consumers: list[Node] = field(default_factory=list)
    writers: dict[str, TrackWriter] = field(default_factory=dict)
    stats: StageStats = field(default_factory=StageStats)
    error: str | None = None
    done: float = 0.0
    frame_step: float | None = None
    """Seconds each sampled frame stands for (None: the frame's own duration)."""


@dataclass
class Outcome:
    """What happened to each analyzer of one input."""

    errors: dict[str, str]
    stages: dict[str, StageStats]
    decode_warnings: list[str]
    decode_error: str | None


def _put(node: Node, item: Any, stop: threading.Event) -> bool:
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


def _item_time(item: Item) -> float:
    if isinstance(item, AudioChunk):
        return item.end
    if isinstance(item, TrackRecord):
        return item.time
    return item.time + item.duration


class StreamGraph:
    """Runs one input through a set of resident analyzers (whose workers may be local threads,
    local processes or remote actors: the graph only calls the :class:`Worker` methods)."""

    def __init__(
        self, queue_size: int = 16, audio_channel: AudioChannel = "mix", decode_threads: int = 0
    ) -> None:
        self.queue_size = queue_size
        self.audio_channel = audio_channel
        self.decode_threads = decode_threads

    def run(
        self,
        media: MediaInfo,
        analyzers: dict[str, Analyzer],
        workers: dict[str, Worker],
        writers: dict[str, dict[str, TrackWriter]],
        reused: dict[str, Path],
        on_track_done: Callable[[str, str | None, StageStats], None],
        sink: ProgressSink,
        stop: threading.Event,
    ) -> Outcome:
        """Run ``analyzers`` (already set up) over ``media``.

        ``writers`` maps analyzer -> track -> writer; ``reused`` maps a finished track whose
        file is replayed to the analyzers that consume it instead of being recomputed.
        """

        def inbox(analyzer: Analyzer) -> queue.Queue:
            # Frames are large and get the configured depth; audio chunks and records are
            # small, and a deeper queue lets decoding run ahead while a model is still loading.
            frames = analyzer.requirements().frames is not None
            return queue.Queue(self.queue_size * (1 if frames else 8))

        nodes = {
            name: Node(name, a, workers[name], inbox(a), writers=writers[name])
            for name, a in analyzers.items()
        }
        track_owner = {t: n for n, node in nodes.items() for t in node.writers}
        by_spec: dict[FrameSpec, list[Node]] = {}
        audio_nodes: list[Node] = []
        replay: dict[str, list[Node]] = {}
        for node in nodes.values():
            req = node.analyzer.requirements()
            if req.frames is not None and media.video is not None:
                by_spec.setdefault(req.frames, []).append(node)
                node.stats.analyzed = Coverage()
                node.frame_step = 1 / req.frames.fps if req.frames.fps else None
            if req.audio and media.audio is not None:
                audio_nodes.append(node)
            if (req.frames is not None and media.video is not None) or (
                req.audio and media.audio is not None
            ):
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

        decode_nodes = list({id(n): n for ns in by_spec.values() for n in ns}.values())
        decode_nodes += [n for n in audio_nodes if n not in decode_nodes]
        decode_stats = StageStats()
        decode_info: dict[str, Any] = {"warnings": [], "error": None}

        def report_progress(node: Node, t: float) -> None:
            done = max(0.0, min(media.duration, t - media.start))
            if done - node.done >= 0.5 or done >= media.duration:
                node.done = done
                sink("progress", analyzer=node.name, done=round(done, 2), total=media.duration)

        def decode() -> None:
            decoder = Decoder(
                media,
                list(by_spec),
                bool(audio_nodes),
                audio_channel=self.audio_channel,
                threads=self.decode_threads or decode_threads_left(len(decode_nodes)),
                stop=stop,
            )
            try:
                it = iter(decoder)
                while True:
                    with decode_stats.timed():
                        try:
                            spec, item = next(it)
                        except StopIteration:
                            break
                    decode_stats.items += 1
                    targets = audio_nodes if spec is None else by_spec[spec]
                    for node in targets:
                        if not _put(node, item, stop):
                            return
            except (av.error.FFmpegError, OSError) as exc:
                decode_info["error"] = f"decoding failed: {exc}"
            except Exception as exc:
                # Anything else is a stream the decoder could not follow: the tracks fed so
                # far are incomplete and must not be marked complete.
                decode_info["error"] = f"decoding failed: {type(exc).__name__}: {exc}"
            finally:
                decode_info["warnings"] = decoder.stats.warnings
                for node in decode_nodes:
                    _put(node, _END, stop)

        def replay_track(track: str, path: Path, targets: list[Node]) -> None:
            try:
                for _, record in track_lines(path):
                    item = TrackRecord(track, record)
                    for node in targets:
                        if not _put(node, item, stop):
                            return
            except InputError as exc:
                # A track file damaged since its run: its consumers fail instead of finishing
                # on part of it.
                for node in targets:
                    node.error = node.error or str(exc)
            for node in targets:
                _put(node, _END, stop)

        def emit(node: Node, records: list[Record]) -> None:
            default = next(iter(node.writers))
            for record in records:
                track = record.pop("_track", default)
                node.writers[track].write(record)
                node.stats.records += 1
                for consumer in node.consumers:
                    if track in consumer.inputs:
                        _put(consumer, TrackRecord(track, record), stop)

        def work(node: Node) -> None:
            batch_size = max(1, node.analyzer.resources.batch_size)
            ends = 0
            started = False
            try:
                t0 = time.perf_counter()
                node.worker.setup()
                node.stats.setup = time.perf_counter() - t0
            except Exception as exc:
                node.error = f"setup failed: {type(exc).__name__}: {exc}"
            if node.error is None:
                try:
                    node.worker.start(media, frozenset(node.inputs))
                    started = True
                except Exception as exc:
                    node.error = f"{type(exc).__name__}: {exc}"
            while ends < node.upstreams and not stop.is_set():
                try:
                    first = node.inbox.get(timeout=0.2)
                except queue.Empty:
                    continue
                batch: list[Item] = []
                item = first
                while True:
                    if item is _END:
                        ends += 1
                    else:
                        batch.append(item)
                    if len(batch) >= batch_size or ends >= node.upstreams:
                        break
                    try:
                        item = node.inbox.get_nowait()
                    except queue.Empty:
                        break
                if batch and node.error is None:
                    try:
                        with node.stats.timed():
                            records = node.worker.process(batch)
                        node.stats.items += len(batch)
                        node.stats.batches += 1
                        if node.stats.analyzed is not None:
                            for it in batch:
                                if isinstance(it, Frame):
                                    # A sampled frame is the first shown at or after its tick,
                                    # so the tick lies within one frame duration before it.
                                    step = node.frame_step or it.duration
                                    lo = it.time - it.duration if node.frame_step else it.time
                                    node.stats.analyzed.add(lo, it.time + step)
                        emit(node, records)
                        report_progress(node, _item_time(batch[-1]))
                    except Exception as exc:
                        node.error = f"{type(exc).__name__}: {exc}"
            if stop.is_set():
                node.error = node.error or STOPPED
            if node.error is None and node in decode_nodes and decode_info["error"]:
                node.error = decode_info["error"]
            failed_upstream = [n for n in node.required_from if nodes[n].error]
            if node.error is None and failed_upstream:
                node.error = f"input track from {failed_upstream[0]!r} failed"
            if node.error is None and started:
                try:
                    with node.stats.timed():
                        records, node.stats.counters = node.worker.finish()
                    emit(node, records)
                    report_progress(node, media.end)
                except Exception as exc:
                    node.error = f"{type(exc).__name__}: {exc}"
            for consumer in node.consumers:
                _put(consumer, _END, stop)
            on_track_done(node.name, node.error, node.stats)

        jobs = [(f"vidscope-{n.name}", functools.partial(work, n)) for n in nodes.values()]
        if decode_nodes:
            jobs.append(("vidscope-decode", decode))
        for track, targets in replay.items():
            job = functools.partial(replay_track, track, reused[track], targets)
            jobs.append((f"vidscope-replay-{track}", job))
        _run_threads(jobs, stop)
        stages = {"decode": decode_stats, **{n: node.stats for n, node in nodes.items()}}
        errors = {n: node.error for n, node in nodes.items() if node.error}
        if decode_info["error"]:
            errors = {n: decode_info["error"] for n in nodes if n not in errors} | errors
        return Outcome(errors, stages, decode_info["warnings"], decode_info["error"])


def _run_threads(jobs: list[tuple[str, Callable[[], None]]], stop: threading.Event) -> None:
    """Run each ``(name, job)`` on its own thread and wait until every one has returned, even
    when the wait is interrupted.

    Ctrl-C raises in this (the main) thread.  An analyzer thread still inside a native library
    (onnxruntime, FFmpeg) when the interpreter finalises aborts the whole process (``terminate
    called without an active exception``), so the interrupt goes on only once every thread has
    seen ``stop`` and returned.  The wait is on events rather than ``Thread.join``: on Python
    3.11 a join cut short by an interrupt marks a thread that still runs as stopped
    (bpo-45274), and every later join returns at once.
    """
    running: list[tuple[threading.Thread, threading.Event]] = []

    def run(job: Callable[[], None], done: threading.Event) -> None:
        try:
            job()
        finally:
            done.set()

    try:
        for name, job in jobs:
            done = threading.Event()
            thread = threading.Thread(target=run, args=(job, done), name=name, daemon=True)
            running.append((thread, done))
            thread.start()
        for _, done in running:
            done.wait()
    except BaseException:
        stop.set()
        for thread, done in running:
            # A thread the interrupt kept from starting has no ident and nothing to wait for.
            while thread.ident is not None and not done.is_set():
                # A second Ctrl-C does not cut this short: that would be the same abort.
                with contextlib.suppress(KeyboardInterrupt):
                    done.wait()
        raise

"""The engine: resident analyzers and the run of one input into one result bundle.

An :class:`Engine` builds its analyzers once and sets each one up (loads its model) the first
time an input needs it; every later input of the same CLI run or server worker reuses them.
It is the local executor: inputs run one after another, the analyzers of each side by side.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from vidscope.analyzers.base import Analyzer
from vidscope.config import Settings, load_settings
from vidscope.engine.executor import InputResult
from vidscope.engine.graph import STOPPED, StreamGraph
from vidscope.engine.plan import make_plan, skip_reason
from vidscope.engine.progress import ProgressSink, null_sink
from vidscope.engine.report import ResourceMonitor, StageStats, build_report
from vidscope.engine.workers import Worker, WorkerFactory, make_worker
from vidscope.errors import AnalysisFailed, InputError, OutputError, VidscopeError
from vidscope.media.ingest import resolve_source
from vidscope.media.probe import MediaInfo, probe
from vidscope.timeline.bundle import BundleWriter, Status, TrackWriter, read_manifest, timestamp
from vidscope.timeline.gaps import find_gaps
from vidscope.timeline.lock import bundle_lock
from vidscope.timeline.result import Result, track_file


def _inside(root: Path, entry: dict[str, Any]) -> bool:
    """Whether a track entry's file exists inside the bundle ``root`` (see ``track_file``)."""
    try:
        return track_file(root, entry).exists()
    except InputError:
        return False


def _track_identity(analyzer: Analyzer) -> dict[str, Any]:
    model = analyzer.model_info()
    return {
        "analyzer": analyzer.name,
        "version": analyzer.version,
        "params": analyzer.params.model_dump(mode="json"),
        "model": None if model is None else {k: v for k, v in vars(model).items() if v},
    }


class Engine:
    """Analyzers loaded once, applied to any number of inputs (one at a time)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        sink: ProgressSink = null_sink,
        worker_factory: WorkerFactory = make_worker,
    ):
        self.settings = settings if settings is not None else load_settings().settings
        self.worker_factory = worker_factory
        self.plan = make_plan(self.settings)
        self.analyzers = self.plan.instantiate(self.settings)
        self.sink = sink
        self.graph = StreamGraph(
            self.settings.queue_size, self.settings.audio_channel, self.settings.decode_threads
        )
        self._workers: dict[str, Worker] = {}
        self._lock = threading.Lock()
        # Concurrency comes from running analyzers side by side; a BLAS pool per call on top
        # of that only adds thread wake-ups (a 64x513 matmul costs 3 ms with the pool, 0.05 ms
        # without on two cores).  The CLI sets the variable before NumPy loads; limiting the
        # pools at run time scans every loaded library (5 ms).
        if os.environ.get("OPENBLAS_NUM_THREADS") != "1":
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=1, user_api="blas")

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Tear down every worker (unload models, stop worker processes)."""
        for worker in self._workers.values():
            worker.close()
        self._workers.clear()

    def _worker(self, name: str) -> Worker:
        # Set up (model loaded) by the executor on the analyzer's own thread, the first time
        # an input needs it, so model loading overlaps with decoding.
        if name not in self._workers:
            isolation = self.settings.isolation.get(name)
            self._workers[name] = self.worker_factory(self.analyzers[name], isolation)
        return self._workers[name]

    def _active(self, media: MediaInfo) -> tuple[list[str], dict[str, str]]:
        active: list[str] = []
        skipped: dict[str, str] = {}
        # The plan already holds the producer of every track a planned analyzer needs;
        # registry.producers() would import every analyzer module to find them again.
        producers = {t: n for n, a in self.analyzers.items() for t in a.output_tracks()}
        for name in self.plan.order:
            analyzer = self.analyzers[name]
            reason = skip_reason(analyzer, media)
            if reason is None:
                for track in analyzer.requirements().tracks:
                    if producers.get(track) not in active:
                        reason = f"needs track {track!r}, skipped for this input"
                        break
            if reason is None:
                active.append(name)
            else:
                skipped[name] = reason
        return active, skipped

    def _inputs(self, name: str, available: set[str]) -> list[str]:
        """The tracks analyzer ``name`` consumes when ``available`` tracks exist."""
        req = self.analyzers[name].requirements()
        return [t for t in (*req.tracks, *req.optional_tracks) if t in available]

    def _earlier_tracks(
        self, output: Path, media: MediaInfo, active: list[str], force: bool
    ) -> dict[str, dict]:
        """Finished tracks of an earlier run on the same media that this run takes as they are.

        A planned analyzer's tracks are reused when its version, parameters, model and input
        tracks are unchanged (and not ``force``); tracks of analyzers this run does not plan
        stay in the bundle.  Either way only while every track they were derived from is
        taken too: a track computed from a track this run recomputes is dropped.
        """
        previous = read_manifest(output)
        if not previous or previous.get("media", {}).get("fingerprint") != media.fingerprint:
            return {}
        earlier = {
            t: e
            for t, e in previous.get("tracks", {}).items()
            if e.get("status") == Status.COMPLETE and "inputs" in e and _inside(output, e)
        }
        owner = {t: n for n in active for t in self.analyzers[n].output_tracks()}
        available = set(owner) | set(earlier)

        def same(track: str, entry: dict) -> bool:
            name = owner[track]
            identity = _track_identity(self.analyzers[name])
            return all(entry.get(k) == v for k, v in identity.items()) and sorted(
                entry["inputs"]
            ) == sorted(self._inputs(name, available))

        taken = {t: e for t, e in earlier.items() if t not in owner or (not force and same(t, e))}
        while True:
            drop = {t for t, e in taken.items() if any(i not in taken for i in e["inputs"])}
            # An analyzer's tracks are reused together or recomputed together.
            drop |= {
                t
                for t in taken
                if t in owner
                and any(o not in taken for o in self.analyzers[owner[t]].output_tracks())
            }
            if not drop:
                break
            for t in drop:
                del taken[t]
        # The flags say what this run did with a track, not what an earlier run did.
        return {
            t: {
                **{k: v for k, v in e.items() if k not in ("reused", "kept")},
                "reused" if t in owner else "kept": True,
            }
            for t, e in taken.items()
        }

    def analyze_many(
        self,
        jobs: Sequence[tuple[str | Path, str | Path]],
        *,
        force: bool = False,
        stop: threading.Event | None = None,
    ) -> Iterator[InputResult]:
        """Analyze ``(source, output)`` pairs one after another, yielding each outcome as it
        finishes; a failed input is reported and the others go on."""
        for source, output in jobs:
            if stop is not None and stop.is_set():
                return
            try:
                result = self.analyze(source, output, force=force, stop=stop)
            except VidscopeError as exc:
                yield InputResult(str(source), Path(output), error=exc)
            else:
                yield InputResult(str(source), Path(output), result=result)

    def analyze(
        self,
        source: str | Path,
        output: str | Path,
        *,
        force: bool = False,
        stop: threading.Event | None = None,
    ) -> Result:
        """Analyze one input into the bundle directory ``output`` and return the result.

        Raises :class:`~vidscope.errors.InputError` for unusable input (before anything is
        written), :class:`~vidscope.errors.BundleBusy` when another run is writing ``output``
        (unless the ``wait_for_bundle`` setting says to wait for it) and
        :class:`~vidscope.errors.AnalysisFailed` when some tracks did not finish (the bundle
        stays, marked incomplete).  A ``KeyboardInterrupt`` stops the analyzers, marks the
        bundle ``interrupted`` and goes on; a rerun resumes.
        """
        # The bundle's lock, then the bundle itself: held until its manifest says how the
        # run ended, whatever ends it.
        with self._lock, contextlib.ExitStack() as held:
            return self._analyze(source, Path(output), force, stop or threading.Event(), held)

    def _analyze(
        self,
        source: str | Path,
        output: Path,
        force: bool,
        stop: threading.Event,
        held: contextlib.ExitStack,
    ) -> Result:
        t0 = time.perf_counter()
        src = resolve_source(
            str(source),
            self.settings.cache_dir,
            self.settings.download.limits(self.settings.max_download_mb * 2**20),
            stop=stop,
        )
        media = probe(src.path)
        active, skipped = self._active(media)
        # Raises OutputError itself when the bundle's folder cannot be created.
        held.enter_context(
            bundle_lock(
                output,
                wait=self.settings.wait_for_bundle,
                stop=stop,
                on_wait=lambda message: self.sink("warning", message=message),
            )
        )
        taken = self._earlier_tracks(output, media, active, force)
        reused_names = [
            n for n in active if all(t in taken for t in self.analyzers[n].output_tracks())
        ]
        to_run = [n for n in active if n not in reused_names]

        bundle = BundleWriter(
            output,
            {
                "source": {"input": str(source), "path": str(src.path), "url": src.url},
                "media": media.to_dict(),
                "analyzers": active,
                "skipped": skipped,
                "unavailable": self.plan.unavailable,
                "added_dependencies": self.plan.added,
                "settings": {
                    "device": self.settings.device,
                    "audio_channel": self.settings.audio_channel,
                },
                "tracks": dict(taken),
            },
        )
        held.enter_context(bundle)
        self.sink(
            "input_started",
            input=str(source),
            output=str(output),
            duration=media.duration,
            analyzers=to_run,
            reused=reused_names,
            skipped=skipped,
        )
        writers: dict[str, dict[str, TrackWriter]] = {}
        per_second: dict[str, TrackWriter] = {}
        available = set(taken) | {t for n in to_run for t in self.analyzers[n].output_tracks()}
        for name in to_run:
            analyzer = self.analyzers[name]
            identity = {**_track_identity(analyzer), "inputs": self._inputs(name, available)}
            writers[name] = {}
            for track in analyzer.output_tracks():
                writers[name][track] = bundle.open_track(track, identity)
                if track in analyzer.per_second:
                    per_second[track] = writers[name][track]

        def on_track_done(name: str, error: str | None, stats: StageStats) -> None:
            if error is None:
                status, label = Status.COMPLETE, "done"
            elif error == STOPPED:
                status, label = Status.INTERRUPTED, Status.INTERRUPTED.value
            else:
                status, label = Status.FAILED, f"failed: {error}"
            for track, writer in writers[name].items():
                fields: dict[str, Any] = {
                    "status": status,
                    "timings": {
                        "busy_s": round(stats.busy, 3),
                        "items": stats.items,
                        "rtf": round(stats.busy / media.duration, 4),
                    },
                }
                if status == Status.FAILED:
                    fields["error"] = error
                try:
                    writer.close()
                except OutputError as exc:
                    fields.update(status=Status.FAILED, error=str(exc))
                fields["records"] = writer.records
                if track in per_second:
                    fields["coverage"] = round(writer.coverage.fraction(media.start, media.end), 4)
                # This runs on an analyzer's thread, with nobody to raise to: a manifest the
                # disk refuses is kept as ``bundle.failure`` and ends the run below.
                with contextlib.suppress(OutputError):
                    bundle.update_track(track, **fields)
            self.sink("track_done", analyzer=name, status=label)

        gpu = any(self.analyzers[n].resources.gpus > 0 for n in to_run)
        with ResourceMonitor(gpu=gpu and self.settings.device.startswith("cuda")) as monitor:
            workers = {}
            setup_errors: dict[str, str] = {}
            for name in to_run:
                try:
                    workers[name] = self._worker(name)
                except Exception as exc:
                    setup_errors[name] = f"{type(exc).__name__}: {exc}"
            runnable = {n: self.analyzers[n] for n in to_run if n in workers}
            for name, error in setup_errors.items():
                on_track_done(name, f"setup failed: {error}", StageStats())
            reused_paths = {t: output / e["path"] for t, e in taken.items()}
            outcome = self.graph.run(
                media,
                runnable,
                workers,
                {n: writers[n] for n in runnable},
                reused_paths,
                on_track_done,
                self.sink,
                stop,
            )
        if bundle.failure is not None:
            # The bundle's context marks it failed, with this error, on the way out.
            raise bundle.failure
        wall = time.perf_counter() - t0
        errors = {n: e for n, e in {**setup_errors, **outcome.errors}.items() if e != STOPPED}
        coverage = {
            t: e["coverage"]
            for t, e in bundle.manifest["tracks"].items()
            if e.get("coverage") is not None
        }
        report = build_report(
            wall=wall,
            duration=media.duration,
            span=(media.start, media.end),
            stages=outcome.stages,
            monitor=monitor,
            coverage=coverage,
            extra={
                # Model loading happens once per engine and overlaps with decoding: the first
                # input pays it, later ones do not.
                "setup_s": round(max((st.setup for st in outcome.stages.values()), default=0), 3),
                "reused_tracks": sorted(t for t, e in taken.items() if e.get("reused")),
                "kept_tracks": sorted(t for t, e in taken.items() if e.get("kept")),
            },
        )
        gaps = find_gaps(media, report["coverage"])
        if stop.is_set():
            status = Status.CANCELLED
        elif errors:
            status = Status.FAILED if outcome.decode_error else Status.INCOMPLETE
        else:
            status = Status.COMPLETE_WITH_GAPS if gaps else Status.COMPLETE
        bundle.set(
            status=status,
            report=report,
            warnings=outcome.decode_warnings,
            gaps=gaps,
            errors=errors,
            finished=timestamp(),
        )
        self.sink("input_done", output=str(output), status=status, report=report, errors=errors)
        if errors and not stop.is_set():
            first = next(iter(errors.items()))
            raise AnalysisFailed(
                f"{source}: {len(errors)} analyzer(s) failed, bundle left incomplete "
                f"({first[0]}: {first[1]})"
            )
        return Result(output)

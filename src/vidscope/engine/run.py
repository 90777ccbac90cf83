"""The run of one input into one result bundle, whatever executor asks for it.

An :class:`InputRunner` builds its analyzers once and sets each one up (loads its model) the
first time an input needs it; every later input reuses them.  For each input it resolves the
source, probes it, takes the bundle's lock, decides which earlier tracks to keep, opens the
track files, hands the analyzers to a :class:`~vidscope.engine.scheduler.Scheduler` and writes
the run report.  The local executor runs its inputs through one runner; a Ray video task keeps
one per worker process, with proxies to model actors as the workers of its model analyzers.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Any

from vidscope.config import Settings
from vidscope.engine.plan import Plan, make_plan, skip_reason
from vidscope.engine.progress import ProgressSink, null_sink
from vidscope.engine.report import ResourceMonitor, StageStats, build_report
from vidscope.engine.scheduler import STOPPED, Outcome, Scheduler
from vidscope.engine.topology import Stage
from vidscope.engine.tracks import TrackCloser, consumed_tracks, earlier_tracks, track_identity
from vidscope.engine.workers import Worker, WorkerFactory, make_worker
from vidscope.errors import AnalysisFailed
from vidscope.media.ingest import resolve_source
from vidscope.media.probe import MediaInfo, probe
from vidscope.result import Result
from vidscope.timeline.bundle import BundleWriter, Status, TrackWriter, timestamp
from vidscope.timeline.gaps import find_gaps
from vidscope.timeline.lock import bundle_lock


class InputRunner:
    """The analyzers of one settings, resident, and the run of one input through them (one
    input at a time: a worker holds the state of the input it serves)."""

    def __init__(
        self,
        settings: Settings,
        *,
        sink: ProgressSink = null_sink,
        worker_factory: WorkerFactory = make_worker,
        plan: Plan | None = None,
    ) -> None:
        self.settings = settings
        self.sink = sink
        """Where this runner's progress events go; may change between inputs."""
        self.worker_factory = worker_factory
        self.plan = plan if plan is not None else make_plan(settings)
        self.analyzers = self.plan.instantiate(settings)
        self.workers: dict[str, Worker] = {}
        """The workers made so far, by analyzer: made when an input first needs them."""
        self._lock = threading.Lock()
        # Concurrency comes from running analyzers side by side; a BLAS pool per call on top
        # of that only adds thread wake-ups (a 64x513 matmul costs 3 ms with the pool, 0.05 ms
        # without on two cores).  The CLI sets the variable before NumPy loads; limiting the
        # pools at run time scans every loaded library (5 ms).
        if os.environ.get("OPENBLAS_NUM_THREADS") != "1":
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=1, user_api="blas")

    def close(self) -> None:
        """Tear down every worker (unload models, stop worker processes)."""
        for worker in self.workers.values():
            worker.close()
        self.workers.clear()

    def _worker(self, name: str) -> Worker:
        # Set up (model loaded) by the scheduler on the analyzer's own thread, so model loading
        # overlaps with decoding.
        if name not in self.workers:
            isolation = self.settings.isolation.get(name)
            self.workers[name] = self.worker_factory(self.analyzers[name], isolation)
        return self.workers[name]

    def active(self, media: MediaInfo) -> tuple[list[str], dict[str, str]]:
        """The planned analyzers that can run on ``media``, and why the others cannot."""
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

    def run(
        self,
        source: str | Path,
        output: str | Path,
        *,
        force: bool = False,
        stop: threading.Event | None = None,
    ) -> Result:
        """The run behind :meth:`vidscope.Engine.analyze` and every executor's input: one
        input into the bundle directory ``output``, with the errors that method documents."""
        # The bundle's lock, then the bundle itself: held until its manifest says how the
        # run ended, whatever ends it.
        with self._lock, contextlib.ExitStack() as held:
            return self._run(source, Path(output), force, stop or threading.Event(), held)

    def _run(
        self,
        source: str | Path,
        output: Path,
        force: bool,
        stop: threading.Event,
        held: contextlib.ExitStack,
    ) -> Result:
        t0 = time.perf_counter()
        settings = self.settings
        src = resolve_source(
            str(source),
            settings.cache_dir,
            settings.download.limits(settings.max_download_mb * 2**20),
            stop=stop,
        )
        media = probe(src.path)
        active, skipped = self.active(media)
        # Raises OutputError itself when the bundle's folder cannot be created.
        held.enter_context(
            bundle_lock(
                output,
                wait=settings.wait_for_bundle,
                stop=stop,
                on_wait=lambda message: self.sink("warning", message=message),
            )
        )
        taken = earlier_tracks(output, media, {n: self.analyzers[n] for n in active}, force)
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
                "settings": {"device": settings.device, "audio_channel": settings.audio_channel},
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
        writers = self._open_tracks(bundle, to_run, set(taken))
        per_second = {t for n in to_run for t in self.analyzers[n].per_second}
        on_done = TrackCloser(bundle, media, writers, per_second, self.sink)

        gpu = any(self.analyzers[n].resources.gpus > 0 for n in to_run)
        with ResourceMonitor(gpu=gpu and settings.device.startswith("cuda")) as monitor:
            stages: dict[str, Stage] = {}
            setup_errors: dict[str, str] = {}
            for name in to_run:
                try:
                    stages[name] = Stage(self.analyzers[name], self._worker(name), writers[name])
                except Exception as exc:
                    setup_errors[name] = f"{type(exc).__name__}: {exc}"
            for name, error in setup_errors.items():
                on_done(name, f"setup failed: {error}", StageStats())
            outcome = Scheduler(
                media,
                stages,
                reused={t: output / e["path"] for t, e in taken.items()},
                queue_size=settings.queue_size,
                audio_channel=settings.audio_channel,
                decode_threads=settings.decode_threads,
                on_done=on_done,
                sink=self.sink,
                stop=stop,
            ).run()
        if bundle.failure is not None:
            # The bundle's context marks it failed, with this error, on the way out.
            raise bundle.failure
        errors = {n: e for n, e in {**setup_errors, **outcome.errors}.items() if e != STOPPED}
        report = self._report(bundle, media, outcome, monitor, taken, time.perf_counter() - t0)
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
            codes = [c for n, c in outcome.exit_codes.items() if n in errors]
            raise AnalysisFailed(
                f"{source}: {len(errors)} analyzer(s) failed, bundle left incomplete "
                f"({first[0]}: {first[1]})",
                max(codes, default=AnalysisFailed.exit_code),
            )
        return Result(output)

    def _open_tracks(
        self, bundle: BundleWriter, to_run: list[str], taken: set[str]
    ) -> dict[str, dict[str, TrackWriter]]:
        """A new track file for each track of ``to_run``, by analyzer; each entry names the
        tracks its analyzer reads, so a later run knows what it was derived from."""
        available = taken | {t for n in to_run for t in self.analyzers[n].output_tracks()}
        writers: dict[str, dict[str, TrackWriter]] = {}
        for name in to_run:
            analyzer = self.analyzers[name]
            identity = {
                **track_identity(analyzer),
                "inputs": consumed_tracks(analyzer, available),
            }
            writers[name] = {t: bundle.open_track(t, identity) for t in analyzer.output_tracks()}
        return writers

    @staticmethod
    def _report(
        bundle: BundleWriter,
        media: MediaInfo,
        outcome: Outcome,
        monitor: ResourceMonitor,
        taken: dict[str, dict],
        wall: float,
    ) -> dict[str, Any]:
        """The run report: where the time went, memory, coverage, what was reused."""
        coverage = {
            t: e["coverage"]
            for t, e in bundle.manifest["tracks"].items()
            if e.get("coverage") is not None
        }
        return build_report(
            wall=wall,
            duration=media.duration,
            span=(media.start, media.end),
            stages=outcome.stages,
            monitor=monitor,
            coverage=coverage,
            extra={
                # Model loading happens once per runner and overlaps with decoding: the first
                # input pays it, later ones do not.
                "setup_s": round(max((st.setup for st in outcome.stages.values()), default=0), 3),
                "reused_tracks": sorted(t for t, e in taken.items() if e.get("reused")),
                "kept_tracks": sorted(t for t, e in taken.items() if e.get("kept")),
            },
        )

"""Analysis workers: threads that take jobs from the store and run them on long-lived engines.

Each worker keeps its engines (one per distinct job settings, least recently used dropped
first), so models stay loaded from one job to the next.  A job that raises fails with its
error; the worker drops that engine, in case the error left it broken, and goes on.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vidscope.config import DownloadSettings, Settings
from vidscope.engine.executor import Analyzes
from vidscope.engine.factory import make_executor
from vidscope.engine.plan import Plan
from vidscope.engine.progress import ProgressSink
from vidscope.errors import AnalysisFailed, InputError, VidscopeError
from vidscope.server.config import ServerConfig
from vidscope.server.job_settings import SettingsCache, key_of
from vidscope.server.progress import ProgressBoard
from vidscope.server.store import Job, JobStore, Status
from vidscope.server.urls import UrlPolicy, fetch_media
from vidscope.timeline.result import Result

log = logging.getLogger("vidscope.server")


EngineFactory = Callable[[Settings, Plan, ProgressSink], Analyzes]


def make_engine(settings: Settings, plan: Plan, sink: ProgressSink) -> Analyzes:
    """The executor the job's settings name (this process, or a Ray cluster), on the plan
    made when the job was submitted."""
    return make_executor(settings, sink, plan=plan)


class WorkerPool:
    """``config.workers`` threads running jobs; cancellation and shutdown through stop events."""

    def __init__(
        self,
        config: ServerConfig,
        store: JobStore,
        board: ProgressBoard,
        *,
        engine_factory: EngineFactory = make_engine,
        engines_per_worker: int = 2,
        download: DownloadSettings | None = None,
    ) -> None:
        self.config = config
        # The operator's limits on URL jobs, never a job's own settings (a client's choice).
        self.download = download or DownloadSettings()
        self.store = store
        self.board = board
        self.policy = UrlPolicy(config.allow_private_urls)
        self.engine_factory = engine_factory
        self.job_settings = SettingsCache()
        """Resolved at submission, taken by the worker that runs the job."""
        self.engines_per_worker = engines_per_worker
        self.stopping = False
        self._wake = threading.Condition()
        self._lock = threading.Lock()
        self._running: dict[str, threading.Event] = {}
        self._cancelled: set[str] = set()
        self._threads = [
            threading.Thread(target=self._work, name=f"vidscope-worker-{i}", daemon=True)
            for i in range(config.workers)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop running jobs (they go back to the queue, to resume on the next start)."""
        self.stopping = True
        with self._lock:
            for event in self._running.values():
                event.set()
        self.notify()
        for thread in self._threads:
            thread.join(timeout)

    def notify(self) -> None:
        """A job was queued: wake an idle worker."""
        with self._wake:
            self._wake.notify()

    def cancel(self, job_id: str) -> None:
        """Stop ``job_id`` if a worker runs it or is about to (the store has it as running)."""
        with self._lock:
            self._cancelled.add(job_id)
            if job_id in self._running:
                self._running[job_id].set()

    def _work(self) -> None:
        _Worker(self).run()

    def _idle(self) -> None:
        with self._wake:
            self._wake.wait(timeout=2.0)  # a safety net: submissions notify

    def _register(self, job_id: str) -> threading.Event:
        stop = threading.Event()
        with self._lock:
            self._running[job_id] = stop
            if job_id in self._cancelled or self.stopping:
                stop.set()
        return stop

    def _unregister(self, job_id: str) -> bool:
        """Forget a finished run; return whether its owner cancelled it."""
        with self._lock:
            self._running.pop(job_id, None)
            cancelled = job_id in self._cancelled
            self._cancelled.discard(job_id)
        return cancelled


class _Worker:
    """One worker thread's loop, its engines, and the job it runs now."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self.config = pool.config
        self.store = pool.store
        self.board = pool.board
        self.engines: OrderedDict[str, Analyzes] = OrderedDict()
        self.job_id: str | None = None

    def sink(self, event: str, **data: Any) -> None:
        # Engines call this from their analyzer threads, always during one job of ours.
        if self.job_id is not None:
            self.board.event(self.job_id, event, data)

    def run(self) -> None:
        try:
            while not self.pool.stopping:
                try:
                    job = self.store.claim()
                    if job is None:
                        self.pool._idle()
                        continue
                    self.job_id = job.id
                    self.run_job(job)
                except Exception:
                    # The store itself failed (disk full?): keep the thread, try again later;
                    # a job caught in between is re-queued by the next start.
                    log.exception("worker: job bookkeeping failed")
                    self.pool._idle()
                finally:
                    self.job_id = None
        finally:
            for engine in self.engines.values():
                engine.close()

    def engine(self, job: Job) -> Analyzes:
        key = key_of(job.settings)
        if key in self.engines:
            self.engines.move_to_end(key)
        else:
            resolved = self.pool.job_settings.get(job.settings)
            self.engines[key] = self.pool.engine_factory(
                resolved.settings, resolved.plan, self.sink
            )
            while len(self.engines) > self.pool.engines_per_worker:
                self.engines.popitem(last=False)[1].close()
        return self.engines[key]

    def input(self, job: Job, stop: threading.Event) -> Path:
        path = self.config.data_dir / job.input
        if job.source_kind == "upload" or path.is_file():
            return path
        # A URL job not fetched yet (or interrupted while fetching: start over).  A cancel
        # or a shutdown (``stop``) ends the download within a second, even a stalled one.
        self.board.set_phase(job.id, "downloading")
        file = fetch_media(
            job.source,
            self.config.jobs_dir / job.id / "input",
            policy=self.pool.policy,
            limits=self.pool.download.limits(
                self.config.max_upload_mb * 2**20, self.config.url_timeout_s
            ),
            stop=stop,
            on_progress=lambda received, total: self.board.download(job.id, received, total),
        )
        self.store.set_input(job.id, str(file.relative_to(self.config.data_dir)))
        return file

    def run_job(self, job: Job) -> None:
        stop = self.pool._register(job.id)
        self.board.start(job.id, "starting")
        status: Status = "failed"
        error: str | None = None
        report: dict[str, Any] = {}
        bundle = self.config.data_dir / job.result_dir
        try:
            source = self.input(job, stop)
            self.board.set_phase(job.id, "analyzing")
            result = self.engine(job).analyze(source, bundle, stop=stop)
            report = result.run_report if result is not None else {}
            status = "succeeded"
        except VidscopeError as exc:
            error = self.config.relative(str(exc))
            if isinstance(exc, AnalysisFailed):
                report = _bundle_report(bundle)
        except Exception as exc:
            log.exception("job %s: worker error", job.id)
            error = self.config.relative(f"internal error: {type(exc).__name__}: {exc}")
            broken = self.engines.pop(key_of(job.settings), None)
            if broken is not None:
                broken.close()
        user_cancelled = self.pool._unregister(job.id)
        state = self.board.clear(job.id) or {}
        if stop.is_set() and not user_cancelled:
            # Server shutdown: the next start resumes it from its finished tracks.
            self.store.requeue(job.id)
            return
        if stop.is_set():
            status, error = "cancelled", None
        busy = {name: s["busy_s"] for name, s in report.get("stages", {}).items()}
        self.store.finish(job.id, status, error=error, progress=state, busy=busy)
        if self.store.is_deleted(job.id):
            shutil.rmtree(self.config.jobs_dir / job.id, ignore_errors=True)
            self.store.remove(job.id)
        log.info("job %s: %s%s", job.id, status, f" ({error})" if error else "")


def _bundle_report(bundle: Path) -> dict[str, Any]:
    """The run report of a bundle whose run ended with failed tracks: the engine wrote it into
    the manifest before raising."""
    try:
        return Result(bundle).run_report
    except InputError:
        return {}

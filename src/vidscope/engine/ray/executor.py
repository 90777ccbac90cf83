"""The driver side of the Ray executor: actor pools, video tasks, progress, the run report."""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import ray
import ray.exceptions
from ray.util.queue import Queue

from vidscope.analyzers.base import Analyzer
from vidscope.config import Settings
from vidscope.engine.executor import InputResult
from vidscope.engine.plan import make_plan
from vidscope.engine.progress import ProgressSink, null_sink
from vidscope.engine.ray.actors import AnalyzerActor
from vidscope.engine.ray.task import ActorLost, run_video
from vidscope.errors import AnalysisFailed, UsageError, VidscopeError
from vidscope.timeline.result import Result

NAMESPACE = "vidscope"
# Share of a GPU for a model that does not declare one (detectors, OCR, Whisper): four such
# models fit on one GPU, while a VLM declares a whole one.
SMALL_MODEL_GPU = 0.25

_ray_lock = threading.Lock()
_ray_users = 0
_ray_started = False


def _check_reachable(address: str) -> None:
    """Fail fast on a cluster address nothing answers at: ``ray.init`` would retry for
    minutes before giving up."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
            pass
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot reach the Ray cluster at {address}: {exc}") from None


def _connect(settings: Settings) -> None:
    """Join the configured cluster, or start a local Ray for this process (once)."""
    global _ray_users, _ray_started
    with _ray_lock:
        if not ray.is_initialized():
            common: dict[str, Any] = {
                "namespace": NAMESPACE,
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": "WARNING",
            }
            try:
                if settings.ray.address:
                    _check_reachable(settings.ray.address)
                    ray.init(address=settings.ray.address, **common)
                else:
                    ray.init(
                        num_cpus=settings.ray.num_cpus or os.cpu_count(),
                        object_store_memory=settings.ray.object_store_mb * 2**20,
                        **common,
                    )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = settings.ray.address or "a local Ray"
                raise UsageError(f"cannot start or reach {where}: {exc}") from None
            _ray_started = True
        _ray_users += 1


def _disconnect() -> None:
    global _ray_users, _ray_started
    with _ray_lock:
        _ray_users -= 1
        if _ray_users == 0 and _ray_started:
            # Actors this process created are owned by it and end with it.
            ray.shutdown()
            _ray_started = False


class _PoolRegistry:
    """Actor pools of this process, shared by its executors (the server keeps one executor
    per worker thread and settings) and killed when the last one closes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pools: dict[str, tuple[list[Any], int]] = {}

    def acquire(
        self,
        key: str,
        analyzer: Analyzer,
        device: str,
        concurrent: bool,
        count: int,
        options: dict[str, Any],
    ) -> list[Any]:
        with self.lock:
            actors, users = self.pools.get(key, ([], 0))
            if not actors:
                actor_cls = ray.remote(AnalyzerActor)
                params = analyzer.params.model_dump(mode="json")
                actors = [
                    actor_cls.options(**options).remote(analyzer.name, params, device, concurrent)
                    for _ in range(count)
                ]
            self.pools[key] = (actors, users + 1)
            return actors

    def release(self, key: str) -> None:
        with self.lock:
            actors, users = self.pools.pop(key)
            if users > 1:
                self.pools[key] = (actors, users - 1)
                return
        for actor in actors:
            with contextlib.suppress(Exception):
                ray.kill(actor)


_pools = _PoolRegistry()


def _identity(analyzer: Analyzer) -> str:
    """Same analyzer, parameters and device -> the same actors."""
    blob = orjson.dumps(
        [analyzer.name, analyzer.version, analyzer.params.model_dump(mode="json"), analyzer.device],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(blob).hexdigest()[:12]


class _Relay:
    """Drains the progress queue on one thread and routes each event to its run."""

    def __init__(self) -> None:
        self.queue = Queue(actor_options={"num_cpus": 0, "namespace": NAMESPACE})
        self.routes: dict[int, _RunProgress] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._drain, name="vidscope-ray-relay", daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while not self.stop.is_set():
            try:
                video, event, data = self.queue.get(timeout=0.2)
            except Exception:  # ray.util.queue.Empty, or Ray shutting down
                continue
            self.dispatch(video, event, data)

    def dispatch(self, video: int, event: str, data: dict[str, Any]) -> None:
        with self.lock:
            run = self.routes.get(video)
        if run is not None:
            run.handle(video, event, data)

    def flush(self) -> None:
        """Deliver what is still queued (the last events of a video that just finished)."""
        while True:
            try:
                size = self.queue.qsize()
                items = self.queue.get_nowait_batch(size) if size else []
            except Exception:
                return
            if not items:
                return
            for video, event, data in items:
                self.dispatch(video, event, data)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        with contextlib.suppress(Exception):
            self.queue.shutdown(force=True)


class _RunProgress:
    """One bar per analyzer across all videos (in videos done), and per-video status."""

    def __init__(
        self, sink: ProgressSink, analyzers: list[str], jobs: list[tuple[str, Path]], base: int
    ) -> None:
        self.sink = sink
        self.base = base
        """The relay's number of this run's first video."""
        self.analyzers = analyzers
        self.jobs = jobs
        self.done: dict[str, dict[int, float]] = {a: {} for a in analyzers}
        self.lock = threading.Lock()
        self.sent: dict[str, float] = {}
        sink(
            "input_started",
            input=f"{len(jobs)} input(s)",
            output=str(jobs[0][1].parent) if len(jobs) > 1 else str(jobs[0][1]),
            duration=float(len(jobs)),
            analyzers=analyzers,
            reused=[],
            skipped={},
        )

    def _set(self, analyzer: str, video: int, fraction: float) -> None:
        if analyzer not in self.done:
            return
        self.done[analyzer][video] = max(self.done[analyzer].get(video, 0.0), fraction)
        total = sum(self.done[analyzer].values())
        if total - self.sent.get(analyzer, -1.0) >= 0.02 or fraction >= 1.0:
            self.sent[analyzer] = total
            self.sink("progress", analyzer=analyzer, done=round(total, 3), total=len(self.jobs))

    def handle(self, video: int, event: str, data: dict[str, Any]) -> None:
        video -= self.base
        with self.lock:
            if event == "input_started":
                running = set(data["analyzers"]) | set(data.get("reused", []))
                for name in self.analyzers:
                    if name not in running:
                        self._set(name, video, 1.0)
                for name in data.get("reused", []):
                    self._set(name, video, 1.0)
            elif event == "progress":
                self._set(data["analyzer"], video, data["done"] / (data["total"] or 1.0))
            elif event == "track_done":
                self._set(data["analyzer"], video, 1.0)
            elif event == "retry":
                source = self.jobs[video][0]
                self.sink("warning", message=f"{source}: a model actor was lost, retrying")

    def finished(self, video: int, status: str) -> None:
        with self.lock:
            for name in self.analyzers:
                self._set(name, video, 1.0)
            source, output = self.jobs[video]
            self.sink("video_done", input=source, output=str(output), status=status)

    def close(self, report: dict[str, Any], errors: dict[str, str]) -> None:
        for name in self.analyzers:
            self.sink("track_done", analyzer=name, status="done")
        status = "failed" if errors else "complete"
        self.sink("input_done", output="", status=status, report=report, errors=errors)


class RayExecutor:
    """Runs inputs as Ray tasks, with each model-backed analyzer in a pool of actors.

    Interchangeable with the local :class:`~vidscope.engine.engine.Engine`
    (:class:`~vidscope.engine.executor.Executor`).  Model actors live as long as this process
    holds the executor, so they serve every input of a CLI run or every job of the server.
    """

    def __init__(self, settings: Settings, *, sink: ProgressSink = null_sink) -> None:
        from vidscope.engine.ray import require_ray

        require_ray()
        self.settings = settings
        self.sink = sink
        self.plan = make_plan(settings)  # unknown or unavailable analyzers fail here
        analyzers = self.plan.instantiate(settings)
        _connect(settings)
        self._pool_keys: list[str] = []
        try:
            self.cpus = float(ray.cluster_resources().get("CPU", 1.0))
            self.max_videos = settings.ray.max_videos or max(1, int(self.cpus // 2))
            pooled = {
                n: a
                for n, a in analyzers.items()
                if a.model_info() is not None or a.resources.gpus > 0
            }
            # What is free now, not the cluster's size: actors of other runs keep their share.
            self.pools = self._make_pools(pooled, ray.available_resources())
            self.relay = _Relay()
        except BaseException:
            self._release()
            raise
        self._settings_json = settings.model_dump_json()
        self._task = ray.remote(run_video).options(
            num_cpus=1,
            max_retries=settings.ray.retries,
            retry_exceptions=[ActorLost],
        )
        self._lock = threading.Lock()
        self._videos = 0
        self._load: collections.Counter[tuple[str, int]] = collections.Counter()
        self._closed = False
        self.last_report: dict[str, Any] = {}

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _make_pools(
        self, pooled: dict[str, Analyzer], resources: dict[str, float]
    ) -> dict[str, list[Any]]:
        counts = {n: max(1, self.settings.ray.actors.get(n, 1)) for n in pooled}
        # Ray's CPU counts are logical: the video tasks get one each, and the actors share what
        # is left in proportion to what they declare, so every actor can be placed even on a
        # two-core machine (they then time-share the cores, as local threads would).
        demand = sum(a.resources.cpus * counts[n] for n, a in pooled.items()) or 1.0
        budget = max(float(resources.get("CPU", 0.0)) - self.max_videos, 0.0)
        scale = min(1.0, budget / demand)
        cuda = self.settings.device.startswith("cuda")
        gpus_free = float(resources.get("GPU", 0.0))
        pools: dict[str, list[Any]] = {}
        for name, analyzer in pooled.items():
            gpu = 0.0
            if cuda:
                gpu = self.settings.ray.gpus.get(name) or analyzer.resources.gpus or SMALL_MODEL_GPU
                if gpu > gpus_free:
                    raise UsageError(
                        f"{name} asks for {gpu} GPU but the Ray cluster has {gpus_free:g} free; "
                        "use --device cpu or a cluster with GPUs"
                    )
            share = self.settings.ray.batch_across_videos
            concurrent = analyzer.concurrent_inputs and (cuda if share is None else share)
            options = {
                "num_cpus": max(0.01, round(analyzer.resources.cpus * scale, 2)),
                "num_gpus": gpu,
                "max_restarts": -1,
                "max_task_retries": 0,
                # A slot per video in flight when their calls run at once, and one for stats.
                "max_concurrency": self.max_videos + 1 if concurrent else 2,
            }
            # Ray hands each GPU actor its own CUDA_VISIBLE_DEVICES, where it is device 0.
            device = "cuda" if cuda else analyzer.device
            key = f"{name}-{_identity(analyzer)}-{counts[name]}-{int(concurrent)}"
            pools[name] = _pools.acquire(key, analyzer, device, concurrent, counts[name], options)
            self._pool_keys.append(key)
        return pools

    def _assign(self) -> dict[str, tuple[int, Any]]:
        """For each pool, the actor with the fewest videos in flight."""
        chosen: dict[str, tuple[int, Any]] = {}
        for name, pool in self.pools.items():
            i = min(range(len(pool)), key=lambda k: self._load[(name, k)])
            self._load[(name, i)] += 1
            chosen[name] = (i, pool[i])
        return chosen

    def analyze(
        self,
        source: str | Path,
        output: str | Path,
        *,
        force: bool = False,
        stop: threading.Event | None = None,
    ) -> Result:
        """One input (the server's jobs); raises like :meth:`Engine.analyze`."""
        for outcome in self.analyze_many([(source, output)], force=force, stop=stop):
            if outcome.error is not None:
                raise outcome.error
            assert outcome.result is not None
            return outcome.result
        raise AnalysisFailed(f"{source}: cancelled")

    def analyze_many(
        self,
        jobs: Sequence[tuple[str | Path, str | Path]],
        *,
        force: bool = False,
        stop: threading.Event | None = None,
    ) -> Iterator[InputResult]:
        """Run every ``(source, output)`` pair, at most ``max_videos`` at a time, yielding
        each outcome as it finishes; a failed input is reported and the others go on."""
        stop = stop or threading.Event()
        todo = [(str(s), Path(o)) for s, o in jobs]
        if not todo:
            return
        t0 = time.perf_counter()
        with self._lock:
            base = self._videos
            self._videos += len(todo)
        progress = _RunProgress(self.sink, self.plan.order, todo, base)
        with self.relay.lock:
            for i in range(len(todo)):
                self.relay.routes[base + i] = progress
        pending = collections.deque(range(len(todo)))
        running: dict[Any, tuple[int, dict[str, tuple[int, Any]]]] = {}
        errors: dict[str, str] = {}
        try:
            while pending or running:
                while pending and len(running) < self.max_videos and not stop.is_set():
                    i = pending.popleft()
                    with self._lock:
                        chosen = self._assign()
                    source, output = todo[i]
                    ref = self._task.remote(
                        self._settings_json,
                        source,
                        str(output.resolve()),
                        force,
                        {n: actor for n, (_, actor) in chosen.items()},
                        self.relay.queue,
                        base + i,
                    )
                    running[ref] = (i, chosen)
                if stop.is_set():
                    for ref in running:
                        ray.cancel(ref)
                    pending.clear()
                ready, _ = ray.wait(list(running), num_returns=1, timeout=0.2)
                for ref in ready:
                    i, chosen = running.pop(ref)
                    with self._lock:
                        for name, (k, _) in chosen.items():
                            self._load[(name, k)] -= 1
                    self.relay.flush()
                    outcome = self._outcome(ref, *todo[i], stop)
                    if outcome.error is not None:
                        errors[outcome.source] = str(outcome.error)
                    progress.finished(i, "failed" if outcome.error else outcome.result.status)
                    yield outcome
        finally:
            for ref in running:
                ray.cancel(ref)
            with self.relay.lock:
                for i in range(len(todo)):
                    self.relay.routes.pop(base + i, None)
            self.last_report = {
                "executor": "ray",
                "wall_s": round(time.perf_counter() - t0, 3),
                "inputs": len(todo),
                "failed": len(errors),
                "max_videos": self.max_videos,
                "actors": self.actor_stats(),
            }
            progress.close(self.last_report, errors)

    def _outcome(self, ref: Any, source: str, output: Path, stop: threading.Event) -> InputResult:
        try:
            reply = ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            return InputResult(source, output, error=AnalysisFailed(f"{source}: cancelled"))
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, ActorLost):
                message = f"{source}: a model actor died {self.settings.ray.retries + 1} times: "
                return InputResult(source, output, error=AnalysisFailed(message + str(cause)))
            if isinstance(cause, VidscopeError):
                return InputResult(source, output, error=cause)
            error = AnalysisFailed(f"{source}: {type(cause).__name__}: {cause}")
            return InputResult(source, output, error=error)
        except ray.exceptions.RayError as exc:
            # The task's worker died more often than the retries allow (e.g. out of memory).
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return InputResult(source, output, error=AnalysisFailed(f"{source}: {first}"))
        if "error" in reply:
            return InputResult(source, output, error=reply["error"])
        if stop.is_set():
            return InputResult(source, output, error=AnalysisFailed(f"{source}: cancelled"))
        return InputResult(source, output, result=Result(output))

    def actor_stats(self) -> dict[str, dict[str, Any]]:
        """Per actor: busy, idle and setup seconds, calls, items and videos served."""
        refs = {
            f"{name}#{i}": actor.stats.remote()
            for name, pool in self.pools.items()
            for i, actor in enumerate(pool)
        }
        out: dict[str, dict[str, Any]] = {}
        for key, ref in refs.items():
            try:
                out[key] = ray.get(ref, timeout=30)
            except ray.exceptions.RayError as exc:
                out[key] = {"error": type(exc).__name__}
        return out

    def close(self) -> None:
        """Stop the progress relay, kill the model actors no other executor of this process
        uses, and leave Ray (shutting it down if this process started it)."""
        if self._closed:
            return
        self._closed = True
        self.relay.close()
        self._release()

    def _release(self) -> None:
        for key in self._pool_keys:
            _pools.release(key)
        self._pool_keys.clear()
        _disconnect()

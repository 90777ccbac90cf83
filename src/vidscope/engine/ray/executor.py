"""The driver side of the Ray executor: video tasks submitted, their outcomes and the run report."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import ray
import ray.exceptions

from vidscope.config import Settings
from vidscope.engine.executor import InputResult
from vidscope.engine.plan import Plan, make_plan
from vidscope.engine.progress import ProgressSink, null_sink
from vidscope.engine.ray.cluster import connect, disconnect
from vidscope.engine.ray.pools import acquire_pools, release_pools
from vidscope.engine.ray.relay import Relay, RunProgress
from vidscope.engine.ray.task import ActorLost, run_video
from vidscope.errors import AnalysisFailed, VidscopeError
from vidscope.result import Result


class RayExecutor:
    """Runs inputs as Ray tasks, with each model-backed analyzer in a pool of actors.

    Interchangeable with the local :class:`~vidscope.engine.local.Engine`
    (:class:`~vidscope.engine.executor.Executor`).  Model actors live as long as this process
    holds the executor, so they serve every input of a CLI run or every job of the server.
    """

    def __init__(
        self, settings: Settings, *, sink: ProgressSink = null_sink, plan: Plan | None = None
    ) -> None:
        from vidscope.engine.ray import require_ray

        require_ray()
        self.settings = settings
        self.sink = sink
        # Unknown or unavailable analyzers fail here, unless the caller planned already.
        self.plan = plan if plan is not None else make_plan(settings)
        analyzers = self.plan.instantiate(settings)
        connect(settings)
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
            self.pools = acquire_pools(
                settings, pooled, ray.available_resources(), self.max_videos, self._pool_keys
            )
            self.relay = Relay()
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
        progress = RunProgress(self.sink, self.plan.order, todo, base)
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
                    status = "failed" if outcome.result is None else outcome.result.status
                    progress.finished(i, status)
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
        release_pools(self._pool_keys)
        disconnect()

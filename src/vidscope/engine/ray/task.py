"""The video task: one input through the same scheduler as the local executor, with each
model-backed analyzer's worker a proxy to its actor.

A Ray worker process runs one task at a time and keeps its :class:`InputRunner` between
tasks, so the model-free analyzers are built once per process; the models themselves live in
actors.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ray.util.queue import Queue

from vidscope.analyzers.base import Analyzer
from vidscope.config import Settings
from vidscope.engine.ray.relay import RelaySink
from vidscope.engine.ray.worker import RemoteWorker
from vidscope.engine.run import InputRunner
from vidscope.engine.workers import Worker, make_worker
from vidscope.errors import VidscopeError


class ActorLost(Exception):
    """A model actor died or forgot this video: the video is worth running again."""


class _Resident:
    """This worker process's runner for one settings + pool layout, kept between tasks."""

    def __init__(self, settings: Settings, pooled: frozenset[str]) -> None:
        self.assignment: dict[str, Any] = {}
        self.workers: dict[str, RemoteWorker] = {}

        def factory(analyzer: Analyzer, isolation: str | None) -> Worker:
            if analyzer.name in pooled:
                worker = RemoteWorker(analyzer.name, self.assignment)
                self.workers[analyzer.name] = worker
                return worker
            return make_worker(analyzer, isolation)

        self.runner = InputRunner(settings, worker_factory=factory)


_RESIDENT: dict[str, _Resident] = {}
_RESIDENT_LOCK = threading.Lock()


def run_video(
    settings_json: str,
    source: str,
    output: str,
    force: bool,
    actors: dict[str, Any],
    relay: Queue,
    video: int,
) -> dict[str, Any]:
    """Analyze one input; the body of the Ray task that the executor submits.

    Returns ``{"status": ...}`` or ``{"error": VidscopeError}``; raises :class:`ActorLost`
    when a model actor died under it, which Ray answers by running the task again (its
    finished tracks are reused)."""
    key = settings_json + "|" + ",".join(sorted(actors))
    with _RESIDENT_LOCK:
        resident = _RESIDENT.get(key)
        if resident is None:
            settings = Settings.model_validate_json(settings_json)
            resident = _RESIDENT[key] = _Resident(settings, frozenset(actors))
    resident.assignment.clear()
    resident.assignment.update(actors)
    for worker in resident.workers.values():
        worker.lost = False
    resident.runner.sink = RelaySink(relay, video)
    try:
        result = resident.runner.run(source, Path(output), force=force)
        return {"status": result.status}
    except VidscopeError as exc:
        if any(w.lost for w in resident.workers.values()):
            relay.put_nowait((video, "retry", {"error": str(exc)}))
            raise ActorLost(str(exc)) from None
        return {"error": exc}

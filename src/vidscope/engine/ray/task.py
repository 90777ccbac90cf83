"""The video task: one input through the same stream graph as the local executor, with each
model-backed analyzer replaced by a proxy to its actor.

A Ray worker process runs one task at a time and keeps its :class:`Engine` between tasks, so
the model-free analyzers are built once per process; the models themselves live in actors.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ray
import ray.exceptions
from ray.util.queue import Queue

from vidscope.analyzers.base import Analyzer, Item, Record
from vidscope.config import Settings
from vidscope.engine.engine import Engine
from vidscope.engine.ray.actors import LostState
from vidscope.engine.workers import WorkerError, make_worker
from vidscope.errors import VidscopeError
from vidscope.media.probe import MediaInfo

# An actor that died is restarted by Ray; calls made meanwhile are refused, not queued.
_RESTART_WAIT_S = 120.0


class ActorLost(Exception):
    """A model actor died or forgot this video: the video is worth running again."""


def _lost(exc: BaseException) -> bool:
    return isinstance(exc, ray.exceptions.RayActorError | LostState) or (
        isinstance(exc, ray.exceptions.RayTaskError) and isinstance(exc.cause, LostState)
    )


class RemoteWorker:
    """The :class:`~vidscope.engine.workers.Worker` of an analyzer whose model lives in an actor.

    ``assignment`` maps analyzer names to the actor serving the current video; it is filled in
    by the task before each input, so one worker follows whichever actor the driver picked.
    """

    def __init__(self, name: str, assignment: dict[str, Any]) -> None:
        self.name = name
        self.assignment = assignment
        self.actor: Any = None
        self.key: str | None = None
        self.lost = False

    def _call(self, method: str, *args: Any) -> Any:
        deadline = time.monotonic() + _RESTART_WAIT_S
        while True:
            try:
                return ray.get(getattr(self.actor, method).remote(*args))
            except ray.exceptions.ActorUnavailableError:
                # Restarting: a call that never reached the actor is safe to repeat.
                if time.monotonic() > deadline:
                    self.lost = True
                    raise WorkerError(f"model actor of {self.name} did not come back") from None
                time.sleep(0.5)
            except Exception as exc:
                if _lost(exc):
                    self.lost = True
                    raise WorkerError(f"model actor of {self.name} was lost: {exc}") from None
                cause = exc.cause if isinstance(exc, ray.exceptions.RayTaskError) else exc
                raise WorkerError(f"{type(cause).__name__}: {cause}") from None

    def setup(self) -> None:
        self.actor = self.assignment[self.name]
        self._call("setup")

    def start(self, media: MediaInfo, inputs: frozenset[str]) -> None:
        if self.key is not None:
            # The previous input stopped before its end: free its state in the actor.
            self.actor.abandon.remote(self.key)
        self.actor = self.assignment[self.name]
        self.key = uuid.uuid4().hex
        self._call("start", self.key, media, inputs)

    def process(self, items: Sequence[Item]) -> list[Record]:
        return self._call("process", self.key, list(items))

    def finish(self) -> tuple[list[Record], dict[str, Any]]:
        key, self.key = self.key, None
        return self._call("finish", key)

    def close(self) -> None:
        """Nothing to release here: the actor belongs to the run, not to this proxy."""


class _RelaySink:
    """Progress events of one video, sent to the driver through a Ray queue."""

    def __init__(self, queue: Queue, video: int) -> None:
        self.queue = queue
        self.video = video

    def __call__(self, event: str, **data: Any) -> None:
        self.queue.put_nowait((self.video, event, data))


class _Resident:
    """This worker process's engine for one settings + pool layout, kept between tasks."""

    def __init__(self, settings: Settings, pooled: frozenset[str]) -> None:
        self.assignment: dict[str, Any] = {}
        self.workers: dict[str, RemoteWorker] = {}

        def factory(analyzer: Analyzer, isolation: str | None) -> Any:
            if analyzer.name in pooled:
                worker = RemoteWorker(analyzer.name, self.assignment)
                self.workers[analyzer.name] = worker
                return worker
            return make_worker(analyzer, isolation)

        self.engine = Engine(settings, worker_factory=factory)


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
    """Analyze one input; the body of the Ray task (see :func:`remote_run_video`).

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
    resident.engine.sink = _RelaySink(relay, video)
    try:
        result = resident.engine.analyze(source, Path(output), force=force)
        return {"status": result.status}
    except VidscopeError as exc:
        if any(w.lost for w in resident.workers.values()):
            relay.put_nowait((video, "retry", {"error": str(exc)}))
            raise ActorLost(str(exc)) from None
        return {"error": exc}

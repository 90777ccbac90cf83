"""The worker of an analyzer whose model lives in a Ray actor: a proxy that a video task's
scheduler calls like any local worker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import ray
import ray.exceptions

from vidscope.analyzers.base import Item, Record
from vidscope.engine.ray.actors import LostState
from vidscope.engine.workers import WorkerError, exit_code_of
from vidscope.media.probe import MediaInfo

# An actor that died is restarted by Ray; calls made meanwhile are refused, not queued.
_RESTART_WAIT_S = 120.0


def lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the actor died or forgot the video (worth running it again)."""
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
                if lost(exc):
                    self.lost = True
                    raise WorkerError(f"model actor of {self.name} was lost: {exc}") from None
                cause = exc.cause if isinstance(exc, ray.exceptions.RayTaskError) else exc
                message = f"{type(cause).__name__}: {cause}"
                raise WorkerError(message, exit_code_of(cause)) from None

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

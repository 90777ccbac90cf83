"""Long-lived homes for analyzers: the model is set up once and serves every input.

A :class:`ThreadWorker` calls the analyzer in the scheduler's thread (right for work that
releases the GIL).  A :class:`ProcessWorker` keeps the analyzer in a child process that lives
as long as the engine, for pure-Python work that would otherwise hold the GIL, or for a
library that must be isolated from the main interpreter.  The Ray executor adds a third kind,
a proxy to a model actor shared by every video of a run (``vidscope.engine.ray.worker``).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import signal
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from vidscope.analyzers.base import Analyzer, Item, Record
from vidscope.errors import VidscopeError
from vidscope.media.probe import MediaInfo


class WorkerError(RuntimeError):
    """An analyzer raised; carries the analyzer's one-line message and, when it raised a
    vidscope error, that error's exit code (a model that will not load stays exit 4 across a
    process or an actor)."""

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def exit_code_of(exc: BaseException) -> int | None:
    """The exit code an analyzer's exception stands for, if it is a vidscope error."""
    if isinstance(exc, VidscopeError | WorkerError):
        return exc.exit_code
    return None


class Worker(Protocol):
    """Where an analyzer runs: set up once, then ``start``/``process``/``finish`` per input."""

    def setup(self) -> None: ...

    def start(self, media: MediaInfo, inputs: frozenset[str]) -> None: ...

    def process(self, items: Sequence[Item]) -> list[Record]: ...

    def finish(self) -> tuple[list[Record], dict[str, Any]]:
        """The last records of this input and the analyzer's run-report counters."""
        ...

    def close(self) -> None: ...


class ThreadWorker:
    """Runs the analyzer in the calling thread."""

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        self._ready = False
        self._state: Any = None
        self._lock = threading.Lock()

    def setup(self) -> None:
        with self._lock:
            if not self._ready:
                self.analyzer.setup()
                self._ready = True

    def start(self, media: MediaInfo, inputs: frozenset[str]) -> None:
        self._state = self.analyzer.start(media, inputs)

    def process(self, items: Sequence[Item]) -> list[Record]:
        return list(self.analyzer.process_batch(self._state, items))

    def finish(self) -> tuple[list[Record], dict[str, Any]]:
        """The last records of this input and the analyzer's run-report counters."""
        records = list(self.analyzer.finish(self._state))
        counters = self.analyzer.report(self._state)
        self._state = None
        return records, counters

    def close(self) -> None:
        if self._ready:
            self.analyzer.teardown()
            self._ready = False


def _child(cls: type[Analyzer], params: dict[str, Any], device: str, conn: Any) -> None:
    """Child-process loop: build the analyzer once, then answer commands until 'close'."""
    # Ctrl-C reaches the whole process group.  The parent stops the run and closes this
    # worker; dying here mid-command would only add a traceback and fail the track.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    analyzer = cls(cls.Params.model_validate(params), device=device)
    worker = ThreadWorker(analyzer)
    while True:
        command, payload = conn.recv()
        try:
            if command == "setup":
                worker.setup()
                result: Any = None
            elif command == "start":
                worker.start(*payload)
                result = None
            elif command == "process":
                result = worker.process(payload)
            elif command == "finish":
                result = worker.finish()
            else:
                worker.close()
                conn.send(("ok", None))
                return
            conn.send(("ok", result))
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            conn.send(("error", (message, traceback.format_exc(), exit_code_of(exc))))


class ProcessWorker:
    """Runs the analyzer in a dedicated child process (spawned once, reused for every input)."""

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        ctx = mp.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        self._proc = ctx.Process(
            target=_child,
            # The class travels by reference (its module and name): the child imports the
            # very class the parent holds, registered or not.
            args=(type(analyzer), analyzer.params.model_dump(), analyzer.device, child_conn),
            name=f"vidscope-{analyzer.name}",
            daemon=True,
        )
        self._proc.start()
        self._ready = False
        self._lock = threading.Lock()

    def _call(self, command: str, payload: Any = None) -> Any:
        try:
            self._conn.send((command, payload))
            status, result = self._conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError) as exc:
            code = self._proc.exitcode
            raise WorkerError(f"worker process died (exit code {code}): {exc}") from None
        if status == "error":
            raise WorkerError(result[0], result[2])
        return result

    def setup(self) -> None:
        with self._lock:
            if not self._ready:
                self._call("setup")
                self._ready = True

    def start(self, media: MediaInfo, inputs: frozenset[str]) -> None:
        self._call("start", (media, inputs))

    def process(self, items: Sequence[Item]) -> list[Record]:
        return self._call("process", list(items))

    def finish(self) -> tuple[list[Record], dict[str, Any]]:
        return self._call("finish")

    def close(self) -> None:
        if self._proc.is_alive():
            with contextlib.suppress(WorkerError):
                self._call("close")
            self._proc.join(timeout=5)
            if self._proc.is_alive():
                self._proc.kill()


WorkerFactory = Callable[[Analyzer, str | None], Worker]


def make_worker(analyzer: Analyzer, isolation: str | None = None) -> Worker:
    """A worker for ``analyzer``: its declared isolation unless the settings override it."""
    if (isolation or analyzer.resources.isolation) == "process":
        return ProcessWorker(analyzer)
    return ThreadWorker(analyzer)

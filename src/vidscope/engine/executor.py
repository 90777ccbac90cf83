"""One interface for running inputs, whatever runs them.

The local executor (:class:`vidscope.engine.local.Engine`) runs inputs one after another in
this process; the Ray executor (:class:`vidscope.engine.ray.executor.RayExecutor`) runs many
at once on a Ray cluster, with each model in long-lived actors.  The CLI and the HTTP server
only use what :class:`Executor` promises, so either can stand behind them
(:func:`vidscope.engine.factory.make_executor` picks one).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from vidscope.errors import VidscopeError
    from vidscope.result import Result


@dataclass(frozen=True)
class InputResult:
    """What became of one input: its bundle, or the error that stopped it."""

    source: str
    output: Path
    result: Result | None = None
    error: VidscopeError | None = None


class Analyzes(Protocol):
    """One input at a time: what the HTTP server's workers need of an executor."""

    def analyze(
        self,
        source: str | Path,
        output: str | Path,
        *,
        force: bool = False,
        stop: threading.Event | None = None,
    ) -> Result:
        """One input into the bundle ``output``; raises on unusable input or failed tracks."""
        ...

    def close(self) -> None: ...


class Executor(Analyzes, Protocol):
    """Runs inputs into result bundles with resident analyzers."""

    def analyze_many(
        self,
        jobs: Sequence[tuple[str | Path, str | Path]],
        *,
        force: bool = False,
        stop: threading.Event | None = None,
    ) -> Iterator[InputResult]:
        """Many ``(source, output)`` pairs; yields each outcome as it finishes."""
        ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> None: ...

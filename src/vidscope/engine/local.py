"""The local executor: inputs one after another in this process, the analyzers of each side by
side, every model loaded once for all of them."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from vidscope.analyzers.settings import load_settings
from vidscope.config import Settings
from vidscope.engine.executor import InputResult
from vidscope.engine.plan import Plan
from vidscope.engine.progress import ProgressSink, make_sink, null_sink
from vidscope.engine.run import InputRunner
from vidscope.engine.workers import WorkerFactory, make_worker
from vidscope.errors import VidscopeError
from vidscope.result import Result


class Engine:
    """Analyzers loaded once, applied to any number of inputs (one at a time).

    Each analyzer sets up (loads its model) the first time an input needs it; every later
    input of the same CLI run or server worker reuses it.  ``worker_factory`` decides where
    each analyzer runs (see :mod:`vidscope.engine.workers`).
    """

    def __init__(
        self,
        settings: Settings | Mapping[str, Any] | None = None,
        *,
        analyzers: Sequence[str] | None = None,
        device: str | None = None,
        config: str | Path | None = None,
        wait: bool = False,
        progress: ProgressSink | bool = False,
        sink: ProgressSink = null_sink,
        worker_factory: WorkerFactory = make_worker,
        plan: Plan | None = None,
    ):
        """The same choices as :func:`vidscope.analyze`: ``analyzers`` by name, ``device``
        (``cpu``, ``cuda``, ``cuda:N``), a ``config`` file, ``settings`` as dotted keys
        (``{"analyzer.shots.threshold": 30}``) or a ready :class:`~vidscope.config.Settings`,
        ``wait`` for a bundle another run is writing, and ``progress``: ``True`` for a
        progress display on stderr, or a callable receiving the progress events."""
        if not isinstance(settings, Settings):
            overrides: dict[str, Any] = dict(settings or {})
            if analyzers is not None:
                overrides["analyzers"] = list(analyzers)
            if device is not None:
                overrides["device"] = device
            if wait:
                overrides["wait_for_bundle"] = True
            settings = load_settings(Path(config) if config else None, overrides).settings
        elif analyzers is not None or device is not None or config is not None or wait:
            raise TypeError("give analyzers, device, config and wait as settings, or not at all")
        if progress is True:
            sink = make_sink(settings.progress)
        elif progress is not False:
            sink = progress
        self.runner = InputRunner(settings, sink=sink, worker_factory=worker_factory, plan=plan)

    @property
    def settings(self) -> Settings:
        """The settings every input of this engine runs with."""
        return self.runner.settings

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Tear down every worker (unload models, stop worker processes)."""
        self.runner.close()

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
        return self.runner.run(source, output, force=force, stop=stop)

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

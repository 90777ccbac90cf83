"""The executor the settings name: this process, or a Ray cluster."""

from __future__ import annotations

from vidscope.config import Settings
from vidscope.engine.executor import Executor
from vidscope.engine.plan import Plan
from vidscope.engine.progress import ProgressSink


def make_executor(settings: Settings, sink: ProgressSink, *, plan: Plan | None = None) -> Executor:
    """The executor ``settings.executor`` names (Ray is imported only when it is named), on
    ``plan`` when the caller made it already (the server does, at submission)."""
    if settings.executor == "ray":
        from vidscope.engine.ray.executor import RayExecutor

        return RayExecutor(settings, sink=sink, plan=plan)
    from vidscope.engine.local import Engine

    return Engine(settings, sink=sink, plan=plan)

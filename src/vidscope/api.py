"""The Python API: ``vidscope.analyze("clip.mp4")`` -> :class:`~vidscope.timeline.result.Result`."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vidscope.analyzers.settings import load_settings
from vidscope.engine.local import Engine
from vidscope.engine.progress import ProgressSink, null_sink
from vidscope.timeline.result import Result


def analyze(
    source: str | Path,
    analyzers: Sequence[str] | None = None,
    output: str | Path | None = None,
    *,
    config: str | Path | None = None,
    settings: dict[str, Any] | None = None,
    force: bool = False,
    wait: bool = False,
    progress: ProgressSink = null_sink,
) -> Result:
    """Analyze one video, audio file or URL and return its result bundle.

    ``analyzers`` picks analyzers by name (default: every analyzer available here, plus the
    dependencies of the ones picked).  ``output`` is the bundle directory (default: a new
    temporary directory).  ``settings`` takes dotted keys as on the command line, e.g.
    ``{"analyzer.shots.threshold": 30, "device": "cuda"}``.  When another run is writing
    ``output``, this raises :class:`~vidscope.errors.BundleBusy`, or with ``wait`` waits for it.
    """
    overrides = dict(settings or {})
    if analyzers is not None:
        overrides["analyzers"] = list(analyzers)
    if wait:
        overrides["wait_for_bundle"] = True
    effective = load_settings(Path(config) if config else None, overrides)
    out = Path(output) if output is not None else Path(tempfile.mkdtemp(prefix="vidscope-"))
    with Engine(effective.settings, sink=progress) as engine:
        return engine.analyze(source, out, force=force)

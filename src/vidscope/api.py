"""The Python API: ``vidscope.analyze("clip.mp4")`` -> :class:`~vidscope.result.Result`."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vidscope.engine.local import Engine
from vidscope.engine.progress import ProgressSink
from vidscope.result import Result


def analyze(
    source: str | Path,
    analyzers: Sequence[str] | None = None,
    output: str | Path | None = None,
    *,
    config: str | Path | None = None,
    settings: dict[str, Any] | None = None,
    device: str | None = None,
    force: bool = False,
    wait: bool = False,
    progress: ProgressSink | bool = False,
) -> Result:
    """Analyze one video, audio file or URL and return its result bundle.

    ``analyzers`` picks analyzers by name (default: every analyzer available here, plus the
    dependencies of the ones picked).  ``output`` is the bundle directory (default: a new
    temporary directory).  ``settings`` takes dotted keys as on the command line, e.g.
    ``{"analyzer.shots.threshold": 30, "device": "cuda"}``.  When another run is writing
    ``output``, this raises :class:`~vidscope.errors.BundleBusy`, or with ``wait`` waits for it.
    ``progress=True`` shows progress on stderr; a callable receives the progress events.
    To analyze several inputs with the models loaded once, use :class:`vidscope.Engine`,
    which takes the same choices.
    """
    engine = Engine(
        settings,
        analyzers=analyzers,
        device=device,
        config=config,
        wait=wait,
        progress=progress,
    )
    out = Path(output) if output is not None else Path(tempfile.mkdtemp(prefix="vidscope-"))
    with engine:
        return engine.analyze(source, out, force=force)

"""vidscope: decode a video once, run many analyzers over it, get one time-aligned result.

>>> import vidscope
>>> result = vidscope.analyze("clip.mp4", analyzers=["shots"])
>>> result.track("shots")[0]["end"]
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vidscope._version import __version__

if TYPE_CHECKING:
    from vidscope.api import analyze
    from vidscope.engine.local import Engine
    from vidscope.result import Result

__all__ = ["Engine", "Result", "__version__", "analyze"]

# Resolved on first use (PEP 562): every ``vidscope.*`` import runs this file first, and the
# command line must not pay for the engine, NumPy and PyAV to print its help or read a bundle.
_LAZY = {
    "analyze": "vidscope.api",
    "Engine": "vidscope.engine.local",
    "Result": "vidscope.result",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vidscope' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # The public names and the module's own dunders, not what this file imports.
    return sorted({*__all__, *(n for n in globals() if n.startswith("__"))})

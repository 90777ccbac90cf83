"""Where the commands write: rich consoles on stdout and stderr, built on first use, and the one
way a command reports a user error."""

import os
import sys
from typing import TYPE_CHECKING, Any

import typer

from vidscope.errors import VidscopeError

if TYPE_CHECKING:
    import rich.table
    from rich.console import Console


PIPE_WIDTH = 10_000
"""The width of a console that writes to a pipe or a file: what reads it (a program, a pager,
``grep``) wants each line whole, not folded at 80 columns mid-value."""


class _LazyConsole:
    """A rich Console built on first use: importing rich is a tenth of a quiet run's start-up,
    and a quiet run that succeeds prints nothing."""

    def __init__(self, *, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            stream = sys.stderr if self._stderr else sys.stdout
            piped = not stream.isatty() and "COLUMNS" not in os.environ
            self._console = Console(stderr=self._stderr, width=PIPE_WIDTH if piped else None)
        return getattr(self._console, name)


def Table(*args: Any, **kwargs: Any) -> "rich.table.Table":
    """rich's Table, imported when a command first draws one (see :class:`_LazyConsole`)."""
    from rich.table import Table

    return Table(*args, **kwargs)


out = _LazyConsole()
err = _LazyConsole(stderr=True)


def fail(exc: VidscopeError) -> typer.Exit:
    """Print ``exc`` as one line on stderr; the exit to raise, with its documented code."""
    from rich.markup import escape

    # Messages name extras (vidscope[shots]) that rich would take for markup.
    err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return typer.Exit(exc.exit_code)


VERSIONED = ("av", "numpy", "onnxruntime", "faster-whisper", "rapidocr", "fastapi", "torch", "ray")
"""The libraries whose versions decide what a run does, named by ``vidscope --version``."""


def versions() -> str:
    """vidscope's version, then Python's and each installed library's of :data:`VERSIONED`
    (read from the installed metadata: nothing is imported)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from vidscope._version import __version__

    lines = [f"vidscope {__version__}", f"Python {platform.python_version()}"]
    for name in VERSIONED:
        try:
            lines.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return "\n".join(lines)

"""How the ``vidscope`` command ends: every failure is one line on stderr and a documented exit
code (the table is in :mod:`vidscope.errors`); a traceback only for a bug, and only when
``VIDSCOPE_DEBUG`` asks for it."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from vidscope.errors import OutputError, VidscopeError

INTERNAL = 70
"""A bug in vidscope (``EX_SOFTWARE``): never for something the user can fix."""
INTERRUPTED = 130
TERMINATED = 143
"""128 + SIGTERM, as a shell reports a process that SIGTERM ended."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a service manager, a container stopping): the run stops exactly as
    on Ctrl-C, its bundle marked ``interrupted``, instead of dying with the bundle ``running``."""


def stop_on_sigterm() -> None:
    """Make SIGTERM raise :class:`Terminated` in the main thread, where Ctrl-C raises
    ``KeyboardInterrupt``, so both take the same way out."""

    def terminated(signum: int, frame: object) -> None:
        raise Terminated

    signal.signal(signal.SIGTERM, terminated)


def interrupted_code(exc: KeyboardInterrupt) -> int:
    return TERMINATED if isinstance(exc, Terminated) else INTERRUPTED


ENVIRONMENT = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES})
"""What the file system refuses however the write was asked for: a full disk, a file size
limit, a quota, a read-only file system, no permission.  The commands turn the writes they
know about into :class:`~vidscope.errors.OutputError`; these are caught here too for a write
nobody expected to fail, such as standard output redirected to a full disk."""


def run(app: Callable[[], Any], console: Any) -> None:
    """Run the command-line ``app`` and exit with its code, reporting any failure on
    ``console`` (a rich console on stderr) as one line."""
    try:
        try:
            app()
        finally:
            # Output still buffered for a pipe or a file is written here, while a full disk
            # can still be reported as one line (at exit it would be a Python warning).
            sys.stdout.flush()
    except VidscopeError as exc:
        _fail(console, exc)
    except KeyboardInterrupt as exc:
        sys.exit(interrupted_code(exc))
    except BrokenPipeError:
        # The reader went away (``| head``): nothing to tell it.  Click ends the same way when
        # the pipe breaks inside a command.
        _discard_stdout()
        sys.exit(1)
    except OSError as exc:
        if exc.errno not in ENVIRONMENT or os.environ.get("VIDSCOPE_DEBUG"):
            _internal(console, exc)
        _discard_stdout()
        _fail(console, OutputError.of(exc))
    except Exception as exc:
        _internal(console, exc)


def _fail(console: Any, exc: VidscopeError) -> None:
    from rich.markup import escape

    # Messages name extras (vidscope[shots]) that rich would take for markup.
    console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    sys.exit(exc.exit_code)


def _internal(console: Any, exc: Exception) -> None:
    if os.environ.get("VIDSCOPE_DEBUG"):
        raise exc
    from rich.markup import escape

    console.print(
        f"[red]internal error:[/] {type(exc).__name__}: {escape(str(exc))} "
        "(set VIDSCOPE_DEBUG=1 for the traceback)",
        highlight=False,
        soft_wrap=True,
    )
    sys.exit(INTERNAL)


def _discard_stdout() -> None:
    """Point standard output at the null device: what is still buffered for a full disk would
    otherwise fail again when the interpreter exits, with a warning and exit code 120."""
    # A stdout without a file descriptor has nothing to flush at exit.
    with contextlib.suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)

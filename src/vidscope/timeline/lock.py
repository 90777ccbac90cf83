"""One writer per result bundle: an exclusive ``flock`` on ``<bundle>/.lock`` for a whole run.

Two runs writing one bundle interleave their track files and manifests (one run's manifest
over the other's records).  Every writer (the command line, the Python API, server jobs, Ray
tasks) goes through :meth:`vidscope.engine.run.InputRunner.run`, which takes this lock
before it reads an earlier manifest for tracks to reuse and holds it until the manifest says
how the run ended.  The kernel drops a ``flock`` when its holder exits, however it exits, so a
killed run leaves no stale lock.  The file itself stays: deleting it would let a waiting run
lock the deleted file while a third one creates and locks a new one.  The holder writes its
pid into it for the message a second run prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from vidscope.errors import BundleBusy, OutputError

LOCK_FILE = ".lock"
POLL_S = 0.2
"""How often a waiting run tries the lock again.  It polls rather than blocking in ``flock``
because a blocked ``flock`` cannot notice a server job being cancelled."""


def _try_lock(fd: int, mode: int = fcntl.LOCK_EX) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(fd: int) -> str:
    """`` (pid N)`` for the run holding the lock, or nothing while it has not written it yet."""
    pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return f" (pid {pid})" if pid.isdigit() else ""


@contextlib.contextmanager
def bundle_lock(
    root: Path,
    *,
    wait: bool = False,
    stop: threading.Event | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the bundle ``root`` (created if missing) for one run.

    Raises :class:`~vidscope.errors.BundleBusy` at once when another run holds it, or, with
    ``wait``, waits for that run to end (telling ``on_wait`` first) unless ``stop`` is set
    first.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError.of(exc, root) from None
    try:
        if not _try_lock(fd):
            busy = f"bundle {root} is being written by another run{_holder(fd)}"
            if not wait:
                raise BundleBusy(f"{busy}; wait for it or use --wait")
            if on_wait is not None:
                on_wait(f"{busy}; waiting for it to finish")
            pause = stop if stop is not None else threading.Event()
            while not _try_lock(fd):
                if pause.wait(POLL_S):
                    raise BundleBusy(f"{busy}; stopped while waiting for it")
        # The pid only makes another run's message clearer: a disk too full for it fails the
        # run where the bundle is written, with the file it could not write.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        # Closing the only descriptor of this open file releases the lock.
        os.close(fd)


def is_locked(root: Path) -> bool:
    """Whether a run is writing the bundle ``root`` right now."""
    try:
        fd = os.open(root / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        return not _try_lock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)

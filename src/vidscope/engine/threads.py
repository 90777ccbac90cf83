"""Threads that all return before the caller goes on, even when Ctrl-C cuts the wait short."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence


def run_threads(jobs: Sequence[tuple[str, Callable[[], None]]], stop: threading.Event) -> None:
    """Run each ``(name, job)`` on its own thread and wait until every one has returned, even
    when the wait is interrupted.

    Ctrl-C raises in this (the main) thread.  An analyzer thread still inside a native library
    (onnxruntime, FFmpeg) when the interpreter finalises aborts the whole process (``terminate
    called without an active exception``), so the interrupt goes on only once every thread has
    seen ``stop`` and returned.  The wait is on events rather than ``Thread.join``: on Python
    3.11 a join cut short by an interrupt marks a thread that still runs as stopped
    (bpo-45274), and every later join returns at once.
    """
    running: list[tuple[threading.Thread, threading.Event]] = []

    def run(job: Callable[[], None], done: threading.Event) -> None:
        try:
            job()
        finally:
            done.set()

    try:
        for name, job in jobs:
            done = threading.Event()
            thread = threading.Thread(target=run, args=(job, done), name=name, daemon=True)
            running.append((thread, done))
            thread.start()
        for _, done in running:
            done.wait()
    except BaseException:
        stop.set()
        for thread, done in running:
            # A thread the interrupt kept from starting has no ident and nothing to wait for.
            while thread.ident is not None and not done.is_set():
                # A second Ctrl-C does not cut this short: that would be the same abort.
                with contextlib.suppress(KeyboardInterrupt):
                    done.wait()
        raise

"""Progress for people (rich bars, plain lines) and programs (JSON lines)."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Protocol, TextIO

from vidscope.timeline.bundle import dumps


class ProgressSink(Protocol):
    def __call__(self, event: str, **data: Any) -> None: ...


def null_sink(event: str, **data: Any) -> None:
    """Discards events (``--quiet`` and library use)."""


class JsonSink:
    """One JSON object per line on a stream: ``{"event": ..., ...}``."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, event: str, **data: Any) -> None:
        line = dumps({"event": event, "time": round(time.time(), 3), **data}).decode()
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


class PlainSink:
    """Plain lines for logs and pipes: one per analyzer every 25 % and at the end."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()

    def _print(self, text: str) -> None:
        with self._lock:
            print(text, file=self.stream, flush=True)

    def __call__(self, event: str, **data: Any) -> None:
        if event == "input_started":
            self._last.clear()
            self._print(f"analyzing {data['input']} ({data['duration']:.1f} s) -> {data['output']}")
            for name, reason in data.get("skipped", {}).items():
                self._print(f"  skipped {name}: {reason}")
        elif event == "progress":
            total = data["total"] or 1.0
            step = int(100 * data["done"] / total) // 25 * 25
            if step > self._last.get(data["analyzer"], -1) and step < 100:
                self._last[data["analyzer"]] = step
                self._print(f"  {data['analyzer']}: {step}%")
        elif event == "track_done":
            self._print(f"  {data['analyzer']}: {data['status']}")
        elif event in ("input_failed", "warning"):
            self._print(f"  {event.replace('_', ' ')}: {data.get('error') or data.get('message')}")


class RichSink:
    """A rich progress bar per analyzer, for terminals."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description:>16}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.console,
            transient=False,
        )
        self.tasks: dict[str, Any] = {}

    def __call__(self, event: str, **data: Any) -> None:
        if event == "input_started":
            self.console.print(
                f"[bold]{data['input']}[/] ({data['duration']:.1f} s) -> {data['output']}"
            )
            for name, reason in data.get("skipped", {}).items():
                self.console.print(f"  skipped {name}: {reason}", highlight=False)
            self.progress.start()
            self.tasks = {
                name: self.progress.add_task(name, total=data["duration"] or 1.0, status="")
                for name in data["analyzers"]
            }
        elif event == "progress" and data["analyzer"] in self.tasks:
            self.progress.update(self.tasks[data["analyzer"]], completed=data["done"])
        elif event == "track_done" and data["analyzer"] in self.tasks:
            task = self.tasks[data["analyzer"]]
            total = self.progress.tasks[task].total
            self.progress.update(task, completed=total, status=data["status"])
        elif event in ("input_done", "input_failed"):
            self.progress.stop()
            if event == "input_failed":
                self.console.print(f"[red]failed:[/] {data['error']}")
        elif event == "warning":
            self.console.print(f"[yellow]warning:[/] {data['message']}")


def make_sink(kind: str, quiet: bool = False) -> ProgressSink:
    if quiet or kind == "none":
        return null_sink
    if kind == "json":
        return JsonSink()
    if kind == "rich" or (kind == "auto" and sys.stderr.isatty()):
        return RichSink()
    return PlainSink()

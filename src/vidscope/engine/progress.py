"""Progress for people (rich bars, plain lines) and programs (JSON lines).

The events, each with its fields: ``input_started`` (input, output, duration, analyzers,
reused, skipped; ``unit`` "videos" on Ray, where the bars count videos, else seconds of
media), ``analyzer_state`` (analyzer, state: ``running`` once set up, ``finishing`` once all
its input is in), ``progress`` (analyzer, done, total), ``track_done`` (analyzer, status),
``warning`` (message), ``input_done`` (output, status, report, errors); on Ray also
``video_done`` (input, output, status) for each video.
"""

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
    """A rich progress bar per analyzer, for terminals (see :func:`_columns`); its status says
    ``loading…`` until the analyzer is set up (its model loaded) and ``finishing…`` once all its
    input is in."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import Progress

        self.console = Console(stderr=True)
        self.progress = Progress(*_columns(), console=self.console, transient=False)
        self.tasks: dict[str, Any] = {}
        # Something at once: settings, analyzer modules and the input's probe come before the
        # first event, a second or two on a slow machine.
        self.console.print("[dim]starting: loading analyzers…[/]", highlight=False)

    def _task(self, task_id: Any) -> Any:
        return next(t for t in self.progress.tasks if t.id == task_id)

    def __call__(self, event: str, **data: Any) -> None:
        if event == "input_started":
            self.console.print(
                f"[bold]{data['input']}[/] ({data['duration']:.1f} s) -> {data['output']}",
                highlight=False,
            )
            for name, reason in data.get("skipped", {}).items():
                self.console.print(f"  skipped {name}: {reason}", highlight=False)
            # The last input's bars stay on the screen above, as they ended.
            for task in self.tasks.values():
                self.progress.remove_task(task)
            unit, length = data.get("unit", "s"), data["duration"] or 1.0
            self.tasks = {
                name: self.progress.add_task(
                    name, total=length, status="loading…", unit=unit, length=length
                )
                for name in data["analyzers"]
            }
            # Started once the bars exist, so its first drawing already shows them.
            self.progress.start()
        elif event == "analyzer_state" and data["analyzer"] in self.tasks:
            task = self.tasks[data["analyzer"]]
            if data["state"] == "finishing":
                # All of the media has gone in; what is left (a last transcript window,
                # clustering) has no known length, so the bar pulses instead of sitting at 100 %.
                # update() reads None as "unchanged"; the task is not finished either, though
                # its progress has reached the media's end.
                bar = self._task(task)
                bar.total, bar.finished_time = None, None
                self.progress.update(task, status="finishing…")
            else:
                self.progress.update(task, status="")
        elif event == "progress" and data["analyzer"] in self.tasks:
            task = self.tasks[data["analyzer"]]
            if self._task(task).fields["status"] == "loading…":
                self.progress.update(task, status="")
            self.progress.update(task, completed=data["done"])
        elif event == "track_done" and data["analyzer"] in self.tasks:
            task = self.tasks[data["analyzer"]]
            length = self._task(task).fields["length"]
            self.progress.update(task, total=length, completed=length, status=data["status"])
            self.progress.stop_task(task)
        elif event in ("input_done", "input_failed"):
            self.progress.stop()
            if event == "input_failed":
                self.console.print(f"[red]failed:[/] {data['error']}")
        elif event == "warning":
            self.console.print(f"[yellow]warning:[/] {data['message']}")


def _clock(seconds: float | None) -> str:
    """``1:05`` or ``1:02:05``; ``-:--`` when not known."""
    if seconds is None:
        return "-:--"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}" if hours else f"{minutes}:{sec:02d}"


def _columns() -> list[Any]:
    """The columns of a bar, built where a terminal shows bars (rich is imported only then),
    narrow enough for 80 columns: name, bar, share, ``3.2/11.3 s`` done (``2/5 videos`` on
    Ray), speed (media seconds per second of wall time, ``12.3x`` as ffmpeg writes it), elapsed
    ``<`` time left, then what the analyzer is doing."""
    from rich.progress import BarColumn, ProgressColumn, Task, TaskProgressColumn, TextColumn
    from rich.text import Text

    class Done(ProgressColumn):
        def render(self, task: Task) -> Text:
            unit = task.fields.get("unit", "s")
            fmt = "{:.1f}" if unit == "s" else "{:.0f}"
            done, total = fmt.format(task.completed), fmt.format(task.fields.get("length", 0))
            return Text(f"{done}/{total} {unit}", style="progress.download")

    class Speed(ProgressColumn):
        def render(self, task: Task) -> Text:
            if task.finished:
                # The whole run of the analyzer, its finishing included.
                took = task.finished_time or task.elapsed
                speed = task.fields.get("length", 0) / took if took else None
            else:
                speed = None if task.total is None else task.speed
            if speed is None:
                return Text("")
            unit = task.fields.get("unit", "s")
            text = f"{speed:.1f}x" if unit == "s" else f"{speed:.2f} {unit}/s"
            return Text(text, style="progress.data.speed")

    class Times(ProgressColumn):
        def render(self, task: Task) -> Text:
            left = 0.0 if task.finished else None if task.total is None else task.time_remaining
            return Text(f"{_clock(task.elapsed or 0.0)}<{_clock(left)}", style="progress.elapsed")

    return [
        TextColumn("{task.description:>14}"),
        BarColumn(bar_width=16),
        TaskProgressColumn(),
        Done(),
        Speed(),
        Times(),
        TextColumn("{task.fields[status]}"),
    ]


def make_sink(kind: str, quiet: bool = False) -> ProgressSink:
    if quiet or kind == "none":
        return null_sink
    if kind == "json":
        return JsonSink()
    if kind == "rich" or (kind == "auto" and sys.stderr.isatty()):
        return RichSink()
    return PlainSink()

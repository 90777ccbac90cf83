"""Progress of a Ray run: video tasks send their events through one Ray queue, and the driver
folds them into one bar per analyzer across all videos."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

from ray.util.queue import Queue

from vidscope.engine.progress import ProgressSink
from vidscope.engine.ray.cluster import NAMESPACE


class RelaySink:
    """The sink of one video task: its events, sent to the driver through the queue."""

    def __init__(self, queue: Queue, video: int) -> None:
        self.queue = queue
        self.video = video

    def __call__(self, event: str, **data: Any) -> None:
        self.queue.put_nowait((self.video, event, data))


class Relay:
    """Drains the progress queue on one thread and routes each event to its run."""

    def __init__(self) -> None:
        self.queue = Queue(actor_options={"num_cpus": 0, "namespace": NAMESPACE})
        self.routes: dict[int, RunProgress] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._drain, name="vidscope-ray-relay", daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while not self.stop.is_set():
            try:
                video, event, data = self.queue.get(timeout=0.2)
            except Exception:  # ray.util.queue.Empty, or Ray shutting down
                continue
            self.dispatch(video, event, data)

    def dispatch(self, video: int, event: str, data: dict[str, Any]) -> None:
        with self.lock:
            run = self.routes.get(video)
        if run is not None:
            run.handle(video, event, data)

    def flush(self) -> None:
        """Deliver what is still queued (the last events of a video that just finished)."""
        while True:
            try:
                size = self.queue.qsize()
                items = self.queue.get_nowait_batch(size) if size else []
            except Exception:
                return
            if not items:
                return
            for video, event, data in items:
                self.dispatch(video, event, data)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        with contextlib.suppress(Exception):
            self.queue.shutdown(force=True)


class RunProgress:
    """One bar per analyzer across all videos (in videos done), and per-video status."""

    def __init__(
        self, sink: ProgressSink, analyzers: list[str], jobs: list[tuple[str, Path]], base: int
    ) -> None:
        self.sink = sink
        self.base = base
        """The relay's number of this run's first video."""
        self.analyzers = analyzers
        self.jobs = jobs
        self.done: dict[str, dict[int, float]] = {a: {} for a in analyzers}
        self.lock = threading.Lock()
        self.sent: dict[str, float] = {}
        sink(
            "input_started",
            input=f"{len(jobs)} input(s)",
            output=str(jobs[0][1].parent) if len(jobs) > 1 else str(jobs[0][1]),
            duration=float(len(jobs)),
            unit="videos",
            analyzers=analyzers,
            reused=[],
            skipped={},
        )

    def _set(self, analyzer: str, video: int, fraction: float) -> None:
        if analyzer not in self.done:
            return
        self.done[analyzer][video] = max(self.done[analyzer].get(video, 0.0), fraction)
        total = sum(self.done[analyzer].values())
        if total - self.sent.get(analyzer, -1.0) >= 0.02 or fraction >= 1.0:
            self.sent[analyzer] = total
            self.sink("progress", analyzer=analyzer, done=round(total, 3), total=len(self.jobs))

    def handle(self, video: int, event: str, data: dict[str, Any]) -> None:
        video -= self.base
        with self.lock:
            if event == "input_started":
                running = set(data["analyzers"]) | set(data.get("reused", []))
                for name in self.analyzers:
                    if name not in running:
                        self._set(name, video, 1.0)
                for name in data.get("reused", []):
                    self._set(name, video, 1.0)
            elif event == "progress":
                self._set(data["analyzer"], video, data["done"] / (data["total"] or 1.0))
            elif event == "track_done":
                self._set(data["analyzer"], video, 1.0)
            elif event == "retry":
                source = self.jobs[video][0]
                self.sink("warning", message=f"{source}: a model actor was lost, retrying")

    def finished(self, video: int, status: str) -> None:
        with self.lock:
            for name in self.analyzers:
                self._set(name, video, 1.0)
            source, output = self.jobs[video]
            self.sink("video_done", input=source, output=str(output), status=status)

    def close(self, report: dict[str, Any], errors: dict[str, str]) -> None:
        for name in self.analyzers:
            self.sink("track_done", analyzer=name, status="done")
        status = "failed" if errors else "complete"
        self.sink("input_done", output="", status=status, report=report, errors=errors)

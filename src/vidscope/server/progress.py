"""Live progress of running jobs, kept in memory.

The engine reports progress many times a second; writing each event to SQLite would cost more
than it tells, so running jobs live here and the store gets the last snapshot when a job ends.
"""

from __future__ import annotations

import copy
import threading
from typing import Any


class ProgressBoard:
    """Per-job phase and per-analyzer media seconds done / total.  The run report is not
    progress: the worker takes it from the result of the run."""

    def __init__(self) -> None:
        self._jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def start(self, job_id: str, phase: str) -> None:
        with self._lock:
            self._jobs[job_id] = {"phase": phase, "analyzers": {}}

    def set_phase(self, job_id: str, phase: str) -> None:
        with self._lock:
            if job_id in self._jobs:
                self._jobs[job_id]["phase"] = phase

    def download(self, job_id: str, received: int, total: int | None) -> None:
        with self._lock:
            if job_id in self._jobs:
                self._jobs[job_id]["download"] = {"received_bytes": received, "total_bytes": total}

    def event(self, job_id: str, event: str, data: dict[str, Any]) -> None:
        """Fold one engine progress event (``vidscope.engine.progress``) into the job's state."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return
            analyzers = job["analyzers"]
            if event == "input_started":
                total = data.get("duration") or 0.0
                for name in data.get("analyzers", []):
                    analyzers[name] = {"done": 0.0, "total": total, "status": "running"}
                for name in data.get("reused", []):
                    analyzers[name] = {"done": total, "total": total, "status": "reused"}
                for name, reason in data.get("skipped", {}).items():
                    analyzers[name] = {"done": 0.0, "total": 0.0, "status": f"skipped: {reason}"}
            elif event == "progress":
                entry = analyzers.setdefault(data["analyzer"], {"status": "running"})
                entry.update(done=data["done"], total=data["total"])
            elif event == "track_done" and data.get("analyzer") in analyzers:
                entry = analyzers[data["analyzer"]]
                entry["status"] = data["status"]
                entry["done"] = entry.get("total", entry.get("done", 0.0))

    def snapshot(self, job_id: str) -> dict[str, Any] | None:
        """A copy of the job's progress, or None when it is not running here."""
        with self._lock:
            job = self._jobs.get(job_id)
            return copy.deepcopy(job) if job is not None else None

    def clear(self, job_id: str) -> dict[str, Any] | None:
        """Forget the job and return its last state."""
        with self._lock:
            return self._jobs.pop(job_id, None)

"""Model actors: one analyzer per actor, its model loaded once, serving every video of a run.

An actor keeps one analyzer state per video it serves, so several videos can stream through
one resident model.  For most analyzers its calls are serialised (their models are not assumed
to be thread-safe) and a spare concurrency slot lets the driver read its statistics while it
works.  An analyzer with ``concurrent_inputs`` instead gets the videos' calls all at once
(``concurrent=True``, one slot per video in flight): its model merges them into batches that
span videos (:mod:`vidscope.models.coalesce`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import ray

from vidscope.analyzers.base import Analyzer, Item, Record
from vidscope.media.probe import MediaInfo


class LostState(RuntimeError):
    """The actor does not know this video: it was restarted and lost its state."""


class AnalyzerActor:
    """An analyzer resident in a Ray actor (see the module docstring)."""

    def __init__(
        self, cls: type[Analyzer], params: dict[str, Any], device: str, concurrent: bool
    ) -> None:
        self.analyzer = cls(cls.Params.model_validate(params), device=device)
        self.states: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.serial = contextlib.nullcontext() if concurrent else self.lock
        self.counting = threading.Lock()
        self.active = 0
        self.busy_since = 0.0
        self.ready = False
        self.born = time.monotonic()
        self.restarted = ray.get_runtime_context().was_current_actor_reconstructed
        self.counts = {"setup_s": 0.0, "busy_s": 0.0, "calls": 0, "items": 0, "videos": 0}

    def setup(self) -> None:
        """Load the model (once)."""
        with self.lock:
            if not self.ready:
                t0 = time.perf_counter()
                self.analyzer.setup()
                self.counts["setup_s"] = round(time.perf_counter() - t0, 3)
                self.ready = True

    def _timed(self, fn: Any, *args: Any, items: int = 0) -> Any:
        """Run one call; busy time counts the wall time during which any call runs."""
        with self.serial:
            with self.counting:
                self.active += 1
                if self.active == 1:
                    self.busy_since = time.perf_counter()
            try:
                return fn(*args)
            finally:
                with self.counting:
                    self.active -= 1
                    if self.active == 0:
                        self.counts["busy_s"] += time.perf_counter() - self.busy_since
                    if items:
                        self.counts["calls"] += 1
                        self.counts["items"] += items

    def _state(self, key: str) -> Any:
        if key not in self.states:
            raise LostState(f"{self.analyzer.name}: no state for video {key} (actor restarted)")
        return self.states[key]

    def start(self, key: str, media: MediaInfo, inputs: frozenset[str]) -> None:
        self.setup()
        self.states[key] = self._timed(self.analyzer.start, media, inputs)
        with self.counting:
            self.counts["videos"] += 1

    def process(self, key: str, items: Sequence[Item]) -> list[Record]:
        state = self._state(key)
        return self._timed(
            lambda: list(self.analyzer.process_batch(state, items)), items=len(items)
        )

    def finish(self, key: str) -> tuple[list[Record], dict[str, Any]]:
        state = self._state(key)
        try:
            records = self._timed(lambda: list(self.analyzer.finish(state)))
            return records, self.analyzer.report(state)
        finally:
            self.states.pop(key, None)

    def abandon(self, key: str) -> None:
        """Forget a video that stopped before its end (its task failed or was cancelled)."""
        self.states.pop(key, None)

    def stats(self) -> dict[str, Any]:
        """Busy and idle time since the actor (re)started, for the run report."""
        alive = time.monotonic() - self.born
        with self.counting:
            busy = self.counts["busy_s"]
            if self.active:
                busy += time.perf_counter() - self.busy_since
            counts = dict(self.counts)
        return {
            **counts,
            "model": self.analyzer.model_stats(),
            "busy_s": round(busy, 3),
            "idle_s": round(max(0.0, alive - busy - self.counts["setup_s"]), 3),
            "alive_s": round(alive, 3),
            "pid": os.getpid(),
            "node": ray.get_runtime_context().get_node_id(),
            "restarted": self.restarted,
            "open_videos": len(self.states),
        }

    def teardown(self) -> None:
        with self.lock:
            if self.ready:
                self.analyzer.teardown()
                self.ready = False

"""Dynamic batching: concurrent calls to one resident model merged into one model call.

One loaded model often serves several inputs at once: a Ray actor serving every video in
flight, or the caption analyzers of one run sharing a VLM.  Each of them asks for its own,
often small, batch (the shots of one video that just closed, the last seconds of a video).
A :class:`Coalescer` merges the batches waiting at the same moment into one call, so the
device sees full batches while no caller waits for a batch to fill: a call that finds the
model idle runs at once, and calls arriving while it is busy are merged when it frees up
(the GPU's own busy time is the batching window, as in continuous batching servers).

Merging only what is already waiting falls into a convoy with two busy callers: A runs, B
arrives and waits, B runs alone the moment A finishes, A's next call arrives a millisecond
later and waits for B, and so on, never merged.  So once callers have been seen waiting for
each other, the next batch waits a little for more (``linger``: a tenth of the last model
call, at most; it stops as soon as the batch is full).  A caller that never meets another
never waits.

Ray Serve's ``@serve.batch`` does the same for asyncio deployments (with a fixed wait);
analyzers and their actors are threaded, so here it is done with a condition variable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(eq=False)
class _Call(Generic[T, R]):
    key: Hashable
    items: list[T]
    max_items: int | None
    result: list[R] | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class CoalescerStats:
    """Counters since the coalescer was made (the run report shows them per model)."""

    requests: int = 0
    """Calls made by callers."""
    calls: int = 0
    """Calls of the model function."""
    items: int = 0
    merged: int = 0
    """Model calls that served more than one caller."""
    largest: int = 0
    """Most items in one model call."""
    seconds: float = 0.0
    """Time spent in model calls."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "model_calls": self.calls,
            "items": self.items,
            "merged_calls": self.merged,
            "mean_batch": round(self.items / self.calls, 2) if self.calls else 0.0,
            "largest_batch": self.largest,
            "model_s": round(self.seconds, 3),
        }


class Coalescer(Generic[T, R]):
    """Runs ``fn(key, items)`` for the items of every caller waiting with the same ``key``.

    ``fn`` returns one result per item, in order; each caller gets the results of its own
    items.  ``fn`` never runs twice at once, so it needs no lock of its own.  Callers are
    served first come, first served: the oldest waiting call leads the next batch, and later
    calls with its key join while the batch stays within the leader's ``max_items`` (a call
    is never split).  If ``fn`` raises, every caller of that batch gets the exception.
    """

    def __init__(self, fn: Callable[[Any, list[T]], Sequence[R]], linger: float = 0.1) -> None:
        self._fn = fn
        self._linger = linger
        self._cond = threading.Condition()
        self._queue: list[_Call[T, R]] = []
        self._busy = False
        self._last_call_s = 0.0
        self._met = False
        """Whether a caller arrived while the model was busy, during its last call."""
        self.stats = CoalescerStats()

    def __call__(
        self, items: Sequence[T], *, key: Hashable = None, max_items: int | None = None
    ) -> list[R]:
        call: _Call[T, R] = _Call(key, list(items), max_items)
        with self._cond:
            self._queue.append(call)
            self.stats.requests += 1
            if self._busy:
                self._met = True
                self._cond.notify_all()  # a lingering leader may now have a full batch
            while not call.done:
                if self._busy:
                    self._cond.wait()
                    continue
                self._busy = True
                if self._met:
                    self._wait_for_more()
                batch = self._take()
                self._met = False
                self._cond.release()
                t0 = time.perf_counter()
                try:
                    self._run(batch)
                finally:
                    self._cond.acquire()
                    self._last_call_s = time.perf_counter() - t0
                    self._busy = False
                    self._note(batch, self._last_call_s)
                    self._cond.notify_all()
        if call.error is not None:
            raise call.error
        assert call.result is not None
        return call.result

    def _wait_for_more(self) -> None:
        """Give the callers that met at the last call time to come back (called holding the
        lock, as the next batch's leader)."""
        deadline = time.perf_counter() + self._linger * self._last_call_s
        while not self._full() and (left := deadline - time.perf_counter()) > 0:
            self._cond.wait(left)

    def _next(self) -> tuple[list[_Call[T, R]], int]:
        """The oldest waiting call and the later ones with its key that fit beside it."""
        lead = self._queue[0]
        batch, total = [lead], len(lead.items)
        for call in self._queue[1:]:
            if call.key != lead.key:
                continue
            if lead.max_items is not None and total + len(call.items) > lead.max_items:
                break
            batch.append(call)
            total += len(call.items)
        return batch, total

    def _full(self) -> bool:
        batch, total = self._next()
        limit = batch[0].max_items
        return limit is not None and total >= limit

    def _take(self) -> list[_Call[T, R]]:
        batch, _ = self._next()
        taken = set(map(id, batch))
        self._queue = [c for c in self._queue if id(c) not in taken]
        return batch

    def _run(self, batch: list[_Call[T, R]]) -> None:
        flat = [item for call in batch for item in call.items]
        try:
            results = list(self._fn(batch[0].key, flat))
            if len(results) != len(flat):
                raise RuntimeError(f"model call gave {len(results)} results for {len(flat)} items")
        except BaseException as exc:  # handed to every caller, re-raised in each thread
            for call in batch:
                call.error, call.done = exc, True
            return
        at = 0
        for call in batch:
            call.result, call.done = results[at : at + len(call.items)], True
            at += len(call.items)

    def _note(self, batch: list[_Call[T, R]], seconds: float) -> None:
        size = sum(len(c.items) for c in batch)
        s = self.stats
        s.seconds += seconds
        s.calls += 1
        s.items += size
        s.merged += len(batch) > 1
        s.largest = max(s.largest, size)

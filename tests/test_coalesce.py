"""Dynamic batching: callers that wait at the same time share one model call, each gets its own
results back, and a failure reaches every caller of the failed call."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from vidscope.models.coalesce import Coalescer


class Gated:
    """A model function whose first call waits for ``gate``, so later callers queue up."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.gate = threading.Event()
        self.calls: list[tuple[Any, list[int]]] = []
        self.fail_on = fail_on

    def __call__(self, key: Any, items: list[int]) -> list[int]:
        if not self.calls:
            self.gate.wait(10)
        self.calls.append((key, list(items)))
        if self.fail_on in items:
            raise ValueError(f"cannot do {self.fail_on}")
        return [x * 10 for x in items]


def _start(fn: Callable[[], Any], out: dict[str, Any], name: str) -> threading.Thread:
    def target() -> None:
        try:
            out[name] = fn()
        except Exception as exc:
            out[name] = exc

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def _queued(c: Coalescer, n: int) -> None:
    deadline = time.monotonic() + 10
    while c.stats.requests < n:
        assert time.monotonic() < deadline, "callers did not arrive"
        time.sleep(0.005)


def test_waiting_callers_share_one_call_and_get_their_own_results():
    fn = Gated()
    c: Coalescer[int, int] = Coalescer(fn)
    out: dict[str, Any] = {}
    threads = [_start(lambda: c([1], key="a", max_items=4), out, "first")]
    _queued(c, 1)
    for name, items in [("b", [2, 3]), ("c", [4]), ("d", [5, 6])]:
        threads.append(_start(lambda items=items: c(items, key="a", max_items=4), out, name))
        _queued(c, len(threads))
    fn.gate.set()
    for t in threads:
        t.join(10)
    assert out == {"first": [10], "b": [20, 30], "c": [40], "d": [50, 60]}
    # The first ran alone; then the oldest waiting call led, and the next fitted within 4 items.
    assert [items for _, items in fn.calls] == [[1], [2, 3, 4], [5, 6]]
    stats = c.stats.as_dict()
    assert stats.pop("model_s") >= 0
    assert stats == {
        "requests": 4,
        "model_calls": 3,
        "items": 6,
        "merged_calls": 1,
        "mean_batch": 2.0,
        "largest_batch": 3,
    }


def test_calls_with_different_keys_are_not_merged():
    fn = Gated()
    c: Coalescer[int, int] = Coalescer(fn)
    out: dict[str, Any] = {}
    threads = [_start(lambda: c([1], key=16), out, "first")]
    _queued(c, 1)
    for name, key in [("x", 32), ("y", 16), ("z", 32)]:
        threads.append(_start(lambda key=key: c([key], key=key), out, name))
        _queued(c, len(threads))
    fn.gate.set()
    for t in threads:
        t.join(10)
    assert fn.calls == [(16, [1]), (32, [32, 32]), (16, [16])]
    assert out == {"first": [10], "x": [320], "y": [160], "z": [320]}


def test_a_failed_call_fails_its_callers_only():
    fn = Gated(fail_on=3)
    c: Coalescer[int, int] = Coalescer(fn)
    out: dict[str, Any] = {}
    threads = [_start(lambda: c([1]), out, "first")]
    _queued(c, 1)
    for name, items in [("b", [2]), ("c", [3])]:
        threads.append(_start(lambda items=items: c(items), out, name))
        _queued(c, len(threads))
    fn.gate.set()
    for t in threads:
        t.join(10)
    assert out["first"] == [10]
    assert isinstance(out["b"], ValueError) and isinstance(out["c"], ValueError)
    assert out["b"] is out["c"]
    # The coalescer is usable afterwards.
    assert c([7]) == [70]


def test_a_caller_alone_runs_at_once():
    c: Coalescer[int, int] = Coalescer(lambda key, items: [x + 1 for x in items])
    assert c([1, 2, 3], max_items=2) == [2, 3, 4]
    with pytest.raises(RuntimeError, match="2 results for 1 items"):
        Coalescer(lambda key, items: [0, 0])([1])

"""How fast a stalled URL download lets go: an origin on 127.0.0.1 that sends 1 byte every 20 s.

- server: ``vidscope serve`` runs a URL job from that origin; once the origin has the request,
  ``POST /v1/jobs/ID/cancel``; time until the job reads ``cancelled``.
- CLI, Ctrl-C: ``vidscope analyze URL``; once the origin has the request, SIGINT; time until
  the process exits (130).
- CLI, on its own (``--stall``): the same run left alone, with the default minimum rate
  (1 KiB/s over 30 s); time until it exits (3) and its message.

Anything that has not ended after ``--cap`` seconds is recorded as "> cap" and killed.  Run
with ``PYTHONPATH=<other checkout>/src`` to measure another version the same way.

    .venv/bin/python bench/bench_cancel.py [--runs 5] [--cap 60] [--stall]
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench_server import start
from common import BIN, ROOT, table

sys.path.insert(0, str(ROOT / "tests"))
from slow_origin import SlowOrigin  # the tests' origin: one home for it

Timing = tuple[float | None, str]
"""Seconds until the end (None: still going at the cap) and how it ended."""


def wait_for_request(origin: SlowOrigin, before: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while origin.requests == before:
        if time.monotonic() > deadline:
            raise RuntimeError("the download never reached the origin")
        time.sleep(0.01)


def server_cancel(origin: SlowOrigin, cap: float) -> Timing:
    key = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start(
            Path(tmp) / "data", 1, key, "--allow-private-url", f"127.0.0.1:{origin.port}"
        )
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client:
                before = origin.requests
                response = client.post("/v1/jobs", json={"url": origin.url(every=20)})
                job_id = response.raise_for_status().json()["id"]
                wait_for_request(origin, before)
                t0 = time.perf_counter()
                client.post(f"/v1/jobs/{job_id}/cancel").raise_for_status()
                while time.perf_counter() - t0 < cap:
                    status = client.get(f"/v1/jobs/{job_id}").json()["status"]
                    if status != "running":
                        return time.perf_counter() - t0, status
                    time.sleep(0.01)
                return None, "still running"
        finally:
            proc.kill()
            proc.wait(30)


def cli(origin: SlowOrigin, cap: float, interrupt: bool) -> Timing:
    with tempfile.TemporaryDirectory() as tmp:
        before = origin.requests
        proc = subprocess.Popen(
            [str(BIN / "vidscope"), "analyze", origin.url(every=20), "-o", f"{tmp}/out",
             "-a", "shots", "-q"],
            env={**os.environ, "VIDSCOPE_CACHE_DIR": f"{tmp}/cache"},
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            wait_for_request(origin, before)
            t0 = time.perf_counter()
            if interrupt:
                proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=cap)
            wall = time.perf_counter() - t0
            lines = [line for line in stderr.splitlines() if line.strip()]
            return wall, f"exit {proc.returncode}" + (f": {lines[-1]}" if lines else "")
        except subprocess.TimeoutExpired:
            return None, "still running"
        finally:
            proc.kill()
            proc.wait()


def measure(name: str, runs: int, cap: float, once: Callable[[], Timing]) -> list[object]:
    results = [once() for _ in range(runs)]
    ended = [t for t, _ in results if t is not None]
    if len(ended) < len(results):
        median = worst = f"> {cap:g}"
    else:
        median, worst = f"{statistics.median(ended):.2f}", f"{max(ended):.2f}"
    outcomes = sorted({outcome for _, outcome in results})
    return [name, runs, median, worst, "; ".join(outcomes)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cap", type=float, default=60, help="give up on a run after this")
    parser.add_argument("--stall", action="store_true", help="also time the unaided stall")
    args = parser.parse_args()
    with SlowOrigin() as origin:
        rows = [
            measure(
                "server: cancel a URL job", args.runs, args.cap,
                lambda: server_cancel(origin, args.cap),
            ),
            measure(
                "CLI: Ctrl-C (SIGINT)", args.runs, args.cap,
                lambda: cli(origin, args.cap, interrupt=True),
            ),
        ]  # fmt: skip
        if args.stall:
            rows.append(
                measure(
                    "CLI: left alone (default minimum rate)", 1, max(args.cap, 90),
                    lambda: cli(origin, max(args.cap, 90), interrupt=False),
                )
            )  # fmt: skip
    print(table(["case", "runs", "median s", "max s", "outcome"], rows))
    command = f"bench/bench_cancel.py --runs {args.runs} --cap {args.cap:g}"
    command += " --stall" if args.stall else ""
    print(f"\norigin: 1 byte every 20 s on 127.0.0.1\ncommand: .venv/bin/python {command}")


if __name__ == "__main__":
    main()

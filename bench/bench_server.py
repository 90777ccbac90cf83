"""HTTP service latency and throughput under a bounded load.

Starts ``vidscope serve`` on 127.0.0.1 (its own data directory, a random key), then measures:
status requests from 50 concurrent clients on an idle server; 10 uploads submitted at once;
the same status load while those jobs run; and how long the 10 jobs take to drain.

    .venv/bin/python bench/bench_server.py [--workers 2] [--requests 2000] [--jobs 10]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import os
import secrets
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx

from common import BIN, MEDIA, table


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(data: Path, workers: int, key: str, *extra: str) -> tuple[subprocess.Popen, str]:
    """The server with access logs off (warning level), as a busy deployment would run it;
    ``extra`` options are added to its command line.  ``$PYTHONPATH`` is passed on, so that
    another checkout's source can be measured the same way."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            str(BIN / "vidscope"), "serve", "--port", str(port), "--data-dir", str(data),
            "--workers", str(workers), "--max-queued", "1000", "--log-level", "warning",
            "--set", 'analyzers=["shots","visual_stats"]', *extra,
        ],
        env={
            "VIDSCOPE_API_KEYS": key, "PATH": str(BIN),
            **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
        },
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def stats(name: str, latencies: list[float], wall: float) -> list[object]:
    ms = sorted(x * 1000 for x in latencies)
    p = statistics.quantiles(ms, n=100)
    return [name, len(ms), f"{p[49]:.1f}", f"{p[94]:.1f}", f"{p[98]:.1f}", f"{len(ms) / wall:.0f}"]


def hammer(
    url: str, key: str, paths: list[str], n: int, concurrency: int
) -> tuple[list[float], float]:
    """``n`` GETs over ``paths`` from ``concurrency`` keep-alive clients (threads on
    http.client: a heavier client, httpx's async pool, measured itself more than the server).
    Every answer must be 200."""
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    todo = iter(range(n))

    def client() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        for i in todo:  # shared iterator: the clients split the n requests between them
            t0 = time.perf_counter()
            conn.request("GET", paths[i % len(paths)], headers={"Authorization": f"Bearer {key}"})
            response = conn.getresponse()
            body = response.read()
            latencies.append(time.perf_counter() - t0)
            assert response.status == 200, body
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - t0


def run(url: str, key: str, args: argparse.Namespace) -> list[list[object]]:
    clip = (MEDIA / "pyscenedetect" / "counter.mp4").read_bytes()
    headers = {"Authorization": f"Bearer {key}"}
    n, c = args.requests, args.concurrency
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:

        def submit(_: int) -> tuple[str, float]:
            t0 = time.perf_counter()
            response = client.post("/v1/jobs", files={"file": ("c.mp4", clip, "video/mp4")})
            assert response.status_code == 202, response.text
            return response.json()["id"], time.perf_counter() - t0

        def drain(ids: list[str]) -> None:
            while not all(
                client.get(f"/v1/jobs/{i}").json()["status"] in ("succeeded", "failed") for i in ids
            ):
                time.sleep(0.05)

        first, _ = submit(0)
        drain([first])
        rows = [stats("status, idle server", *hammer(url, key, [f"/v1/jobs/{first}"], n, c))]
        rows.append(stats("health, idle server", *hammer(url, key, ["/health"], n, c)))

        t_jobs = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            submitted = list(pool.map(submit, range(args.jobs)))
        ids = [job_id for job_id, _ in submitted]
        label = f"upload ({len(clip) // 1024} KiB), {args.jobs} at once"
        rows.append(stats(label, [t for _, t in submitted], time.perf_counter() - t_jobs))
        paths = [f"/v1/jobs/{job_id}" for job_id in ids]
        rows.append(
            stats(f"status, {args.jobs} jobs queued/running", *hammer(url, key, paths, n, c))
        )
        drain(ids)
        wall = time.perf_counter() - t_jobs
        statuses = [client.get(p).json()["status"] for p in paths]
        assert statuses == ["succeeded"] * args.jobs, statuses
        rate = f"{args.jobs / wall:.2f} jobs/s ({wall:.1f} s)"
        rows.append([f"{args.jobs} jobs drained (3 s clip each)", args.jobs, "", "", "", rate])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=10)
    args = parser.parse_args()
    key = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start(Path(tmp) / "data", args.workers, key)
        try:
            rows = run(url, key, args)
        finally:
            proc.terminate()
            proc.wait(30)
    print(table(["load", "requests", "p50 ms", "p95 ms", "p99 ms", "throughput /s"], rows))
    print(
        f"\n{args.concurrency} concurrent keep-alive clients on the same machine; "
        f"server with --workers {args.workers}.\ncommand: .venv/bin/python bench/bench_server.py "
        f"--workers {args.workers} --requests {args.requests} --concurrency {args.concurrency} "
        f"--jobs {args.jobs}"
    )


if __name__ == "__main__":
    main()

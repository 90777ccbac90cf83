"""Server memory while clients send large JSON bodies (they should cost little).

Starts ``vidscope serve`` on 127.0.0.1 with a key, then sends bodies of the two kinds that
cost a JSON parser the most: one long base64 string (60 MiB) and many small objects (36 MiB
of ``{}``), to ``/analyze`` and ``/analyze_batch``, ``--concurrency`` at a time, first without
a key (every answer must be 401), then with it (the server has no VLM, so a body that is read
and parsed is answered 503).  The server's resident memory (``VmRSS``) and its peak
(``VmHWM``) come from ``/proc/PID/status`` before and after each kind.

    .venv/bin/python bench/bench_server_bodies.py [--repeats 4] [--concurrency 2]

Set ``PYTHONPATH`` to another checkout's ``src`` to measure that version's server.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx

from bench_server import start
from common import table

MIB = 2**20


def one_image(size: int) -> bytes:
    head, tail = (
        b'{"shot_id": 1, "images": ["',
        b'"], "start_time": 0, "end_time": 1, "duration": 1}',
    )
    return head + b"QUFB" * ((size - len(head) - len(tail)) // 4) + tail


def small_objects(size: int) -> bytes:
    head = b'{"shots": [{"shot_id": 1, "images": ["aGVsbG8="], "audio_features": {"v": [{}'
    tail = b']}, "start_time": 0, "end_time": 1, "duration": 1}]}'
    return head + b",{}" * ((size - len(head) - len(tail)) // 3) + tail


def memory(pid: int) -> dict[str, float]:
    """Resident and peak resident memory of ``pid``, MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=4, help="requests per kind of body")
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    kinds: list[tuple[str, str, Callable[[int], bytes], int]] = [
        ("one 60 MiB base64 string", "/analyze", one_image, 60 * MIB),
        ("36 MiB of small objects", "/analyze_batch", small_objects, 36 * MIB),
    ]
    key = secrets.token_urlsafe(32)
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start(Path(tmp) / "data", 1, key)
        try:
            with httpx.Client(base_url=url, timeout=300) as client:
                for (name, path, make, size), keyed in itertools.product(kinds, (False, True)):
                    body = make(size)
                    before = memory(proc.pid)
                    headers = {"Content-Type": "application/json"}
                    if keyed:
                        headers["Authorization"] = f"Bearer {key}"

                    def send(
                        _: int, path: str = path, body: bytes = body, headers: dict = headers
                    ) -> int:
                        return client.post(path, content=body, headers=headers).status_code

                    with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
                        codes = sorted(set(pool.map(send, range(args.repeats))))
                    assert keyed or codes == [401], codes
                    after = memory(proc.pid)
                    rows.append([
                        name, "key" if keyed else "none", path, f"{len(body) / MIB:.0f}",
                        args.repeats, ",".join(map(str, codes)),
                        f"{before['VmRSS']:.0f}", f"{after['VmHWM']:.0f}", f"{after['VmRSS']:.0f}",
                    ])  # fmt: skip
        finally:
            proc.terminate()
            proc.wait(30)
    print(
        table(
            [
                "body",
                "key",
                "endpoint",
                "MiB",
                "requests",
                "answers",
                "RSS before MiB",
                "peak RSS MiB",
                "RSS after MiB",
            ],
            rows,
        )
    )
    print(
        f"\n{args.concurrency} at a time; peak RSS is the server's high-water mark since it "
        f"started.\ncommand: .venv/bin/python bench/bench_server_bodies.py "
        f"--repeats {args.repeats} --concurrency {args.concurrency}"
    )


if __name__ == "__main__":
    main()

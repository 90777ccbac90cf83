"""The trust boundary of ``vidscope serve``: what an API client cannot make the server do.

Real ``vidscope serve`` processes on 127.0.0.1: an anonymous client is refused before its body
is read; headers that two layers could read differently are refused; malformed requests get
a 4xx that repeats none of their content (a fuzzer over the OpenAPI schema finds no 5xx); a
job that keeps killing the server is given up; a client never sees the server's paths, other
keys' jobs, or its own key in the access log.  Origins and the VLM endpoint are small HTTP
servers in the test, on loopback.
"""

from __future__ import annotations

import base64
import io
import itertools
import re
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error

from test_server import (
    ALICE,
    BOB,
    TERMINAL,
    VIDSCOPE,
    Served,
    _Media,
    server_env,
    serving,
    submitted,
    upload,
    wait_for,
)
from test_vlm_http import FakeVlm, Handler

FUZZ = "fuzz-" + secrets.token_hex(16)
SHOT = {
    "shot_id": 7,
    "images": ["aGVsbG8gd29ybGQ="],
    "audio_features": {"rms": 0.1},
    "start_time": 1.0,
    "end_time": 2.5,
    "duration": 1.5,
}


@pytest.fixture(scope="module")
def vlm() -> Iterator[str]:
    """An OpenAI-compatible endpoint on loopback, so that ``/analyze`` answers (not 503)."""
    handler = type("TrustVlm", (Handler,), {"fake": FakeVlm()})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


@pytest.fixture(scope="module")
def garbage() -> Iterator[_Media]:
    """An origin whose ``/clip.mp4`` is said to be a video and is not one."""
    origin = _Media(b"this is not a video at all " * 400)
    yield origin
    origin.httpd.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, vlm: str, garbage: _Media) -> Iterator[Served]:
    with serving(
        tmp_path_factory.mktemp("trust") / "data",
        "--allow-private-url", f"127.0.0.1:{garbage.port}",
        "--vlm-endpoint", vlm, "--vlm-model", "fake-vlm",
        "--set", 'analyzers=["shots"]',
        env=server_env(keys=f"{ALICE},{BOB},{FUZZ}"),
    ) as served:  # fmt: skip
        yield served


@pytest.fixture()
def alice(server: Served) -> Iterator[httpx.Client]:
    with server.client(ALICE) as client:
        yield client


def answer_to(url: str, request: bytes, timeout: float = 20) -> bytes:
    """Send ``request`` (headers and maybe only the start of a body) and return the whole
    answer (read by its Content-Length), without sending anything more."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:

        def more(sofar: bytes) -> bytes:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {sofar!r}"
            return sofar + chunk

        answer = sock.sendall(request) or b""
        while b"\r\n\r\n" not in answer:
            answer = more(answer)
        head = answer.partition(b"\r\n\r\n")[0]
        found = re.search(rb"content-length: (\d+)", head, re.I)
        assert found, head
        while len(answer) < len(head) + 4 + int(found.group(1)):
            answer = more(answer)
        return answer


def png_base64(width: int, height: int) -> str:
    """A real PNG of noise (it hardly compresses), base64."""
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


def partial_post(path: str, length: int, start: bytes, **headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + start


@pytest.mark.parametrize("path", ["/analyze", "/analyze_batch", "/v1/jobs", "/v1/jobs/x/cancel"])
def test_anonymous_requests_are_refused_before_their_body_is_read(
    server: Served, path: str
) -> None:
    # 60 MiB announced, 1 KiB sent: an answer can only come before the body is read.
    request = partial_post(
        path, 60 * 2**20, b'{"shots": [' + b" " * 1024, content_type="application/json"
    )
    answer = answer_to(server.url, request)
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    assert b"www-authenticate: Bearer" in answer
    wrong = partial_post(
        path, 60 * 2**20, b"{", content_type="application/json", authorization="Bearer nope"
    )
    assert answer_to(server.url, wrong).startswith(b"HTTP/1.1 401 ")


def test_json_bodies_but_the_shot_endpoints_are_small(server: Served, alice: httpx.Client) -> None:
    big = {"url": "http://127.0.0.1/x.mp4", "options": {"analyzer": {"shots": {"p": "x" * 2**17}}}}
    response = alice.post("/v1/jobs", json=big)
    assert response.status_code == 413, response.text
    assert response.json()["detail"] == f"request body larger than {64 * 1024} bytes"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"url": "http://127.0.0.1/x.mp4", "x": "'
        for _ in range(40):
            yield b"A" * 4096
        yield b'"}'

    chunked = alice.post("/v1/jobs", content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413
    # The shot endpoints carry images: a 1 MiB body is read (and refused for what it says).
    large_shot = {**SHOT, "images": ["QUFB" * 2**18], "start_time": -1}
    assert alice.post("/analyze", json=large_shot).status_code == 422
    # An authenticated client is told early too, when it announces a body over the limit.
    request = partial_post(
        "/v1/jobs", 2**20, b"{", content_type="application/json", authorization=f"Bearer {ALICE}"
    )
    assert answer_to(server.url, request).startswith(b"HTTP/1.1 413 ")


def test_a_key_holder_cannot_send_a_parser_bomb(server: Served, alice: httpx.Client) -> None:
    # 36 MiB of tiny objects is under the shot endpoints' byte limit, but a JSON parser would
    # build ~12 million Python objects (over 1 GB) before validation could refuse it.
    head = b'{"shots": [{"shot_id": 1, "images": ["aGVsbG8="], "audio_features": {"v": [{}'
    bomb = head + b",{}" * (12 * 2**20) + b']}, "start_time": 0, "end_time": 1, "duration": 1}]}'
    headers = {"Content-Type": "application/json"}
    response = alice.post("/analyze_batch", content=bomb, headers=headers)
    assert response.status_code == 413, response.text[:200]
    assert response.json()["detail"] == "request body holds more than 100000 values"
    # Images are base64, which holds no separator: a batch at its limits is still read.
    shots = [{**SHOT, "shot_id": i, "images": [png_base64(96, 54)] * 10} for i in range(64)]
    answered = alice.post("/analyze_batch", json={"shots": shots})
    assert answered.status_code == 200, answered.text[:200]
    assert [r["shot_id"] for r in answered.json()["results"]] == list(range(64))


def test_duplicate_headers_are_refused(server: Served) -> None:
    json_, form = "Content-Type: application/json", "Content-Type: multipart/form-data; boundary=b"
    auth = f"Authorization: Bearer {ALICE}"
    for name, headers in (
        ("Content-Type", [auth, json_, form]),  # a limit read the last, the endpoint the first
        ("Content-Type", [auth, form, json_]),
        ("Authorization", [auth, f"Authorization: Bearer {BOB}", json_]),
    ):
        body = b'{"url": "http://127.0.0.1:1/x.mp4"}'
        request = "\r\n".join(
            ["POST /v1/jobs HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}", *headers]
        )
        answer = answer_to(server.url, request.encode() + b"\r\n\r\n" + body)
        assert answer.startswith(b"HTTP/1.1 400 "), answer
        assert answer.endswith(f'{{"detail":"more than one {name} header"}}'.encode()), answer


def test_errors_never_echo_the_request(alice: httpx.Client, counter_clip: Path) -> None:
    marker = "MARKER" + secrets.token_hex(8)
    cases = [
        alice.post("/v1/jobs", json={"url": 42, "colour": marker}),
        upload(alice, counter_clip, options=f'{{"audio_channel": "{marker}"}}'),
        upload(alice, counter_clip, analyzers=f"shots,{marker}!"),
        alice.post("/analyze", json={**SHOT, "shot_id": marker}),
        alice.post("/analyze_batch", json={"shots": [SHOT, {**SHOT, "images": [marker]}]}),
        alice.post("/analyze", json={**SHOT, marker * 20: 1, "start_time": marker}),
    ]
    for response in cases:
        assert 400 <= response.status_code < 500, response.text
        assert marker not in response.text, response.text
        for reason in response.json()["detail"]:
            assert set(reason) == {"loc", "msg", "type"} and "\n" not in reason["msg"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"shot_id": 1, "images": ["aGVsbG8="], "start_time": NaN, "end_time": 1, "duration": 1}',
        b'{"shot_id": 1, "images": ["aGVsbG8="], "start_time": 0, "end_time": Infinity,'
        b' "duration": 1}',
        b'{"shot_id": 1, "images": ["aGVsbG8="], "start_time": 0, "end_time": 1,'
        b' "duration": -Infinity}',
        b'{"shot_id": 1, "images": ["aGVsbG8="], "start_time": 0, "end_time": 1, "duration": 1,'
        b' "audio_features": {"rms": [0.1, NaN]}}',
        b'{"shot_id": 1, "images": ["\xff\xfe"], "start_time": 0, "end_time": 1, "duration": 1}',
        b"\xff\xfe\x00{",
        b"[" * 50_000,
    ],
)
def test_malformed_json_is_a_4xx_with_one_line_reasons(alice: httpx.Client, body: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    for path in ("/analyze", "/v1/jobs"):
        response = alice.post(path, content=body, headers=headers)
        assert response.status_code in (400, 422), (path, response.status_code, response.text)
        detail = response.json()["detail"]
        reasons = [detail] if isinstance(detail, str) else [r["msg"] for r in detail]
        assert reasons and all(r and "\n" not in r for r in reasons), detail


def test_unreadable_images_are_the_clients_error(alice: httpx.Client) -> None:
    response = alice.post("/analyze", json=SHOT)  # valid base64, not an image
    assert response.status_code == 422 and "not a readable image" in response.json()["detail"]


@pytest.fixture(scope="module")
def counter_clip(media) -> Path:
    return media("pyscenedetect/counter.mp4")


def test_no_server_paths_in_answers(server: Served, alice: httpx.Client, garbage: _Media) -> None:
    data = str(server.data_dir)
    refused = alice.post(
        "/v1/jobs", files={"file": ("holiday.mp4", b"not a video at all" * 100, "video/mp4")}
    )
    assert refused.status_code == 415
    assert "holiday.mp4" in refused.json()["detail"] and data not in refused.text
    assert "/" not in refused.json()["detail"]

    job = wait_for(alice, submitted(alice.post("/v1/jobs", json={"url": garbage.url("/clip.mp4")})))
    assert job["status"] == "failed" and "not a readable media file" in job["error"], job
    assert data not in job["error"] and f"jobs/{job['id']}/" in job["error"]
    assert data not in alice.get(f"/v1/jobs/{job['id']}/result").text


def test_metrics_show_a_key_its_own_jobs(
    server: Served, alice: httpx.Client, counter_clip: Path
) -> None:
    def figures(key: str) -> dict[str, float]:
        with server.client(key) as client:
            text = client.get("/metrics").raise_for_status().text
        return {k: float(v) for k, v in re.findall(r"^(vidscope_\S+) (\S+)$", text, re.M)}

    wait_for(alice, submitted(upload(alice, counter_clip, analyzers="shots")))
    mine = figures(ALICE)
    assert mine['vidscope_jobs{state="succeeded"}'] >= 1
    theirs = figures(BOB)
    assert sum(v for k, v in theirs.items() if k.startswith("vidscope_jobs{")) == 0
    assert theirs["vidscope_queue_depth"] == 0
    assert not any(k.startswith("vidscope_stage_busy") for k in theirs)

    # The whole server's figures are the operator's, read from the data directory.
    operator = subprocess.run(
        [str(VIDSCOPE), "metrics", "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, env=server_env(keys=None), check=True, timeout=60,
    )  # fmt: skip
    everyone = dict(re.findall(r"^(vidscope_\S+) (\S+)$", operator.stdout, re.M))
    assert (
        float(everyone['vidscope_jobs{state="succeeded"}'])
        >= mine['vidscope_jobs{state="succeeded"}']
    )
    assert float(everyone['vidscope_stage_busy_seconds_total{stage="shots"}']) > 0


def test_keys_in_the_url_are_refused_and_never_logged(server: Served) -> None:
    with server.client(None) as anonymous:
        for params in ({"api_key": ALICE}, {"limit": "1", "API_KEY": ALICE}):
            response = anonymous.get("/v1/jobs", params=params)
            assert response.status_code == 400
            assert "Authorization header" in response.json()["detail"]
    with server.client(ALICE) as alice:
        assert alice.get("/health", params={"access_token": ALICE}).status_code == 400
    deadline = time.monotonic() + 10
    while "access_token=REDACTED" not in server.output():  # the access log is on, and written
        assert time.monotonic() < deadline, server.output()[-2000:]
        time.sleep(0.05)
    assert ALICE not in server.output()


class _StallingOrigin:
    """An origin that starts sending a video and then stalls until the test ends."""

    def __init__(self) -> None:
        self.release = threading.Event()
        origin = self

        class Stall(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", str(2**20))
                self.end_headers()
                self.wfile.write(b"\0" * 1024)
                self.wfile.flush()
                origin.release.wait(120)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Stall)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()


def _running(client: httpx.Client, job_id: str, attempts: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        job = client.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        if job["status"] == "running" and job["attempts"] == attempts:
            return
        assert job["status"] not in TERMINAL and time.monotonic() < deadline, job
        time.sleep(0.05)


@pytest.mark.slow
def test_a_job_interrupted_twice_is_failed_and_crash_leftovers_are_swept(tmp_path: Path) -> None:
    origin = _StallingOrigin()
    data = tmp_path / "data"
    args = ("--allow-private-url", f"127.0.0.1:{origin.port}", "--set", 'analyzers=["shots"]')
    try:
        first = Served(data, *args)
        with first.client() as client:
            job_id = submitted(
                client.post("/v1/jobs", json={"url": f"http://127.0.0.1:{origin.port}/v.mp4"})
            )
            _running(client, job_id, attempts=1)
        # An upload cut off by the crash: its directory exists, its job never will.
        with socket.create_connection(("127.0.0.1", int(first.url.rsplit(":", 1)[1]))) as sock:
            boundary = "trust-boundary"
            sock.sendall(
                partial_post(
                    "/v1/jobs",
                    2**20,
                    f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                    f'filename="cut.mp4"\r\nContent-Type: video/mp4\r\n\r\n'.encode()
                    + b"\0" * 4096,
                    content_type=f"multipart/form-data; boundary={boundary}",
                    authorization=f"Bearer {ALICE}",
                )
            )
            deadline = time.monotonic() + 30
            while len(list((data / "jobs").iterdir())) < 2:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            first.kill()
        (orphan,) = [p for p in (data / "jobs").iterdir() if p.name != job_id]

        second = Served(data, *args)
        assert not orphan.exists()
        with second.client() as client:
            _running(client, job_id, attempts=2)  # re-queued once
        second.kill()

        third = Served(data, *args)
        try:
            with third.client() as client:
                job = client.get(f"/v1/jobs/{job_id}").json()
                assert job["status"] == "failed" and job["attempts"] == 2, job
                assert job["error"] == (
                    "interrupted twice (the server stopped or crashed while running it);"
                    " not retried"
                )
        finally:
            third.stop()
    finally:
        origin.close()


def test_keys_file_half_written(tmp_path: Path, counter_clip: Path) -> None:
    data = tmp_path / "data"
    env = server_env(keys=None)
    added = subprocess.run(
        [str(VIDSCOPE), "keys", "add", "dana", "--data-dir", str(data)],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    key = added.stdout.strip().splitlines()[-1]
    keys_file = data / "keys.json"
    whole = keys_file.read_bytes()

    keys_file.write_bytes(whole[: len(whole) // 2])
    refused = subprocess.run(
        [str(VIDSCOPE), "serve", "--port", "0", "--data-dir", str(data)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2 and "not a valid keys file" in refused.stderr, refused.stderr

    keys_file.write_bytes(whole)
    served = Served(data, env=env)
    try:
        with served.client(key) as client:
            assert client.get("/v1/jobs").status_code == 200
            keys_file.write_bytes(whole[: len(whole) // 2])  # an editor, caught mid-write
            assert client.get("/v1/jobs").status_code == 200
            with served.client(None) as anonymous:
                assert anonymous.get("/v1/jobs").status_code == 401
            keys_file.write_bytes(whole)
            assert client.get("/v1/jobs").status_code == 200
            keys_file.write_bytes(orjson.dumps({"keys": []}))
            assert client.get("/v1/jobs").status_code == 401  # a complete file counts
    finally:
        served.stop()


@pytest.mark.slow
def test_fuzzed_requests_never_get_a_server_error(server: Served) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {"/v1/jobs", "/analyze", "/analyze_batch", "/metrics"} <= {op.path for op in operations}
    for operation, mode in itertools.product(operations, schemathesis.GenerationMode):

        @settings(
            max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy(mode))
        def call(case: schemathesis.Case) -> None:
            if isinstance(case.body, dict) and "url" in case.body:
                # A fuzzed URL job must not reach past this machine: a closed loopback port
                # (which this server may not reach anyway) instead.
                case.body["url"] = "http://127.0.0.1:1/fuzzed.mp4"
            case.call_and_validate(
                headers={"Authorization": f"Bearer {FUZZ}"}, checks=[not_a_server_error], timeout=30
            )

        try:
            call()
        except Unsatisfiable:
            assert mode.is_negative, operation.label  # nothing in it can be made invalid

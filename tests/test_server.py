"""The HTTP service, against real ``vidscope serve`` processes on 127.0.0.1 and real clips.

One server (module fixture) serves most tests; the restart tests start their own, on their own
data directories, and kill them.  URL jobs fetch from a small HTTP server on 127.0.0.1 that
the vidscope server is told it may reach (``--allow-private-url 127.0.0.1:PORT``); nothing
here sends a packet off this machine.
"""

from __future__ import annotations

import concurrent.futures
import io
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from conftest import missing, need
from slow_origin import trickle
from vidscope.errors import InputError
from vidscope.media.transfer import Limits
from vidscope.server.urls import UnsafeURL, UrlPolicy, fetch_media
from vidscope.timeline.result import Result, overlaps

VIDSCOPE = Path(sys.executable).with_name("vidscope")
FAST = "shots,visual_stats"
TERMINAL = {"succeeded", "failed", "cancelled"}
ALICE = "alice-" + secrets.token_hex(16)
BOB = "bob-" + secrets.token_hex(16)


class Served:
    """A ``vidscope serve`` process on an ephemeral loopback port."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = data_dir.parent / f"{data_dir.name}-{time.monotonic_ns()}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(VIDSCOPE), "serve", "--port", "0", "--data-dir", str(data_dir), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env if env is not None else server_env(),
                cwd=data_dir.parent,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", self.output())
            if found:
                self.url = found.group(1)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.proc.kill()
        raise AssertionError(f"server did not start:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def client(self, key: str | None = ALICE) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def server_env(keys: str | None = f"{ALICE},{BOB}") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDSCOPE_")}
    if keys is not None:
        env["VIDSCOPE_API_KEYS"] = keys
    return env


def upload(client: httpx.Client, clip: Path, analyzers: str = FAST, **data: str) -> httpx.Response:
    return client.post(
        "/v1/jobs",
        files={"file": (clip.name, clip.read_bytes(), "video/mp4")},
        data={"analyzers": analyzers, **data},
    )


def submitted(response: httpx.Response) -> str:
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued"
    return body["id"]


def wait_for(
    client: httpx.Client, job_id: str, until: set[str] = TERMINAL, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        if job["status"] in until or time.monotonic() > deadline:
            assert job["status"] in until, job
            return job
        time.sleep(0.05)


class _Media:
    """Test media over HTTP on 127.0.0.1, counting what each path was asked for."""

    def __init__(self, clip: bytes) -> None:
        self.clip = clip
        self.hits: Counter[str] = Counter()
        self.closing = threading.Event()
        media = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                media.hits[self.path] += 1
                port = self.server.server_address[1]
                if self.path in ("/clip.mp4", "/secret.mp4"):
                    self.send_response(200)
                    self.send_header("Content-Type", "video/mp4")
                    self.send_header("Content-Length", str(len(media.clip)))
                    self.end_headers()
                    self.wfile.write(media.clip)
                elif self.path == "/to-localhost":
                    self.redirect(f"http://localhost:{port}/secret.mp4")
                elif self.path == "/to-other-port":
                    self.redirect("http://127.0.0.1:1/secret.mp4")
                elif self.path.startswith("/trickle.mp4"):  # a stalled origin
                    trickle(self, media.closing)
                elif self.path == "/page":
                    body = b"<html>not a video</html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_error(404)

            def redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="module")
def counter(media) -> Path:
    return media("pyscenedetect/counter.mp4")


@pytest.fixture(scope="module")
def media_http(counter: Path) -> Iterator[_Media]:
    server = _Media(counter.read_bytes())
    yield server
    server.closing.set()
    server.httpd.shutdown()


@contextmanager
def serving(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """A server for a module's tests: stopped at the end, and it must not have logged a
    traceback meanwhile."""
    served = Served(data_dir, *args, env=env)
    try:
        yield served
    finally:
        served.stop()
    assert "Traceback" not in served.output(), served.output()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, media_http: _Media) -> Iterator[Served]:
    with serving(
        tmp_path_factory.mktemp("server") / "data",
        "--workers", "2",
        "--max-upload-mb", "3",
        "--max-queued", "12",
        "--allow-private-url", f"127.0.0.1:{media_http.port}",
        "--set", 'analyzers=["shots","visual_stats"]',
    ) as served:  # fmt: skip
        yield served


@pytest.fixture()
def alice(server: Served) -> Iterator[httpx.Client]:
    with server.client(ALICE) as client:
        yield client


@pytest.fixture()
def bob(server: Served) -> Iterator[httpx.Client]:
    with server.client(BOB) as client:
        yield client


def test_health_needs_no_key_and_docs_describe_the_api(server: Served) -> None:
    with server.client(None) as anonymous:
        health = anonymous.get("/health")
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "healthy"
        assert body["vlm"] == "not configured" and body["model"] is None
        assert body["device"] == "cpu"
        assert body["gpu_count"] == len(body["gpus"])
        assert anonymous.get("/docs").status_code == 200
        paths = anonymous.get("/openapi.json").json()["paths"]
    for path in ("/v1/jobs", "/v1/jobs/{job_id}/tracks/{name}", "/analyze", "/analyze_batch"):
        assert path in paths


def test_job_lifecycle_upload_poll_result_tracks(
    server: Served, alice: httpx.Client, counter: Path
) -> None:
    job_id = submitted(upload(alice, counter))
    job = wait_for(alice, job_id)
    assert job["status"] == "succeeded", job
    assert job["source"] == "counter.mp4" and job["analyzers"] == ["shots", "visual_stats"]
    for name in ("shots", "visual_stats"):
        progress = job["progress"][name]
        assert progress["total"] == pytest.approx(3.0, abs=0.1)
        assert progress["done"] == progress["total"] and progress["status"] == "done"

    manifest = alice.get(f"/v1/jobs/{job_id}/result").raise_for_status().json()
    assert manifest["status"] == "complete"
    assert {"shots", "visual_stats"} <= set(manifest["tracks"])
    assert manifest["source"] == {"kind": "upload", "input": "counter.mp4"}
    assert str(server.data_dir) not in orjson.dumps(manifest).decode()

    # What the bundle on disk says is the reference for the range query.
    bundle = Result(server.data_dir / "jobs" / job_id / "result")
    expected = bundle.between(1.2, 2.5, ["visual_stats"])["visual_stats"]
    assert 2 <= len(expected) < len(bundle.track("visual_stats"))
    url = f"/v1/jobs/{job_id}/tracks/visual_stats"
    whole = alice.get(url, params={"start": 1.2, "end": 2.5})
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "application/x-ndjson"
    assert "x-next-offset" not in whole.headers
    records = [orjson.loads(line) for line in whole.text.splitlines()]
    assert records == expected and all(overlaps(r, 1.2, 2.5) for r in records)

    pages: list[dict] = []
    offset: str | None = "0"
    while offset is not None:
        page = alice.get(url, params={"start": 1.2, "end": 2.5, "limit": 1, "offset": offset})
        lines = page.raise_for_status().text.splitlines()
        assert len(lines) == 1
        pages += [orjson.loads(line) for line in lines]
        offset = page.headers.get("x-next-offset")
    assert pages == expected

    shots = alice.get(f"/v1/jobs/{job_id}/tracks/shots").raise_for_status().text.splitlines()
    assert [orjson.loads(s) for s in shots] == bundle.track("shots")
    missing = alice.get(f"/v1/jobs/{job_id}/tracks/nothing")
    assert missing.status_code == 404 and "visual_stats" in missing.json()["detail"]
    assert alice.get(url, params={"start": 2, "end": 1}).status_code == 422

    listed = alice.get("/v1/jobs").raise_for_status().json()["jobs"]
    assert job_id in [j["id"] for j in listed]
    assert alice.delete(f"/v1/jobs/{job_id}").status_code == 204
    assert not (server.data_dir / "jobs" / job_id).exists()
    assert alice.get(f"/v1/jobs/{job_id}").status_code == 404


def _events(client: httpx.Client, job_id: str) -> list[tuple[str, dict]]:
    events: list[tuple[str, dict]] = []
    with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                events.append((name, orjson.loads(line[len("data: ") :])))
    return events


def test_progress_as_server_sent_events(alice: httpx.Client, media) -> None:
    job_id = submitted(upload(alice, media("debian/Megamind.avi")))
    events = _events(alice, job_id)  # the stream ends by itself when the job does
    names = [name for name, _ in events]
    assert names[-1] == "end" and events[-1][1] == {"status": "succeeded"}
    statuses = [data for name, data in events if name == "status"]
    assert statuses and statuses[-1]["status"] == "succeeded"
    final = statuses[-1]["progress"]
    assert final["shots"]["done"] == pytest.approx(11.26, abs=0.2)
    # Progress only grows, event after event.
    done = [s["progress"].get("shots", {}).get("done", 0) for s in statuses]
    assert done == sorted(done)


SHOT = {
    "shot_id": 7,
    "images": ["aGVsbG8gd29ybGQ="],
    "audio_features": {"rms": 0.1},
    "start_time": 1.0,
    "end_time": 2.5,
    "duration": 1.5,
}


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {k: v for k, v in SHOT.items() if k != "shot_id"},
        {**SHOT, "shot_id": "seven"},
        {**SHOT, "images": ["not base64!"]},
        {**SHOT, "images": []},
        {**SHOT, "images": ["aGVsbG8="] * 11},
        {**SHOT, "video": "aGVsbG8="},  # both images and video
        {k: v for k, v in SHOT.items() if k != "images"},  # neither
        {**SHOT, "end_time": 0.5},
        {**SHOT, "start_time": -1},
        {**SHOT, "audio_features": [1, 2]},
    ],
)
def test_shot_analysis_rejects_bad_bodies(alice: httpx.Client, bad: dict) -> None:
    assert alice.post("/analyze", json=bad).status_code == 422
    assert alice.post("/analyze_batch", json={"shots": [SHOT, bad]}).status_code == 422


def test_shot_analysis_without_a_vlm_says_how_to_configure_one(
    server: Served, alice: httpx.Client
) -> None:
    for path, body in (("/analyze", SHOT), ("/analyze_batch", {"shots": [SHOT, SHOT]})):
        response = alice.post(path, json=body)
        assert response.status_code == 503
        assert "--vlm-model" in response.json()["detail"]
        assert "--vlm-endpoint" in response.json()["detail"]
    assert alice.post("/analyze_batch", json={"shots": []}).status_code == 422
    assert (
        alice.post(
            "/analyze", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )
    with server.client(None) as anonymous:
        assert anonymous.post("/analyze", json=SHOT).status_code == 401


def test_authentication_and_isolation(
    server: Served, alice: httpx.Client, bob: httpx.Client, counter: Path
) -> None:
    with server.client(None) as anonymous:
        response = anonymous.get("/v1/jobs")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert anonymous.get("/metrics").status_code == 401
        assert (
            anonymous.get("/v1/jobs", headers={"Authorization": f"Basic {ALICE}"}).status_code
            == 401
        )
    with server.client("wrong-" + secrets.token_hex(16)) as stranger:
        assert stranger.get("/v1/jobs").status_code == 401
        assert upload(stranger, counter).status_code == 401

    job_id = submitted(upload(alice, counter))
    wait_for(alice, job_id)
    for method, path in (
        ("GET", ""), ("GET", "/result"), ("GET", "/tracks/shots"), ("GET", "/events"),
        ("GET", "/export/csv?track=shots"), ("GET", "/export/json?track=shots"),
        ("POST", "/cancel"), ("DELETE", ""),
    ):  # fmt: skip
        response = bob.request(method, f"/v1/jobs/{job_id}{path}")
        assert response.status_code == 404, (method, path, response.text)
    assert job_id not in [j["id"] for j in bob.get("/v1/jobs").json()["jobs"]]
    assert alice.get(f"/v1/jobs/{job_id}/result").status_code == 200  # Bob's DELETE did nothing


def test_upload_limits_and_content_types(server: Served, alice: httpx.Client) -> None:
    before = sorted((server.data_dir / "jobs").iterdir())
    big = secrets.token_bytes(3 * 2**20 + 4096)
    response = alice.post("/v1/jobs", files={"file": ("big.mp4", big, "video/mp4")})
    assert response.status_code == 413 and "limit" in response.json()["detail"]

    # Without a Content-Length the limit holds all the same: it counts what arrives.
    boundary = "vidscope-test-boundary"

    def chunked() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"'
            "\r\nContent-Type: video/mp4\r\n\r\n"
        ).encode()
        for _ in range(8):
            yield secrets.token_bytes(2**19)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = alice.post(
        "/v1/jobs",
        content=chunked(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413

    cases = [
        ({"content": b"hello", "headers": {"Content-Type": "text/plain"}}, 415),
        ({"files": {"file": ("notes.txt", b"hello", "text/plain")}}, 415),
        ({"files": {"file": ("clip.mp4", b"hello", "text/plain")}}, 415),
        ({"files": {"file": ("clip.mp4", b"not a video at all" * 100, "video/mp4")}}, 415),
        ({"files": {"file": ("clip.mp4", b"", "video/mp4")}}, 422),
        ({"files": {"other": ("clip.mp4", b"x", "video/mp4")}}, 422),
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 422),
        ({"json": {}}, 422),
        ({"json": {"url": "http://example.invalid/x.mp4", "colour": "red"}}, 422),
        ({"json": {"url": 42}}, 422),
        ({"json": {"url": "https://example.invalid/a.mp4", "analyzers": []}}, 422),
    ]
    for kwargs, status in cases:
        response = alice.post("/v1/jobs", **kwargs)
        assert response.status_code == status, (kwargs, response.text)
        assert "detail" in response.json()
    assert sorted((server.data_dir / "jobs").iterdir()) == before  # refused: nothing left


def test_job_options_are_validated(alice: httpx.Client, counter: Path) -> None:
    unknown = upload(alice, counter, analyzers="shots,telepathy")
    assert unknown.status_code == 422 and "telepathy" in unknown.json()["detail"]
    bad_param = upload(alice, counter, options='{"analyzer": {"shots": {"threshold": "high"}}}')
    assert bad_param.status_code == 422 and "threshold" in bad_param.json()["detail"]
    no_paths = upload(alice, counter, options='{"cache_dir": "/etc"}')
    assert no_paths.status_code == 422
    good = upload(
        alice, counter, analyzers="shots", options='{"analyzer": {"shots": {"threshold": 30}}}'
    )
    job = wait_for(alice, submitted(good))
    assert job["status"] == "succeeded" and job["analyzers"] == ["shots"]
    manifest = alice.get(f"/v1/jobs/{job['id']}/result").json()
    assert manifest["tracks"]["shots"]["params"]["threshold"] == 30


def test_exports_say_what_cannot_be_exported(alice: httpx.Client, counter: Path) -> None:
    job_id = submitted(upload(alice, counter, analyzers="shots"))
    wait_for(alice, job_id)
    as_json = alice.get(f"/v1/jobs/{job_id}/export/json", params={"track": "shots"})
    assert as_json.status_code == 200 and as_json.json()["track"] == "shots"
    shots = as_json.json()["records"]
    edl = alice.get(f"/v1/jobs/{job_id}/export/edl")
    assert edl.status_code == 200 and "FCM: NON-DROP FRAME" in edl.text
    assert edl.text.count("* FROM CLIP NAME:") == len(shots)
    table = alice.get(f"/v1/jobs/{job_id}/export/parquet")
    assert table.headers["content-type"] == "application/vnd.apache.parquet"
    pq = need("pyarrow.parquet")
    rows = pq.read_table(io.BytesIO(table.content)).to_pylist()
    assert [r["start"] for r in rows] == [s["start"] for s in shots]
    sheet = alice.get(f"/v1/jobs/{job_id}/export/sheet")
    assert sheet.headers["content-type"] == "image/png" and sheet.content[:4] == b"\x89PNG"
    for fmt, track, message in (
        ("pdf", "shots", "unknown export format 'pdf'"),
        ("vtt", "transcript", "no track 'transcript'"),
        ("srt", "shots", "has no text"),
    ):
        response = alice.get(f"/v1/jobs/{job_id}/export/{fmt}", params={"track": track})
        assert response.status_code == 404
        assert message in response.json()["detail"] and "/" not in response.json()["detail"]


@pytest.mark.slow
def test_transcript_as_subtitles(alice: httpx.Client, media) -> None:
    speech = media("faster-whisper/jfk.flac")
    response = alice.post(
        "/v1/jobs",
        files={"file": (speech.name, speech.read_bytes(), "audio/flac")},
        data={"analyzers": "transcript"},
    )
    if response.status_code == 422 and "not available" in response.text:
        missing(response.json()["detail"])
    job = wait_for(alice, submitted(response), timeout=120)
    assert job["status"] == "succeeded", job
    vtt = alice.get(f"/v1/jobs/{job['id']}/export/vtt")
    assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT")
    cues = " ".join(line for line in vtt.text.lower().splitlines() if line and "-->" not in line)
    assert "fellow americans, ask not what your country can" in " ".join(cues.split())
    srt = alice.get(f"/v1/jobs/{job['id']}/export/srt").text
    assert srt.startswith("1\n00:00:") and " --> " in srt


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/clip.mp4",
        "gopher://127.0.0.1:70/",
        "http://127.0.0.1/clip.mp4",
        "http://127.0.0.1:8000/v1/jobs",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/clip.mp4",
        "http://192.168.1.1/clip.mp4",
        "http://[::1]/clip.mp4",
        "http://[::ffff:127.0.0.1]/clip.mp4",
        "http://0.0.0.0/clip.mp4",
        "http:///clip.mp4",
    ],
)
def test_url_jobs_cannot_reach_private_addresses(alice: httpx.Client, url: str) -> None:
    response = alice.post("/v1/jobs", json={"url": url})
    assert response.status_code == 422, response.text
    assert "url rejected" in response.json()["detail"]


@pytest.mark.parametrize(
    ("ip", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("127.0.0.2", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.1.2.3", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("172.16.5.4", False),
        ("fd00::1", False),
        ("fe80::1%1", False),
        ("224.0.0.1", False),
        ("0.0.0.0", False),
        # IPv6 forms that carry an IPv4 address are judged by that address.
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::", False),  # 6to4 of 169.254.169.254
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b:1::808:808", False),  # local-use NAT64: the operator's own network
        ("::808:808", True),  # IPv4-compatible 8.8.8.8
        ("::7f00:1", False),  # IPv4-compatible 127.0.0.1
        ("::c0a8:101", False),  # IPv4-compatible 192.168.1.1
        ("::ffff:0:7f00:1", False),  # IPv4-translated 127.0.0.1
        ("::ffff:169.254.169.254", False),  # IPv4-mapped metadata address
        ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", True),  # Teredo, client 8.8.8.8
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", False),  # Teredo, client 10.0.0.1
        ("2001:0:a00:1:8000:63bf:f7f7:f7f7", False),  # Teredo, server 10.0.0.1
    ],
)
def test_address_policy(ip: str, public: bool) -> None:
    policy = UrlPolicy()
    if public:
        policy.check_address("host", ip)
    else:
        with pytest.raises(UnsafeURL):
            policy.check_address("host", ip)


def test_the_guard_is_at_connect_time_too(media_http: _Media, tmp_path: Path) -> None:
    # No submission-time check here: the opener itself refuses the connection.
    before = sum(media_http.hits.values())
    for url in (media_http.url("/clip.mp4"), f"http://localhost:{media_http.port}/clip.mp4"):
        with pytest.raises(UnsafeURL):
            fetch_media(url, tmp_path / "x", policy=UrlPolicy(), limits=Limits(2**20, 5))
    assert sum(media_http.hits.values()) == before
    allowed = UrlPolicy((f"127.0.0.1:{media_http.port}",))
    file = fetch_media(
        media_http.url("/clip.mp4"), tmp_path / "x", policy=allowed, limits=Limits(2**20, 5)
    )
    assert file.read_bytes() == media_http.clip and file.suffix == ".mp4"
    with pytest.raises(InputError, match="more than the limit of 1000"):
        fetch_media(
            media_http.url("/clip.mp4"), tmp_path / "y", policy=allowed, limits=Limits(1000, 5)
        )


def test_url_jobs_allowed_host_redirects_and_hostnames(
    alice: httpx.Client, media_http: _Media
) -> None:
    ok = wait_for(
        alice, submitted(alice.post("/v1/jobs", json={"url": media_http.url("/clip.mp4")}))
    )
    assert ok["status"] == "succeeded" and ok["source_kind"] == "url"

    # A public-looking name that resolves to loopback is judged by its address.
    response = alice.post("/v1/jobs", json={"url": f"http://localhost:{media_http.port}/clip.mp4"})
    assert response.status_code == 422 and "loopback" in response.json()["detail"]

    # The allowed host redirects elsewhere on loopback: each hop is checked, nothing fetched.
    for path in ("/to-localhost", "/to-other-port"):
        job = wait_for(alice, submitted(alice.post("/v1/jobs", json={"url": media_http.url(path)})))
        assert job["status"] == "failed"
        assert "redirected to" in job["error"] and "loopback" in job["error"]
    assert media_http.hits["/secret.mp4"] == 0

    page = wait_for(alice, submitted(alice.post("/v1/jobs", json={"url": media_http.url("/page")})))
    assert page["status"] == "failed" and "not a media file" in page["error"]


def test_cancel_a_running_job(alice: httpx.Client, media) -> None:
    job_id = submitted(upload(alice, media("pyscenedetect/testvideo.mp4")))
    wait_for(alice, job_id, until={"running"} | TERMINAL)
    response = alice.post(f"/v1/jobs/{job_id}/cancel")
    assert response.status_code == 200
    job = wait_for(alice, job_id)
    assert job["status"] == "cancelled" and job["error"] is None
    assert alice.post(f"/v1/jobs/{job_id}/cancel").status_code == 200  # idempotent


def test_cancel_a_stalled_url_download(alice: httpx.Client, media_http: _Media) -> None:
    # One byte every 20 s: a cancel must not wait for the next byte.
    path = "/trickle.mp4?every=20"
    job_id = submitted(alice.post("/v1/jobs", json={"url": media_http.url(path)}))
    deadline = time.monotonic() + 60
    while media_http.hits[path] == 0:
        assert time.monotonic() < deadline, "the job never started its download"
        time.sleep(0.05)
    assert alice.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
    job = wait_for(alice, job_id, timeout=5)  # the requirement: cancelled within 5 s
    assert job["status"] == "cancelled" and job["error"] is None


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory, media_http: _Media) -> Iterator[Served]:
    """A server whose operator allows a 1 s rate window and 3 s per download."""
    served = Served(
        tmp_path_factory.mktemp("impatient") / "data",
        "--workers", "2",
        "--allow-private-url", f"127.0.0.1:{media_http.port}",
        "--set", "download.rate_window_s=1",
        "--set", "download.deadline_s=3",
        "--set", 'analyzers=["shots"]',
    )  # fmt: skip
    yield served
    served.stop()
    assert "Traceback" not in served.output(), served.output()


def test_stalled_and_endless_downloads_fail_with_the_reason(
    impatient: Served, media_http: _Media
) -> None:
    with impatient.client() as client:
        # 10 bytes/s against a minimum of 1 KiB/s; 80 KiB/s of a file that never ends.
        slow, endless = (
            submitted(client.post("/v1/jobs", json={"url": media_http.url(path)}))
            for path in ("/trickle.mp4?every=0.1", "/trickle.mp4?every=0.05&piece=4096")
        )
        slow_job, endless_job = wait_for(client, slow), wait_for(client, endless)
    assert slow_job["status"] == "failed", slow_job
    assert "download stalled" in slow_job["error"]
    assert "below the minimum of 1 KiB/s" in slow_job["error"]
    assert endless_job["status"] == "failed", endless_job
    assert "exceeded its deadline of 3 s" in endless_job["error"]
    for job_id in (slow, endless):  # no partial download left behind
        assert not list((impatient.data_dir / "jobs" / job_id).glob("input*"))


def test_bounded_load_nothing_lost(
    server: Served, alice: httpx.Client, bob: httpx.Client, counter: Path
) -> None:
    clip = counter.read_bytes()

    def submit(_: int) -> str:
        with server.client(BOB) as client:
            response = client.post(
                "/v1/jobs",
                files={"file": ("counter.mp4", clip, "video/mp4")},
                data={"analyzers": FAST},
            )
            return submitted(response)

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        ids = list(pool.map(submit, range(10)))
    assert len(set(ids)) == 10

    def status(i: int) -> int:
        return bob.get(f"/v1/jobs/{ids[i % 10]}").status_code

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        codes = list(pool.map(status, range(50)))
    assert codes == [200] * 50

    finished = [wait_for(bob, job_id, timeout=120) for job_id in ids]
    assert [j["status"] for j in finished] == ["succeeded"] * 10
    listed = {j["id"] for j in bob.get("/v1/jobs", params={"limit": 1000}).json()["jobs"]}
    assert set(ids) <= listed

    metrics = bob.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    values = dict(re.findall(r"^(vidscope_\S+) (\S+)$", metrics.text, re.M))
    assert int(values['vidscope_jobs{state="succeeded"}']) >= 10
    assert values["vidscope_queue_depth"] == "0"


@pytest.mark.slow
def test_restart_after_kill_resumes_jobs_and_keeps_results(
    tmp_path: Path, counter: Path, media
) -> None:
    data = tmp_path / "data"
    added = subprocess.run(
        [str(VIDSCOPE), "keys", "add", "carol", "--data-dir", str(data)],
        capture_output=True, text=True, env=server_env(keys=None), check=True,
    )  # fmt: skip
    key = added.stdout.strip().splitlines()[-1]
    assert key.startswith("vs_") and key not in (data / "keys.json").read_text()
    listed = subprocess.run(
        [str(VIDSCOPE), "keys", "list", "--data-dir", str(data)],
        capture_output=True, text=True, env=server_env(keys=None), check=True,
    )  # fmt: skip
    assert "carol" in listed.stdout and key not in listed.stdout

    env = server_env(keys=None)
    first = Served(data, "--set", 'analyzers=["shots","visual_stats"]', env=env)
    with first.client(key) as client:
        done_id = submitted(upload(client, counter))
        assert wait_for(client, done_id)["status"] == "succeeded"
        before = client.get(f"/v1/jobs/{done_id}/tracks/visual_stats").text
        long_id = submitted(upload(client, media("pyscenedetect/testvideo.mp4")))
        queued_id = submitted(upload(client, counter))
        deadline = time.monotonic() + 30
        while True:  # kill it mid-analysis, not before
            job = client.get(f"/v1/jobs/{long_id}").json()
            if job["status"] == "running" and job["progress"].get("shots", {}).get("done", 0) > 1:
                break
            assert time.monotonic() < deadline, job
            time.sleep(0.02)
    first.kill()

    second = Served(data, "--set", 'analyzers=["shots","visual_stats"]', env=env)
    try:
        with second.client(key) as client:
            resumed = wait_for(client, long_id)
            assert resumed["status"] == "succeeded" and resumed["attempts"] == 2
            assert wait_for(client, queued_id)["status"] == "succeeded"
            assert client.get(f"/v1/jobs/{done_id}").json()["status"] == "succeeded"
            assert client.get(f"/v1/jobs/{done_id}/tracks/visual_stats").text == before
            manifest = client.get(f"/v1/jobs/{long_id}/result").json()
            assert manifest["status"] == "complete"

            subprocess.run(
                [str(VIDSCOPE), "keys", "revoke", "carol", "--data-dir", str(data)],
                env=env, check=True, capture_output=True,
            )  # fmt: skip
            assert client.get("/v1/jobs").status_code == 401  # revoked without a restart
    finally:
        second.stop()


def test_refuses_to_listen_publicly_without_keys(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(VIDSCOPE), "serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, env=server_env(keys=None), timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without API keys" in result.stderr


def test_one_server_per_data_directory(server: Served) -> None:
    result = subprocess.run(
        [str(VIDSCOPE), "serve", "--port", "0", "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, env=server_env(), timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "another vidscope server" in result.stderr

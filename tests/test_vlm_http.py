"""The OpenAI-compatible HTTP backend against a chat-completions server started in the test on
loopback: answers, concurrency, timeouts, retries, garbage, a server that is down, and the
``POST /analyze`` shot endpoint served through it."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vidscope
from conftest import need
from vidscope.errors import AnalysisFailed, ModelError
from vidscope.models.vlm import factory
from vidscope.models.vlm import openai as openai_backend
from vidscope.models.vlm.base import BackendConfig, VlmBackend, VlmRequest
from vidscope.models.vlm.prompts import ATTRIBUTES
from vidscope.timeline.result import Result

need("httpx")
need("PIL")

MEGAMIND = "debian/Megamind.avi"
SUMMARY = {
    "summary": "Two characters argue about judging people over dinner.",
    "chapters": [{"start": 0, "title": "Book and cover"}, {"start": 6.5, "title": "Actions"}],
}


def shot_answer(images: int) -> dict[str, Any]:
    return {"caption": f"a shot seen in {images} images", **dict.fromkeys(ATTRIBUTES, 0.25)}


class FakeVlm:
    """What the chat-completions server does; tests change the knobs between runs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        self.bodies: list[dict[str, Any]] = []
        self.reset()

    def reset(self) -> None:
        self.delay = 0.0
        self.fail_first = 0
        self.mode = "ok"  # ok | prose | garbage
        with self.lock:
            self.in_flight = self.max_in_flight = 0
            self.bodies = []

    def answer(self, body: dict[str, Any]) -> tuple[int, str, bytes]:
        with self.lock:
            self.bodies.append(body)
            failing = len(self.bodies) <= self.fail_first
        time.sleep(self.delay)
        if failing:
            return 500, "text/plain", b"overloaded"
        if self.mode == "garbage":
            return 200, "text/html", b"<html>502 Bad Gateway</html>"
        first = body["messages"][0]["content"]
        prompt = first if isinstance(first, str) else first[-1]["text"]
        images = 0 if isinstance(first, str) else len(first) - 1
        if self.mode == "prose":
            content = "This shot feels tense and dark."
        elif '"chapters"' in prompt:
            content = json.dumps(SUMMARY)
        elif '"suspense"' in prompt:
            content = json.dumps(shot_answer(images))
        else:
            content = f"a frame with {images} image(s)"
        reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
        return 200, "application/json", json.dumps(reply).encode()


class Handler(BaseHTTPRequestHandler):
    fake: FakeVlm

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, kind: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._send(200, "application/json", b'{"data": [{"id": "fake-vlm"}]}')
        else:
            self._send(404, "text/plain", b"not found")

    def do_POST(self) -> None:
        fake = self.fake
        with fake.lock:
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, kind, data = fake.answer(body)
        finally:
            with fake.lock:
                fake.in_flight -= 1
        # The client may have given up waiting (the timeout test).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._send(status, kind, data)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeVlm, str]]:
    fake = FakeVlm()
    handler = type("FakeHandler", (Handler,), {"fake": fake})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


@pytest.fixture()
def fake(server: tuple[FakeVlm, str]) -> Iterator[FakeVlm]:
    server[0].reset()
    yield server[0]
    server[0].reset()


@pytest.fixture()
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_backend, "BACKOFF", 0.01)


def image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (60, 80, 3), np.uint8)


def backend_for(url: str, **config: Any) -> tuple[BackendConfig, VlmBackend]:
    cfg = BackendConfig(model="fake-vlm", endpoint=url, **config)
    return cfg, factory.acquire(cfg)


def test_a_video_through_the_endpoint(media, server, fake, tmp_path):
    url = server[1]
    fake.delay = 0.05
    names = ["shots", "visual_stats", "shot_stats", "captions", "shot_captions", "summary"]
    result = vidscope.analyze(
        media(MEGAMIND),
        names,
        tmp_path / "b",
        settings={"vlm.endpoint": url, "vlm.concurrency": 3, "vlm.batch_size": 6},
    )
    captions = result.track("captions")
    assert [c["start"] for c in captions] == [float(k) for k in range(12)]
    assert all(c["text"] == "a frame with 1 image(s)" for c in captions)
    shots = result.track("shot_captions")
    assert len(shots) == 4
    for s in shots:
        assert s["caption"] == f"a shot seen in {len(s['frames'])} images"
        assert s["attributes"] == dict.fromkeys(ATTRIBUTES, 0.25) and "error" not in s
        assert s["measured"]["darkness"] is not None
    (summary,) = result.track("summary")
    assert summary["summary"] == SUMMARY["summary"]
    assert [(c["start"], c["end"], c["title"]) for c in summary["chapters"]] == [
        (0.0, 6.5, "Book and cover"),
        (6.5, round(result.manifest["media"]["duration"], 3), "Actions"),
    ]
    # One limit for the whole process: three analyzers share the endpoint's three slots.
    assert 2 <= fake.max_in_flight <= 3
    body = fake.bodies[0]
    assert body["model"] == "fake-vlm" and body["temperature"] == 0
    assert body["messages"][0]["content"][0]["image_url"]["url"].startswith(
        "data:image/jpeg;base64,"
    )


def test_single_image_models_get_the_shot_frames_side_by_side(media, server, fake, tmp_path):
    result = vidscope.analyze(
        media(MEGAMIND),
        ["shots", "shot_captions"],
        tmp_path / "b",
        settings={"vlm.endpoint": server[1], "vlm.model": "fake-vlm", "vlm.max_images": 1},
    )
    assert all(s["caption"] == "a shot seen in 1 images" for s in result.track("shot_captions"))
    content = fake.bodies[0]["messages"][0]["content"]
    assert "side by side" in content[-1]["text"]
    url = content[0]["image_url"]["url"]
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2]))) as stitched:
        assert stitched.width > 3 * stitched.height  # four or five frames in a row


def test_requests_in_flight_stay_within_the_limit(server, fake):
    fake.delay = 0.2
    cfg, backend = backend_for(server[1], concurrency=3)
    try:
        t0 = time.perf_counter()
        results = backend.generate(
            [VlmRequest.ask("describe", [image(i)]) for i in range(12)],
            max_new_tokens=8,
            batch_size=12,
        )
        elapsed = time.perf_counter() - t0
    finally:
        factory.release(cfg)
    assert all(r.text == "a frame with 1 image(s)" for r in results)
    assert fake.max_in_flight == 3
    assert 0.75 < elapsed < 2.5  # four rounds of three


def test_slow_answers_time_out_and_mark_their_records(media, server, fake, tmp_path):
    fake.delay = 1.0
    result = vidscope.analyze(
        media(MEGAMIND),
        ["captions"],
        tmp_path / "b",
        settings={"vlm.endpoint": server[1], "vlm.timeout": 0.3, "vlm.retries": 0},
    )
    records = result.track("captions")
    assert len(records) == 12
    assert all(
        r["text"] is None and r["error"] == "no answer within 0.3 s (1 attempt)" for r in records
    )
    assert result.manifest["tracks"]["captions"]["status"] == "complete"
    assert result.run_report["stages"]["captions"]["counters"]["failed"] == 12


def test_server_errors_are_retried_with_backoff(server, fake, fast_backoff):
    fake.fail_first = 2
    cfg, backend = backend_for(server[1], retries=2)
    try:
        (ok,) = backend.generate(
            [VlmRequest.ask("describe", [image()])], max_new_tokens=8, batch_size=1
        )
        assert ok.text == "a frame with 1 image(s)" and len(fake.bodies) == 3
    finally:
        factory.release(cfg)
    fake.reset()
    fake.fail_first = 5
    cfg, backend = backend_for(server[1], retries=1)
    try:
        (failed,) = backend.generate([VlmRequest.ask("describe")], max_new_tokens=8, batch_size=1)
    finally:
        factory.release(cfg)
    assert failed.text is None and failed.error == "HTTP 500: overloaded (2 attempts)"


def test_garbage_is_an_error_never_a_value(media, server, fake, tmp_path, fast_backoff):
    fake.mode = "garbage"
    cfg, backend = backend_for(server[1])
    try:
        (result,) = backend.generate([VlmRequest.ask("describe")], max_new_tokens=8, batch_size=1)
    finally:
        factory.release(cfg)
    assert result.text is None and "not chat-completions JSON" in (result.error or "")
    assert "502 Bad Gateway" in (result.error or "")

    fake.reset()
    fake.mode = "prose"
    bundle = vidscope.analyze(
        media(MEGAMIND),
        ["shots", "visual_stats", "shot_stats", "shot_captions"],
        tmp_path / "b",
        settings={"vlm.endpoint": server[1], "vlm.model": "fake-vlm"},
    )
    shots = bundle.track("shot_captions")
    assert len(shots) == 4
    for s in shots:
        assert s["caption"] is None and s["attributes"] is None and s["fused"] is None
        assert s["error"].startswith("not a JSON object") and "also after one repair" in s["error"]
        assert s["answer"] == "This shot feels tense and dark." and s["repaired"]
        assert s["measured"]["darkness"] is not None  # the other tracks' measurements stay
    # Each shot was asked twice: the second time with its answer and what was wrong with it.
    assert len(fake.bodies) == 8
    repair = fake.bodies[-1]["messages"]
    assert [m["role"] for m in repair] == ["user", "assistant", "user"]
    assert "not a JSON object" in repair[2]["content"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_endpoint_that_is_down_fails_only_its_tracks(media, tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ModelError, match="cannot reach the VLM endpoint"):
        backend_for(url)
    with pytest.raises(AnalysisFailed):
        vidscope.analyze(
            media(MEGAMIND),
            ["visual_stats", "captions"],
            tmp_path / "b",
            settings={"vlm.endpoint": url, "vlm.model": "fake-vlm"},
        )
    bundle = Result(tmp_path / "b")
    tracks = bundle.manifest["tracks"]
    assert tracks["captions"]["status"] == "failed"
    assert "cannot reach the VLM endpoint" in tracks["captions"]["error"]
    assert tracks["visual_stats"]["status"] == "complete"
    assert len(bundle.track("visual_stats")) == 12


def png(seed: int) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image(seed)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_the_shot_endpoint_answers_through_the_vlm(server, fake, tmp_path: Path):
    from fastapi.testclient import TestClient

    from vidscope.server.app import create_app
    from vidscope.server.auth import KeyFile
    from vidscope.server.config import ServerConfig
    from vidscope.server.shots_vlm import VlmShotBackend

    # Configured like `vidscope serve --vlm-endpoint URL`: the app builds its own backend.
    config = ServerConfig(
        data_dir=tmp_path / "data",
        overrides={"analyzers": ["shots"], "vlm.endpoint": server[1], "vlm.max_new_tokens": 64},
    )
    key = KeyFile(config.keys_path).add("tester")
    assert VlmShotBackend.from_settings({}, "cpu") is None
    shot = {
        "shot_id": 7,
        "images": [png(i) for i in range(7)],
        "start_time": 1.0,
        "end_time": 3.5,
        "duration": 2.5,
    }
    with TestClient(create_app(config)) as client:
        assert client.get("/health").json()["model"] == f"fake-vlm at {server[1]}"
        client.headers["Authorization"] = f"Bearer {key}"
        answer = client.post("/analyze", json=shot)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "caption": "a shot seen in 5 images",
            "attributes": dict.fromkeys(ATTRIBUTES, 0.25),
        }
        fake.mode = "prose"
        refused = client.post("/analyze_batch", json={"shots": [shot, {**shot, "shot_id": 8}]})
        assert refused.status_code == 502
        assert "shot 7: not a JSON object" in refused.json()["detail"]
        assert "shot 8:" in refused.json()["detail"]


def test_captions_hear_what_is_said(media, server, fake, tmp_path):
    result = vidscope.analyze(
        media(MEGAMIND),
        ["transcript", "captions"],
        tmp_path / "b",
        settings={
            "vlm.endpoint": server[1],
            "vlm.model": "fake-vlm",
            "analyzer.transcript.asr_model": "tiny.en",
        },
    )
    assert len(result.track("captions")) == 12
    prompts = [b["messages"][0]["content"][-1]["text"] for b in fake.bodies]
    said = [p for p in prompts if "Words spoken at this moment" in p]
    # Dialogue runs through most of the clip ("Of course. You don't judge a book ...").
    assert len(said) >= 6
    assert any("book" in p.lower() for p in said)

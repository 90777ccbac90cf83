"""The HTTP service run in this process (uvicorn on a thread), where a test can script what
the engine does: crash, hold a job, or stand in for a VLM backend.  The engine is the real one
unless a test asks otherwise."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from vidscope.config import Settings
from vidscope.engine import run
from vidscope.engine.local import Engine
from vidscope.engine.plan import Plan, make_plan
from vidscope.engine.progress import ProgressSink
from vidscope.server import job_settings
from vidscope.server.app import create_app
from vidscope.server.auth import KeyFile
from vidscope.server.config import ServerConfig
from vidscope.server.shots import Attributes, ShotAnalysis, ShotRequest
from vidscope.server.store import JobStore

TERMINAL = {"succeeded", "failed", "cancelled"}


class Script:
    """What the engine does with the next jobs, in order: ``ok`` (the default), ``crash``,
    ``hold`` (wait until released or stopped), ``ok-then-hold`` (analyze, then wait),
    ``silent`` (analyze without a single progress event: an executor owes none)."""

    def __init__(self) -> None:
        self.actions: queue.Queue[str] = queue.Queue()
        self.release = threading.Event()
        self.holding = threading.Event()

    def next(self) -> str:
        try:
            return self.actions.get_nowait()
        except queue.Empty:
            return "ok"

    def hold(self, stop: threading.Event) -> None:
        self.holding.set()
        while not (stop.is_set() or self.release.is_set()):
            time.sleep(0.01)


class ScriptedEngine:
    def __init__(self, script: Script, settings: Settings, plan: Plan, sink: ProgressSink) -> None:
        self.script = script
        self.sink = sink
        self.silent = False
        self.real = Engine(settings, sink=self.relay, plan=plan)

    def relay(self, event: str, **data: Any) -> None:
        if not self.silent:
            self.sink(event, **data)

    def analyze(
        self, source: str | Path, output: str | Path, *, force: bool = False,
        stop: threading.Event | None = None,
    ) -> Any:  # fmt: skip
        stop = stop or threading.Event()
        action = self.script.next()
        if action == "crash":
            raise RuntimeError("simulated analyzer bug")
        if action == "hold":
            self.script.hold(stop)
            if stop.is_set():
                return None
        self.silent = action == "silent"
        result = self.real.analyze(source, output, force=force, stop=stop)
        if action == "ok-then-hold":
            self.script.hold(stop)
        return result

    def close(self) -> None:
        self.real.close()


FAIL = {"simulate": "backend failure"}


class StubVlm:
    """A stand-in VLM backend: the caption says what it was given."""

    model = "stub-vlm"

    def analyze(self, shots: Sequence[ShotRequest]) -> list[ShotAnalysis]:
        if any(s.audio_features == FAIL for s in shots):
            raise RuntimeError("model out of memory")
        return [
            ShotAnalysis(
                caption=f"shot {s.shot_id}: {len(s.images or [])} frames",
                attributes=Attributes(
                    suspense=0.5,
                    darkness=0.25,
                    ambiguity=0.0,
                    emotional_tension=1.0,
                    intensity=min(1.0, s.duration / 10),
                    motion=0.1,
                ),
            )
            for s in shots
        ]


class ThreadServer:
    """uvicorn serving ``app`` on 127.0.0.1 from a thread (startup and shutdown included)."""

    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def start(data: Path, script: Script, **config: Any) -> ThreadServer:
    cfg = ServerConfig(data_dir=data, overrides={"analyzers": ["shots", "visual_stats"]}, **config)
    app = create_app(
        cfg,
        engine_factory=lambda s, plan, sink: ScriptedEngine(script, s, plan, sink),
        shot_backend=StubVlm(),
    )
    return ThreadServer(app)


@pytest.fixture(scope="module")
def script() -> Script:
    return Script()


@dataclass
class Env:
    server: ThreadServer
    key: str
    data: Path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, script: Script) -> Iterator[Env]:
    data = tmp_path_factory.mktemp("inprocess") / "data"
    key = KeyFile(ServerConfig(data_dir=data).keys_path).add("tester")
    served = start(data, script, max_queued_per_key=2)
    yield Env(served, key, data)
    served.stop()


@pytest.fixture()
def client(env: Env, script: Script) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {env.key}"}
    with httpx.Client(base_url=env.server.url, headers=headers, timeout=30) as c:
        yield c
        script.release.set()  # never leave a held job behind for the next test
        deadline = time.monotonic() + 30
        while any(j["status"] not in TERMINAL for j in c.get("/v1/jobs").json()["jobs"]):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    script.release.clear()
    script.holding.clear()


@pytest.fixture(scope="module")
def clip(media) -> bytes:
    return media("pyscenedetect/counter.mp4").read_bytes()


def submit(client: httpx.Client, clip: bytes) -> str:
    response = client.post("/v1/jobs", files={"file": ("counter.mp4", clip, "video/mp4")})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def wait_for(client: httpx.Client, job_id: str, until: set[str] = TERMINAL) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        job = client.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        if job["status"] in until:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.02)


def test_a_worker_crash_fails_that_job_and_the_server_goes_on(
    client: httpx.Client, script: Script, clip: bytes
) -> None:
    script.actions.put("crash")
    crashed = wait_for(client, submit(client, clip))
    assert crashed["status"] == "failed"
    assert crashed["error"] == "internal error: RuntimeError: simulated analyzer bug"
    assert client.get("/health").status_code == 200
    after = wait_for(client, submit(client, clip))
    assert after["status"] == "succeeded"


def test_a_job_runs_on_its_submission_plan_and_reports_from_its_result(
    env: Env, client: httpx.Client, script: Script, clip: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings no job had before are planned once, at submission (the worker's engine takes
    that plan), and the job's busy time comes from the result of its run, so an executor that
    says nothing while it runs still accounts for it."""
    plans: list[Plan] = []

    def counting(settings: Settings) -> Plan:
        plans.append(make_plan(settings))
        return plans[-1]

    for module in (job_settings, run):
        monkeypatch.setattr(module, "make_plan", counting)
    store = JobStore(ServerConfig(data_dir=env.data).db_path)
    before = store.busy_seconds().get("shots", 0.0)
    script.actions.put("silent")
    options = '{"analyzer": {"shots": {"threshold": 29.5}}}'  # settings of no earlier job
    response = client.post(
        "/v1/jobs",
        files={"file": ("counter.mp4", clip, "video/mp4")},
        data={"options": options},
    )
    assert response.status_code == 202, response.text
    assert wait_for(client, response.json()["id"])["status"] == "succeeded"
    assert len(plans) == 1
    assert store.busy_seconds()["shots"] > before


def test_too_many_queued_jobs_per_key(client: httpx.Client, script: Script, clip: bytes) -> None:
    script.actions.put("hold")
    running = submit(client, clip)
    assert script.holding.wait(30)
    queued = [submit(client, clip), submit(client, clip)]  # the limit: 2 queued per key
    refused = client.post("/v1/jobs", files={"file": ("counter.mp4", clip, "video/mp4")})
    assert refused.status_code == 429
    assert "at most 2" in refused.json()["detail"]
    url_refused = client.post("/v1/jobs", json={"url": "http://127.0.0.1/x.mp4"})
    assert url_refused.status_code == 429  # checked before anything else about the job
    for job_id in queued:
        assert client.post(f"/v1/jobs/{job_id}/cancel").json()["status"] == "cancelled"
    assert submit(client, clip)  # room again
    script.release.set()
    assert wait_for(client, running)["status"] == "succeeded"


def test_cancel_and_delete_running_jobs(
    env: Env, client: httpx.Client, script: Script, clip: bytes
) -> None:
    script.actions.put("hold")
    job_id = submit(client, clip)
    assert script.holding.wait(30)
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "running"
    client.post(f"/v1/jobs/{job_id}/cancel").raise_for_status()
    assert wait_for(client, job_id)["status"] == "cancelled"
    assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
    assert client.get(f"/v1/jobs/{job_id}/result").status_code == 404  # cancelled before a bundle

    script.holding.clear()
    script.actions.put("hold")
    doomed = submit(client, clip)
    assert script.holding.wait(30)
    data = env.data
    assert (data / "jobs" / doomed).exists()
    assert client.delete(f"/v1/jobs/{doomed}").status_code == 204
    assert client.get(f"/v1/jobs/{doomed}").status_code == 404
    deadline = time.monotonic() + 30
    while (data / "jobs" / doomed).exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_results_wait_for_the_job(client: httpx.Client, script: Script, clip: bytes) -> None:
    script.actions.put("hold")
    job_id = submit(client, clip)
    assert script.holding.wait(30)
    for path in ("/result", "/tracks/shots"):
        response = client.get(f"/v1/jobs/{job_id}{path}")
        assert response.status_code == 409 and "running" in response.json()["detail"]
    script.release.set()
    assert wait_for(client, job_id)["status"] == "succeeded"


SHOT = {
    "shot_id": 3,
    "images": ["aGVsbG8=", "data:image/jpeg;base64,d29ybGQ="],
    "audio_features": {"rms": 0.2},
    "start_time": 2.0,
    "end_time": 7.0,
    "duration": 5.0,
}


def test_shot_analysis_with_a_backend(client: httpx.Client) -> None:
    health = client.get("/health", headers={"Authorization": ""}).json()
    assert health["model"] == "stub-vlm" and health["vlm"] == "configured"
    one = client.post("/analyze", json=SHOT)
    assert one.status_code == 200
    assert one.json() == {
        "caption": "shot 3: 2 frames",
        "attributes": {
            "suspense": 0.5, "darkness": 0.25, "ambiguity": 0.0, "emotional_tension": 1.0,
            "intensity": 0.5, "motion": 0.1,
        },
    }  # fmt: skip
    batch = client.post("/analyze_batch", json={"shots": [SHOT, {**SHOT, "shot_id": 9}]})
    assert batch.status_code == 200
    results = batch.json()["results"]
    assert [r["shot_id"] for r in results] == [3, 9]
    assert results[1]["caption"] == "shot 9: 2 frames"
    failing = client.post("/analyze", json={**SHOT, "audio_features": FAIL})
    assert failing.status_code == 502 and "out of memory" in failing.json()["detail"]


def test_body_size_limit_on_json_endpoints(client: httpx.Client) -> None:
    huge = {**SHOT, "images": ["aGVsbG8=" * (9 * 2**20)]}  # 72 MiB, over the 64 MiB limit
    response = client.post("/analyze", json=huge)
    assert response.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"shot_id": 1, "images": ["'
        for _ in range(70):
            yield b"A" * 2**20
        yield b'"], "start_time": 0, "end_time": 1, "duration": 1}'

    response = client.post(
        "/analyze", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


@pytest.mark.slow
def test_shutdown_requeues_and_restart_resumes_from_finished_tracks(
    tmp_path: Path, clip: bytes
) -> None:
    data = tmp_path / "data"
    script = Script()
    script.actions.put("ok-then-hold")  # tracks finished, job not yet recorded as done
    served = start(data, script)
    with httpx.Client(base_url=served.url, timeout=30) as c:
        job_id = submit(c, clip)
        assert script.holding.wait(30)
    served.stop()  # graceful: the worker is stopped, the job goes back to the queue

    store = JobStore(data / "jobs.sqlite3")
    assert store.get(job_id).status == "queued"
    store.close()

    served = start(data, Script())
    try:
        with httpx.Client(base_url=served.url, timeout=30) as c:
            job = wait_for(c, job_id)
            assert job["status"] == "succeeded" and job["attempts"] == 2
            report = c.get(f"/v1/jobs/{job_id}/result").json()["report"]
            assert sorted(report["reused_tracks"]) == ["shots", "visual_stats"]
    finally:
        served.stop()

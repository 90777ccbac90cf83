"""The Ray executor against the local one: same plan, same clips, same tracks; and a model
actor killed in the middle of a run."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from conftest import need

ray = need("ray")

from vidscope.config import load_settings
from vidscope.engine.engine import Engine
from vidscope.engine.ray.executor import NAMESPACE, RayExecutor

pytestmark = pytest.mark.slow

CLIPS = [
    "debian/Megamind.avi",
    "faster-whisper/jfk.flac",
    "pyscenedetect/goldeneye-vfr-drop3.mp4",
    "pyscenedetect/counter.mp4",
]
ANALYZERS = [
    "shots",
    "visual_stats",
    "shot_stats",
    "pacing",
    "audio_features",
    "audio_class",
    "speech",
    "transcript",
    "objects",
    "ocr",
]


@pytest.fixture(scope="module")
def local_ray():
    """A Ray instance like a CI machine's: two CPUs."""
    ray.init(
        num_cpus=2,
        namespace=NAMESPACE,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=512 * 2**20,
    )
    yield
    ray.shutdown()


def _tracks(bundle: Path) -> dict[str, list[dict[str, Any]]]:
    manifest = orjson.loads((bundle / "manifest.json").read_bytes())
    assert manifest["status"] == "complete", manifest.get("errors")
    return {
        name: [orjson.loads(line) for line in (bundle / entry["path"]).read_bytes().splitlines()]
        for name, entry in manifest["tracks"].items()
    }


def _same(a: Any, b: Any, where: str) -> None:
    """Equal, except floats may differ in the last bits (a different process, other threads)."""
    if isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6), f"{where}: {a} != {b}"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{where}: {len(a)} != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_ray_and_local_executors_write_the_same_tracks(media, tmp_path, local_ray):
    settings = load_settings(None, {"analyzers": ANALYZERS}).settings
    jobs = [(media(c), Path(c).stem) for c in CLIPS]
    with Engine(settings) as engine:
        local = list(engine.analyze_many([(s, tmp_path / "local" / n) for s, n in jobs]))
    with RayExecutor(settings) as executor:
        remote = list(executor.analyze_many([(s, tmp_path / "ray" / n) for s, n in jobs]))
        actors = executor.last_report["actors"]
    assert [r.error for r in local] == [None] * len(CLIPS)
    assert [r.error for r in remote] == [None] * len(CLIPS)
    # Every model-backed analyzer ran in its actor, each model loaded once for all clips.
    assert {k.split("#")[0] for k in actors} >= {"objects", "ocr", "speech", "transcript"}
    assert all(a["videos"] >= 1 and not a["restarted"] for a in actors.values())
    for _, name in jobs:
        a, b = _tracks(tmp_path / "local" / name), _tracks(tmp_path / "ray" / name)
        assert a.keys() == b.keys()
        for track in a:
            _same(a[track], b[track], f"{name}/{track}")
    shots = _tracks(tmp_path / "ray" / "Megamind")["shots"]
    assert len(shots) == 4


def test_a_killed_model_actor_costs_a_retry_not_a_video(media, tmp_path, local_ray):
    settings = load_settings(
        None, {"analyzers": ["shots", "objects"], "analyzer.objects.fps": 10.0}
    ).settings
    source = media("debian/Megamind.avi")
    events: list[tuple[str, dict[str, Any]]] = []
    killed = threading.Event()
    executor: RayExecutor | None = None

    def sink(event: str, **data: Any) -> None:
        events.append((event, data))
        # Kill the detector's process once it is a third of the way through the first video.
        if (
            not killed.is_set()
            and event == "progress"
            and data["analyzer"] == "objects"
            and data["done"] >= 0.3
        ):
            killed.set()
            pid = executor.actor_stats()["objects#0"]["pid"]
            os.kill(pid, signal.SIGKILL)

    with RayExecutor(settings, sink=sink) as ex:
        executor = ex
        outcomes = list(ex.analyze_many([(source, tmp_path / f"v{i}") for i in range(3)]))
        stats = ex.actor_stats()["objects#0"]
    assert killed.is_set()
    assert [o.error for o in outcomes] == [None, None, None]
    assert all(o.result.status == "complete" for o in outcomes)
    assert stats["restarted"], "the detector actor was not restarted"
    assert any(e == "warning" and "retrying" in d["message"] for e, d in events)
    # The retried video's tracks equal the others'.
    tracks = [_tracks(tmp_path / f"v{i}") for i in range(3)]
    for other in tracks[1:]:
        _same(tracks[0], other, "objects")


def test_the_server_runs_its_jobs_on_ray(media, tmp_path, local_ray):
    httpx = need("httpx")
    from test_server_inprocess import ThreadServer
    from vidscope.server.app import create_app
    from vidscope.server.auth import KeyFile
    from vidscope.server.config import ServerConfig

    config = ServerConfig(
        data_dir=tmp_path / "data",
        overrides={"analyzers": ["shots", "objects"], "executor": "ray"},
    )
    key = KeyFile(config.keys_path).add("tester")
    server = ThreadServer(create_app(config))
    clip = media("debian/Megamind.avi")
    try:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as client:
            submitted = client.post(
                "/v1/jobs", files={"file": (clip.name, clip.read_bytes(), "video/x-msvideo")}
            )
            assert submitted.status_code == 202, submitted.text
            job_id = submitted.json()["id"]
            deadline = time.monotonic() + 180
            while (job := client.get(f"/v1/jobs/{job_id}").json())["status"] not in (
                "succeeded",
                "failed",
            ):
                assert time.monotonic() < deadline, job
                time.sleep(0.2)
            assert job["status"] == "succeeded", job

            def track(name: str) -> list[dict[str, Any]]:
                lines = client.get(f"/v1/jobs/{job_id}/tracks/{name}").text.splitlines()
                return [orjson.loads(line) for line in lines]

            assert len(track("shots")) == 4
            assert {o["label"] for o in track("objects")} >= {"person"}
    finally:
        server.stop()


def test_an_unreachable_cluster_is_one_clear_line(media):
    done = subprocess.run(
        [
            sys.executable, "-m", "vidscope.cli", "analyze", str(media("debian/Megamind.avi")),
            "-a", "shots", "--ray-address", "127.0.0.1:1", "-o", "/dev/null/x",
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: cannot reach the Ray cluster at 127.0.0.1:1: [Errno 111] Connection refused"
    ]

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
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson
import pytest

from conftest import need

ray = need("ray")

from vidscope.analyzers.settings import load_settings, params_for
from vidscope.engine.local import Engine
from vidscope.engine.ray.cluster import NAMESPACE
from vidscope.engine.ray.executor import RayExecutor

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


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("torch")
    need("transformers")
    from tiny_vlm import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("tiny-qwen2-vl"))


def _caption_settings(model: Path, **more: Any) -> Any:
    return load_settings(
        None,
        {
            "analyzers": ["captions"],
            "vlm.model": str(model),
            "vlm.max_pixels": 200 * 200,
            "vlm.max_new_tokens": 24,
            "analyzer.captions.dedup_threshold": 0.0,
            **more,
        },
    ).settings


def test_vlm_captions_on_ray_equal_the_local_ones(media, tmp_path, local_ray, tiny_vlm):
    settings = _caption_settings(
        tiny_vlm,
        **{"vlm.batch_size": 8, "ray.max_videos": 3, "ray.batch_across_videos": True},
    )
    source = media("debian/Megamind.avi")
    with Engine(settings) as engine:
        alone = engine.analyze(source, tmp_path / "local")
    with RayExecutor(settings) as executor:
        outcomes = list(executor.analyze_many([(source, tmp_path / f"v{i}") for i in range(3)]))
        stats = executor.last_report["actors"]["captions#0"]
    assert [o.error for o in outcomes] == [None, None, None]
    # Twelve seconds a video, asked in calls of up to eight: 2 per video, merged or not.
    assert stats["videos"] == 3 and stats["model"]["requests"] == 6
    # float32 greedy answers do not depend on which videos shared a batch.
    expected = [(r["start"], r["text"]) for r in alone.track("captions")]
    assert len(expected) == 12
    for i in range(3):
        got = _tracks(tmp_path / f"v{i}")["captions"]
        assert [(r["start"], r["text"]) for r in got] == expected


def test_videos_finishing_together_share_one_model_call(media, local_ray, tiny_vlm):
    from vidscope.analyzers import registry
    from vidscope.analyzers.base import Frame
    from vidscope.engine.ray.actors import AnalyzerActor
    from vidscope.media.probe import probe
    from vidscope.media.stills import frames_at

    settings = _caption_settings(tiny_vlm, **{"vlm.batch_size": 64})
    params = params_for(settings, "captions")
    clip = media("debian/Megamind.avi")
    info = probe(clip)
    times = [float(k) for k in range(12)]
    frames = [
        Frame(i, i, 1, Fraction(1), f.to_ndarray(format="rgb24", width=320, height=240))
        for i, f in enumerate(frames_at(clip, times))
    ]
    cls = registry.get("captions")
    actor = ray.remote(AnalyzerActor).options(max_concurrency=5).remote(cls, params, "cpu", True)
    try:
        ray.get(actor.setup.remote())

        def feed(key: str) -> None:
            ray.get(actor.start.remote(key, info, frozenset()))
            # Twelve frames stay below the batch size: the model is only asked at the end.
            assert ray.get(actor.process.remote(key, frames)) == []

        feed("alone")
        ((alone, _),) = ray.get([actor.finish.remote("alone")])
        for key in "abc":
            feed(key)
        # The three finish together: the first call finds the model idle and runs alone, the
        # other two wait for it and are then asked in one call.
        together = ray.get([actor.finish.remote(key) for key in "abc"])
        model = ray.get(actor.stats.remote())["model"]
    finally:
        ray.kill(actor)
    assert model.pop("model_s") > 0
    assert model == {
        "requests": 4,
        "model_calls": 3,
        "items": 48,
        "merged_calls": 1,
        "mean_batch": 16.0,
        "largest_batch": 24,
    }
    for records, _ in together:
        assert [r["text"] for r in records] == [r["text"] for r in alone]


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


@pytest.mark.parametrize(
    ("declared", "cpus", "videos"),
    [
        # The pooled analyzers of the default pipeline: shots, speech, ocr and objects declare
        # one CPU, transcript two; one video task on a two-CPU machine leaves one to share.
        ({"shots": 1.0, "speech": 1.0, "ocr": 1.0, "objects": 1.0, "transcript": 2.0}, 2, 1),
        ({f"a{k}": 1.0 for k in range(7)}, 4, 3),
        ({"ocr": 3.0, "captions": 1.0}, 16, 4),
    ],
)
def test_actor_shares_leave_every_video_task_its_cpu(declared, cpus, videos):
    from vidscope.engine.ray.pools import cpu_shares

    counts = dict.fromkeys(declared, 1)
    shares = cpu_shares(declared, counts, {"CPU": float(cpus)}, videos)
    assert shares.keys() == declared.keys()
    assert all(s > 0 for s in shares.values())
    assert sum(shares.values()) <= cpus - videos

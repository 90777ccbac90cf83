"""The scheduler of one input, part by part (topology, decode feeder, replay, emit, progress,
worker loop, track closing, threads), and the same records from every kind of worker."""

from __future__ import annotations

import itertools
import os
import queue
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from conftest import need
from fake_analyzer import FakeBroken, FakeCount, FakeStats
from vidscope.analyzers.base import Analyzer, TrackRecord
from vidscope.engine.report import StageStats
from vidscope.engine.scheduler import END, STOPPED, Scheduler
from vidscope.engine.threads import run_threads
from vidscope.engine.topology import Node, Stage
from vidscope.engine.tracks import TrackCloser
from vidscope.engine.workers import ProcessWorker, ThreadWorker, Worker
from vidscope.media.frames import AudioChunk, Frame, FrameSpec
from vidscope.media.probe import MediaInfo, probe
from vidscope.timeline.bundle import BundleWriter, TrackWriter

CLIP = "debian/Megamind.avi"


@pytest.fixture(scope="module")
def megamind(media) -> MediaInfo:
    return probe(media(CLIP))


def stages(
    tmp: Path, analyzers: list[Analyzer], worker: type[Worker] = ThreadWorker
) -> dict[str, Stage]:
    """Each analyzer on a ``worker``, writing its tracks under ``tmp``."""
    tmp.mkdir(parents=True, exist_ok=True)
    return {
        a.name: Stage(a, worker(a), {t: TrackWriter(tmp / f"{t}.jsonl") for t in a.output_tracks()})
        for a in analyzers
    }


def drain(inbox: queue.Queue) -> list[Any]:
    out = []
    while True:
        try:
            out.append(inbox.get_nowait())
        except queue.Empty:
            return out


def chunks(n: int) -> list[AudioChunk]:
    """``n`` one-second chunks of a quiet tone, each louder than the one before."""
    t = np.arange(16000, dtype=np.float32) / 16000
    return [AudioChunk(float(i), (0.1 * (i + 1) * np.sin(2 * np.pi * 440 * t))) for i in range(n)]


def test_topology_wires_the_decoder_the_tracks_and_the_replays(megamind, media, tmp_path):
    wired = Scheduler(megamind, stages(tmp_path, [FakeStats(), FakeCount()]), queue_size=4).topology
    stats, count = wired.nodes["fake_stats"], wired.nodes["fake_count"]
    assert wired.by_spec == {FrameSpec(fps=2.0, width=32, format="gray"): [stats]}
    assert wired.audio == [stats] and wired.decoded == [stats] and wired.replay == {}
    # The decode pass counts as one upstream, frames and audio together.
    assert stats.upstreams == 1 and stats.consumers == [count] and stats.frame_step == 0.5
    assert count.upstreams == 1 and count.inputs == {"fake_frames"}
    assert count.required_from == {"fake_stats"} and not count.decoded
    # Frames are big, records small: the frame reader's inbox is the shallower one.
    assert stats.inbox.maxsize == 4 and count.inbox.maxsize == 32

    # Without the producer in this run, a reused track is replayed from its file instead.
    replayed = Scheduler(
        megamind, stages(tmp_path / "r", [FakeCount()]), reused={"fake_frames": tmp_path / "f"}
    ).topology
    count = replayed.nodes["fake_count"]
    assert replayed.replay == {"fake_frames": [count]} and replayed.decoded == []
    assert count.upstreams == 1 and count.inputs == {"fake_frames"} and not count.required_from

    # An audio-only input feeds no frames: the frame reader waits for audio alone.
    flac = probe(media("faster-whisper/jfk.flac"))
    audio_only = Scheduler(flac, stages(tmp_path / "a", [FakeStats()])).topology
    assert audio_only.by_spec == {} and audio_only.nodes["fake_stats"].upstreams == 1


def test_the_decode_feeder_puts_every_item_in_time_order_then_an_end(megamind, tmp_path):
    sched = Scheduler(megamind, stages(tmp_path, [FakeStats()]), queue_size=512)
    sched.decode()
    items = drain(sched.topology.nodes["fake_stats"].inbox)
    assert items[-1] is END and END not in items[:-1]
    frames = [i for i in items if isinstance(i, Frame)]
    audio = [i for i in items if isinstance(i, AudioChunk)]
    assert len(frames) + len(audio) == len(items) - 1 == sched.decode_stats.items
    # Two frames a second over the whole clip, each reduced to 32 pixels of grey.
    assert abs(len(frames) - 2 * megamind.duration) <= 2
    assert all(f.image.ndim == 2 and f.image.shape[1] == 32 for f in frames)
    assert [f.time for f in frames] == sorted(f.time for f in frames)
    assert audio[-1].end == pytest.approx(megamind.end, abs=0.1)
    assert sched.decode_error is None


def test_the_decode_feeder_gives_up_on_a_full_inbox_when_stopped(megamind, tmp_path):
    stop = threading.Event()
    sched = Scheduler(megamind, stages(tmp_path, [FakeStats()]), queue_size=1, stop=stop)
    feeder = threading.Thread(target=sched.decode)
    feeder.start()
    inbox = sched.topology.nodes["fake_stats"].inbox
    deadline = time.monotonic() + 60
    while not inbox.full():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # Nobody reads the inbox: only the stop event lets the feeder go.
    time.sleep(0.5)
    assert feeder.is_alive()
    stop.set()
    feeder.join(5)
    assert not feeder.is_alive()
    assert drain(inbox) != [END]


def test_replay_feeds_a_track_file_then_an_end_and_a_damaged_one_fails_its_readers(
    megamind, tmp_path
):
    track = tmp_path / "fake_frames.jsonl"
    records = [{"start": i, "end": i + 1, "mean": 10.0 * i} for i in range(3)]
    track.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    sched = Scheduler(
        megamind, stages(tmp_path / "out", [FakeCount()]), reused={"fake_frames": track}
    )
    node = sched.topology.nodes["fake_count"]
    sched.replay("fake_frames")
    items = drain(node.inbox)
    assert items[:-1] == [TrackRecord("fake_frames", r) for r in records] and items[-1] is END
    assert node.error is None

    track.write_bytes(orjson.dumps(records[0]) + b"\nnot json\n")
    sched.replay("fake_frames")
    assert drain(node.inbox)[-1] is END
    assert node.error is not None and node.error.startswith(f"{track}:2: corrupt track line")


def test_emit_writes_each_record_to_its_track_and_forwards_what_a_reader_reads(megamind, tmp_path):
    sched = Scheduler(megamind, stages(tmp_path, [FakeStats(), FakeCount()]))
    stats, count = sched.topology.nodes["fake_stats"], sched.topology.nodes["fake_count"]
    frame = {"_track": "fake_frames", "start": 0.0, "end": 0.5, "mean": 3.0}
    sound = {"_track": "fake_audio", "start": 0.0, "end": 1.0, "rms": 0.5}
    sched.emit(stats, [frame, sound])
    for writer in stats.writers.values():
        writer.close()
    assert orjson.loads((tmp_path / "fake_frames.jsonl").read_bytes()) == {
        "start": 0.0,
        "end": 0.5,
        "mean": 3.0,
    }
    assert orjson.loads((tmp_path / "fake_audio.jsonl").read_bytes())["rms"] == 0.5
    # fake_count reads fake_frames only.
    assert drain(count.inbox) == [TrackRecord("fake_frames", frame)]
    assert stats.stats.records == 2


def test_progress_is_said_every_half_second_of_media_and_at_the_end(megamind, tmp_path):
    events: list[tuple[str, dict[str, Any]]] = []
    sched = Scheduler(
        megamind, stages(tmp_path, [FakeCount()]), sink=lambda e, **d: events.append((e, d))
    )
    node = sched.topology.nodes["fake_count"]
    for tenth in range(int(megamind.duration * 10) + 1):
        sched.progress(node, megamind.start + tenth / 10)
    sched.progress(node, megamind.end + 1.0)
    done = [d["done"] for e, d in events]
    assert {e for e, _ in events} == {"progress"}
    # (Each figure is rounded to hundredths.)
    assert all(b - a >= 0.49 for a, b in itertools.pairwise(done[:-1]))
    assert done[0] == 0.5 and len(done) == int(megamind.duration / 0.5) + 1
    # The end is said however little was left, and past the end counts as the end.
    assert done[-1] == round(megamind.duration, 2) and done[-2] < megamind.duration - 0.1
    assert all(d["analyzer"] == "fake_count" and d["total"] == megamind.duration for _, d in events)


def work_on(sched: Scheduler, name: str, items: list[Any]) -> tuple[Node, list[tuple]]:
    """Run ``name``'s loop on this thread over ``items``; its node and what it reported."""
    node = sched.topology.nodes[name]
    for item in items:
        node.inbox.put_nowait(item)
    ended: list[tuple] = []
    sched.on_done = lambda *args: ended.append(args)
    sched.work(node)
    return node, ended


def test_the_worker_loop_batches_finishes_and_passes_an_end_on(megamind, tmp_path):
    sched = Scheduler(megamind, stages(tmp_path, [FakeStats(), FakeCount()]))
    node, ended = work_on(sched, "fake_stats", [*chunks(7), END])
    # Batches of at most three, whatever was waiting.
    assert node.stats.items == 7 and node.stats.batches == 3
    assert node.stats.counters == {"items": 7} and node.error is None
    assert ended == [("fake_stats", None, node.stats)]
    assert drain(node.inbox) == []
    assert drain(sched.topology.nodes["fake_count"].inbox) == [END]
    node.writers["fake_audio"].close()
    lines = (tmp_path / "fake_audio.jsonl").read_bytes().splitlines()
    assert [orjson.loads(x)["start"] for x in lines] == [float(i) for i in range(7)]


def test_the_worker_loop_drains_its_inbox_after_an_error_and_says_why(megamind, tmp_path):
    sched = Scheduler(megamind, stages(tmp_path, [FakeBroken()]))
    node, ended = work_on(sched, "fake_broken", [*chunks(4), END])
    assert node.error == "ValueError: the second batch is always bad"
    assert ended == [("fake_broken", node.error, node.stats)]
    # Its feeder is never left waiting on it, and it does not finish a broken input.
    assert drain(node.inbox) == [] and node.stats.counters == {}
    assert node.stats.items == 1 and node.stats.records == 1


def test_the_worker_loop_fails_when_a_track_it_needs_failed(megamind, tmp_path):
    sched = Scheduler(megamind, stages(tmp_path, [FakeStats(), FakeCount()]))
    sched.topology.nodes["fake_stats"].error = "ValueError: broken"
    node, ended = work_on(sched, "fake_count", [END])
    assert node.error == "input track from 'fake_stats' failed"
    assert ended == [("fake_count", node.error, node.stats)]


def test_the_worker_loop_ends_as_stopped_when_the_run_is_stopped(megamind, tmp_path):
    stop = threading.Event()
    stop.set()
    sched = Scheduler(megamind, stages(tmp_path, [FakeStats()]), stop=stop)
    node, ended = work_on(sched, "fake_stats", chunks(2))
    assert node.error == STOPPED and ended == [("fake_stats", STOPPED, node.stats)]


def test_track_closer_enters_how_each_analyzer_ended(megamind, tmp_path):
    events: list[tuple[str, dict[str, Any]]] = []
    with BundleWriter(tmp_path, {"tracks": {}}) as bundle:
        writers = {
            name: {t: bundle.open_track(t, {"analyzer": name}) for t in tracks}
            for name, tracks in {
                "a": ["fake_frames", "fake_audio"],
                "b": ["b"],
                "c": ["c"],
            }.items()
        }
        writers["a"]["fake_frames"].write({"start": megamind.start, "end": megamind.end})
        closer = TrackCloser(
            bundle, megamind, writers, {"fake_frames"}, lambda e, **d: events.append((e, d))
        )
        closer("a", None, StageStats(busy=1.5, items=4))
        closer("b", STOPPED, StageStats())
        closer("c", "ValueError: no", StageStats())
        tracks = bundle.manifest["tracks"]
    frames = tracks["fake_frames"]
    assert frames["status"] == "complete" and frames["records"] == 1
    assert frames["coverage"] == 1.0 and "coverage" not in tracks["fake_audio"]
    assert frames["timings"] == {
        "busy_s": 1.5,
        "items": 4,
        "rtf": round(1.5 / megamind.duration, 4),
    }
    assert tracks["fake_audio"]["status"] == "complete" and tracks["fake_audio"]["records"] == 0
    # Stopped is not broken: no error, and a rerun recomputes it.
    assert tracks["b"]["status"] == "interrupted" and "error" not in tracks["b"]
    assert tracks["c"]["status"] == "failed" and tracks["c"]["error"] == "ValueError: no"
    assert all(w._file.closed for ws in writers.values() for w in ws.values())
    assert [(d["analyzer"], d["status"]) for _, d in events] == [
        ("a", "done"),
        ("b", "interrupted"),
        ("c", "failed: ValueError: no"),
    ]


def test_threads_all_return_before_an_interrupt_goes_on_even_a_second_one():
    stop = threading.Event()
    main = threading.main_thread().ident
    seen: list[str] = []
    second_sent = threading.Event()
    slow_started = threading.Event()

    def interrupter() -> None:
        assert slow_started.wait(30)
        # A signal that lands just before the main thread blocks wakes nothing (CPython checks
        # for signals between bytecodes), so Ctrl-C is pressed until the run notices.
        deadline = time.monotonic() + 30
        while not stop.wait(0.5):
            assert time.monotonic() < deadline
            signal.pthread_kill(main, signal.SIGINT)
        # Ctrl-C again while the first one waits for the threads.
        signal.pthread_kill(main, signal.SIGINT)
        second_sent.set()

    def slow() -> None:
        slow_started.set()
        assert stop.wait(30)
        assert second_sent.wait(30)
        time.sleep(0.3)
        seen.append("slow returned")

    # Ctrl-C as a command line sees it (a server started by an earlier test may have left
    # its own handler).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_threads([("interrupter", interrupter), ("slow", slow)], stop)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert stop.is_set()
    assert seen == ["slow returned"]


def test_threads_run_every_job_and_return_when_all_have():
    done: list[int] = []
    lock = threading.Lock()

    def job(i: int) -> None:
        time.sleep(0.05 * i)
        with lock:
            done.append(i)

    run_threads([(f"job{i}", lambda i=i: job(i)) for i in range(4)], threading.Event())
    assert sorted(done) == [0, 1, 2, 3]


@pytest.fixture(scope="module")
def ray_cluster():
    """A two-CPU Ray whose workers import this folder's modules (the fake analyzers)."""
    ray = need("ray")
    from vidscope.engine.ray.cluster import NAMESPACE

    here = str(Path(__file__).resolve().parent)
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
    ray.init(
        num_cpus=2,
        namespace=NAMESPACE,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=256 * 2**20,
        runtime_env={"env_vars": {"PYTHONPATH": path}},
    )
    yield ray
    ray.shutdown()


def run_fakes(media_info: MediaInfo, out: Path, kind: str, request: Any) -> dict[str, bytes]:
    """Both fake analyzers over the clip on workers of ``kind``; each track file's bytes."""
    analyzers: list[Analyzer] = [FakeStats(), FakeCount()]
    workers: dict[str, Worker]
    actors: list[Any] = []
    ray: Any = None
    if kind == "thread":
        workers = {a.name: ThreadWorker(a) for a in analyzers}
    elif kind == "process":
        workers = {a.name: ProcessWorker(a) for a in analyzers}
    else:
        ray = request.getfixturevalue("ray_cluster")
        from vidscope.engine.ray.actors import AnalyzerActor
        from vidscope.engine.ray.worker import RemoteWorker

        actor_cls = ray.remote(AnalyzerActor).options(num_cpus=0.1, max_concurrency=2)
        assignment = {
            a.name: actor_cls.remote(type(a), a.params.model_dump(), "cpu", False)
            for a in analyzers
        }
        actors = list(assignment.values())
        workers = {a.name: RemoteWorker(a.name, assignment) for a in analyzers}
    out.mkdir()
    writers = {
        a.name: {t: TrackWriter(out / f"{t}.jsonl") for t in a.output_tracks()} for a in analyzers
    }
    try:
        outcome = Scheduler(
            media_info,
            {a.name: Stage(a, workers[a.name], writers[a.name]) for a in analyzers},
        ).run()
    finally:
        for worker in workers.values():
            worker.close()
        for actor in actors:
            ray.kill(actor)
    for tracks in writers.values():
        for writer in tracks.values():
            writer.close()
    assert outcome.errors == {} and outcome.decode_error is None
    assert outcome.stages["fake_stats"].counters["items"] == outcome.stages["fake_stats"].items
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["process", "ray"])
def test_every_kind_of_worker_writes_the_same_records(megamind, tmp_path, kind, request):
    expected = run_fakes(megamind, tmp_path / "thread", "thread", request)
    assert set(expected) == {"fake_frames.jsonl", "fake_audio.jsonl", "fake_count.jsonl"}
    frames = expected["fake_frames.jsonl"].splitlines()
    assert abs(len(frames) - 2 * megamind.duration) <= 2
    summary = orjson.loads(expected["fake_count.jsonl"])
    assert summary["frames"] == len(frames) and summary["inputs"] == ["fake_frames"]
    assert run_fakes(megamind, tmp_path / kind, kind, request) == expected

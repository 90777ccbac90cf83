"""People analyzers (faces, pose, segmentation) and their isolated MediaPipe sidecar.

The sidecar needs the people environment (``vidscope setup people``), found the way the
analyzers find it.  Without it the tests that run models skip with the reason, and fail in CI.
Megamind.avi's ground truth was checked by eye: four shots (cuts at frames 99, 155, 201) in a
shot/reverse-shot dinner scene.  Shots 0 and 2 show the woman facing right, towards the man
(shot 0 also shows a diner at a table behind her, on the right); shots 1 and 3 show the man,
on the right half facing left in shot 1, close up in shot 3.  The woman shuts her eyes around
1.2 s and 3.0 s.
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest

import vidscope
from conftest import missing
from synth import encode_frames, h264_stream, make_video
from vidscope.analyzers import registry
from vidscope.analyzers.people import runtime
from vidscope.analyzers.people.faces import (
    EXPRESSIONS,
    FacesAnalyzer,
    FacesParams,
    assign_ids,
    eye_angles,
)
from vidscope.analyzers.settings import load_settings
from vidscope.engine.local import Engine
from vidscope.errors import ModelError, UsageError

PEOPLE = ["faces", "pose", "segmentation"]


@pytest.fixture(scope="module")
def people_python() -> str:
    """The people environment's interpreter, by the analyzers' own resolution."""
    try:
        return runtime.find_python("faces")
    except runtime.EnvironmentUnavailable as exc:
        missing(f"people environment unavailable: {exc}")


@pytest.fixture(scope="module")
def engine(people_python):
    """One engine for every clip: each sidecar starts once and serves all inputs."""
    with Engine(load_settings(overrides={"analyzers": PEOPLE}).settings) as e:
        yield e


@pytest.fixture(scope="module")
def megamind(engine, media, tmp_path_factory):
    return engine.analyze(media("debian/Megamind.avi"), tmp_path_factory.mktemp("megamind"))


def _write_black(path: Path, size: tuple[int, int], seconds: float = 1.0, fps: int = 10) -> Path:
    w, h = size
    with av.open(str(path), "w") as out:
        stream = h264_stream(out, fps, size)
        black = np.zeros((h, w, 3), np.uint8)
        encode_frames(out, stream, (black for _ in range(round(seconds * fps))), fps)
    return path


def _by_shot(records: list[dict]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for r in records:
        out.setdefault(r["shot"], []).append(r)
    return out


def _centre_x(face: dict) -> float:
    return (face["box"][0] + face["box"][2]) / 2


# ------------------------------------------------------------------------------ Megamind


def test_megamind_faces_in_every_shot(megamind):
    assert megamind.status == "complete"
    shots = megamind.track("shots")
    assert len(shots) == 4
    faces = _by_shot(megamind.track("faces"))
    assert sorted(faces) == [0, 1, 2, 3]
    for index, records in faces.items():
        shot = shots[index]
        for r in records:
            assert shot["start"] - 1e-3 <= r["start"] < shot["end"]
            assert r["end"] == pytest.approx(r["start"] + 0.2, abs=1e-3)
            assert r["basis"] == "face"
            assert r["confidence"] == max(f["score"] for f in r["faces"])
        # Faces in (nearly) every sampled frame of every shot.
        sampled = (shot["end"] - shot["start"]) * 5
        assert len(records) >= 0.8 * sampled - 1


def test_megamind_people_and_stable_ids_per_shot(megamind):
    faces = _by_shot(megamind.track("faces"))
    lasting: dict[int, int] = {}
    dominant: dict[int, list[dict]] = {}
    for index, records in faces.items():
        counts = Counter(f["id"] for r in records for f in r["faces"])
        main, seen = counts.most_common(1)[0]
        # One id follows the main character through the whole shot.
        assert seen >= 0.9 * len(records), (index, counts)
        lasting[index] = sum(c >= 0.5 * len(records) for c in counts.values())
        dominant[index] = [f for r in records for f in r["faces"] if f["id"] == main]
    # The main character of each shot, plus the diner behind the woman in shot 0.
    assert lasting == {0: 2, 1: 1, 2: 1, 3: 1}
    # Shot/reverse-shot: the woman left of centre, the man right of it, then a close-up.
    assert statistics.median(map(_centre_x, dominant[0])) < 0.5
    assert statistics.median(map(_centre_x, dominant[1])) > 0.55
    assert statistics.median(map(_centre_x, dominant[2])) < 0.5
    close_up = statistics.median(f["box"][2] - f["box"][0] for f in dominant[3])
    assert close_up > 1.5 * statistics.median(f["box"][2] - f["box"][0] for f in dominant[1])


def test_megamind_face_details(megamind):
    records = megamind.track("faces")
    for r in records:
        for f in r["faces"]:
            assert 0 <= f["box"][0] < f["box"][2] <= 1 and 0 <= f["box"][1] < f["box"][3] <= 1
            assert f["score"] >= 0.6
            scores = f["expression"]["scores"]
            assert tuple(scores) == EXPRESSIONS
            assert sum(scores.values()) == pytest.approx(1, abs=0.02)
            assert f["expression"]["label"] == max(scores, key=scores.get)
    main = [
        (r["start"], r["shot"], f)
        for r in records
        for f in r["faces"]
        if f["id"] == 0 and f["landmarks"] is not None
    ]
    assert len(main) >= 0.9 * len(records)
    for _, _, f in main:
        x1, y1, x2, y2 = f["box"]
        for x, y in f["landmarks"].values():
            assert x1 - 0.05 <= x <= x2 + 0.05 and y1 - 0.05 <= y <= y2 + 0.05
        # The person's right eye is on the image's left.
        assert f["landmarks"]["right_iris"][0] < f["landmarks"]["left_iris"][0]

    def shut(t: float) -> bool:
        start, _, f = min(main, key=lambda m: abs(m[0] - t))
        return abs(start - t) < 0.15 and not any(f["eyes_open"].values())

    assert shut(1.2) and shut(3.0)
    open_share = np.mean([all(f["eyes_open"].values()) for _, _, f in main])
    assert open_share > 0.7
    # They look at each other: she to the image's right, he to its left.
    gaze = {s: [f["gaze"]["yaw"] for _, shot, f in main if shot == s and f["gaze"]] for s in (0, 1)}
    assert statistics.median(gaze[0]) > 5
    assert statistics.median(gaze[1]) < -5


def test_megamind_pose(megamind):
    pose = megamind.track("pose")
    assert sorted(_by_shot(pose)) == [0, 1, 2, 3]
    for r in pose:
        assert len(r["people"]) == 1  # MediaPipe Pose finds one person per frame
        # Kept only with evidence: the characters' faces (NanoDet's person where none is seen).
        assert r["basis"] in ("face", "person") and r["confidence"] >= 0.5
        landmarks = r["people"][0]["landmarks"]
        assert len(landmarks) == 33 and all(len(p) == 4 for p in landmarks)
        assert all(0 <= p[3] <= 1 for p in landmarks)
    summaries = megamind.track("shot_pose")
    assert [s["shot"] for s in summaries] == [0, 1, 2, 3]
    for s in summaries:
        assert s["people"] == 1
        assert s["frames_with_people"] >= 0.75
        assert s["movement"] is not None and 0 <= s["movement"] < 1
        assert s["unconfirmed"] == 0


def test_megamind_segmentation(megamind):
    seg = megamind.track("segmentation")
    duration = megamind.media["duration"]
    assert abs(len(seg) - duration * 2) <= 1
    first = seg[0]  # the clip opens on a black frame
    assert first["person_share"] == 0 and first["box"] is None
    later = [r for r in seg if r["start"] > 0.4]
    assert all(r["person_share"] > 0.1 for r in later)
    assert all(r["basis"] in ("face", "person") and r["confidence"] >= 0.5 for r in later)
    assert all(r["model_share"] == r["person_share"] for r in seg)
    assert all(0 <= r["box"][0] < r["box"][2] <= 1 for r in later)


def test_replayed_shot_track_gives_the_same_records(engine, megamind, media, tmp_path):
    # A finished shot track is replayed ahead of the frames; the shot of every record must
    # not depend on that order.
    clip = media("debian/Megamind.avi")
    vidscope.analyze(clip, ["shots"], tmp_path)
    again = engine.analyze(clip, tmp_path)
    assert "shots" in again.run_report["reused_tracks"]
    for track in ("faces", "pose", "shot_pose"):
        assert again.track(track) == megamind.track(track), track


def test_megamind_report_has_stage_times(megamind):
    stages = megamind.run_report["stages"]
    for name in PEOPLE:
        assert stages[name]["busy_s"] > 0
        assert stages[name]["rtf"] < 1


# ---------------------------------------------------------------------- no people, odd input


def test_clip_without_people(engine, tmp_path):
    clip = tmp_path / "blocks.mp4"
    make_video(clip, [1.0, 1.0], fps=25)
    result = engine.analyze(clip, tmp_path / "out")
    assert result.status == "complete"
    assert result.track("faces") == []
    assert result.track("pose") == []
    assert [s["people"] for s in result.track("shot_pose")] == [0, 0]
    assert all(r["person_share"] < 0.01 for r in result.track("segmentation"))


@pytest.mark.parametrize("kind", ["tiny", "black"])
def test_tiny_and_black_clips(engine, tmp_path, kind):
    clip = tmp_path / f"{kind}.mp4"
    if kind == "tiny":
        make_video(clip, [1.0], fps=10, size=(64, 64))
    else:
        _write_black(clip, (320, 240))
    result = engine.analyze(clip, tmp_path / "out")
    assert result.status == "complete"
    assert result.track("faces") == []
    assert result.track("pose") == []
    assert len(result.track("segmentation")) == 2


@pytest.fixture(scope="module")
def sidecars(people_python):
    started = {kind: runtime.Sidecar(kind) for kind in PEOPLE}
    try:
        for sidecar in started.values():
            sidecar.start()
        yield started
    finally:
        for sidecar in started.values():
            sidecar.close()


@pytest.mark.parametrize("shape", [(64, 64, 3), (1, 1, 3), (480, 640, 3)])
def test_sidecars_take_odd_frames(sidecars, shape):
    for sidecar in sidecars.values():
        results = sidecar.request([np.zeros(shape, np.uint8), np.full(shape, 255, np.uint8)])
        assert len(results) == 2
        for r in results:
            assert r.get("faces", []) == [] and r.get("people", []) == []


def test_sidecar_rejects_frames_that_are_not_rgb(sidecars):
    with pytest.raises(ValueError, match="RGB uint8"):
        sidecars["pose"].request([np.zeros((32, 32), np.uint8)])
    assert sidecars["pose"].request([np.zeros((32, 32, 3), np.uint8)]) == [{"people": []}]


def test_segmentation_writes_masks(people_python, media, tmp_path):
    masks = tmp_path / "masks"
    clip = media("debian/Megamind.avi")
    result = vidscope.analyze(
        clip,
        ["segmentation"],
        tmp_path / "out",
        settings={"analyzer.segmentation.mask_dir": str(masks), "analyzer.segmentation.fps": 0.5},
    )
    records = result.track("segmentation")
    assert records and all((masks / r["mask"]).is_file() for r in records)
    assert records[1]["mask"] == f"Megamind_{records[1]['start']:09.3f}.png"


# ------------------------------------------------------------------------- the sidecar itself


def test_worker_that_dies_raises_model_error(people_python):
    sidecar = runtime.Sidecar("pose")
    sidecar.start()
    sidecar._proc.kill()
    t0 = time.monotonic()
    with pytest.raises(ModelError, match="pose sidecar stopped"):
        sidecar.request([np.zeros((32, 32, 3), np.uint8)])
    assert time.monotonic() - t0 < 10
    # The next input starts a fresh worker.
    sidecar.start()
    assert sidecar.request([np.zeros((32, 32, 3), np.uint8)]) == [{"people": []}]
    sidecar.close()


def test_worker_that_hangs_raises_model_error(people_python):
    sidecar = runtime.Sidecar("segmentation", request_timeout=1.0)
    sidecar.start()
    os.kill(sidecar._proc.pid, signal.SIGSTOP)
    try:
        with pytest.raises(ModelError, match="did not answer within 1 s"):
            sidecar.request([np.zeros((32, 32, 3), np.uint8)])
    finally:
        sidecar.close()
    assert not sidecar.alive


def test_worker_errors_are_replies(sidecars, tmp_path):
    sidecar = sidecars["segmentation"]
    bad = {"mask": str(tmp_path / "missing" / "mask.png")}
    with pytest.raises(ModelError, match="cannot write"):
        sidecar.request([np.zeros((32, 32, 3), np.uint8)], [bad])
    # The worker survived its error.
    assert sidecar.request([np.zeros((32, 32, 3), np.uint8)])[0]["person_share"] == 0


def test_worker_that_fails_to_start(people_python):
    sidecar = runtime.Sidecar("faces", {"detector": "sideways"})
    with pytest.raises(ModelError, match="faces sidecar: KeyError: 'sideways'"):
        sidecar.start()
    assert not sidecar.alive


# ------------------------------------------------------------------ finding the environment


@pytest.fixture
def no_environment(monkeypatch, tmp_path):
    """No variable, an empty cache, and this interpreter without MediaPipe."""
    if runtime.worker.versions()["mediapipe"]:
        pytest.skip("this interpreter has MediaPipe itself")
    monkeypatch.delenv(runtime.ENV_VAR, raising=False)
    monkeypatch.setenv("VIDSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_unavailable_without_environment(no_environment):
    for name in PEOPLE:
        avail = registry.availability(name)
        assert not avail.ok
        assert (
            avail.reason == "needs mediapipe 0.10.21 in an isolated environment (it pins numpy<2)"
        )
        assert avail.fix.startswith("vidscope setup people")
        assert runtime.ENV_VAR in avail.fix


def test_unavailable_names_the_fix_when_requested(no_environment, tmp_path):
    with pytest.raises(UsageError, match="vidscope setup people"):
        vidscope.analyze(tmp_path / "any.mp4", ["faces"], tmp_path / "out")


def test_wrong_variable_is_reported_not_skipped(monkeypatch, tmp_path):
    missing = tmp_path / "nowhere" / "python"
    monkeypatch.setenv(runtime.ENV_VAR, str(missing))
    avail = registry.availability("faces")
    assert not avail.ok
    assert str(missing) in avail.reason and runtime.ENV_VAR in avail.reason
    assert "unset" in avail.fix
    # A Python without MediaPipe is wrong too.
    monkeypatch.setenv(runtime.ENV_VAR, sys.executable)
    if runtime.worker.versions()["mediapipe"] is None:
        avail = registry.availability("faces")
        assert not avail.ok and "needs mediapipe==0.10.21" in avail.reason


def test_incomplete_managed_environment(no_environment):
    python = runtime.venv_python(runtime.managed_environment())
    python.parent.mkdir(parents=True)
    python.symlink_to(sys.executable)
    avail = registry.availability("pose")
    assert not avail.ok and "incomplete" in avail.reason
    assert avail.fix == "vidscope setup people --force"


def test_wrong_python_parameter_is_reported(tmp_path):
    avail = registry.availability("faces", {"python": str(tmp_path / "python")})
    assert not avail.ok and "python parameter" in avail.reason
    analyzer = FacesAnalyzer(FacesParams(python=str(tmp_path / "python")))
    with pytest.raises(ModelError, match="python parameter"):
        analyzer.setup()


def test_create_environment_refuses_to_replace_other_folders(tmp_path):
    (tmp_path / "data.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not a virtual environment"):
        runtime.create_environment(tmp_path, progress=lambda _: None)
    assert (tmp_path / "data.txt").read_text() == "keep me"


# ------------------------------------------------------------------------------ pure helpers


def test_ids_follow_boxes_and_survive_short_gaps():
    a, b = [0.1, 0.1, 0.3, 0.4], [0.6, 0.1, 0.8, 0.4]
    moved = [0.15, 0.12, 0.35, 0.42]
    frames = [(0.0, [a, b]), (0.2, [b, moved]), (0.4, [moved]), (1.0, [b]), (3.0, [a])]
    assert assign_ids(frames, max_gap=1.0) == [[0, 1], [1, 0], [0], [1], [2]]


def test_iris_offset_sets_eye_yaw_sign():
    # A right eye 40 px wide on the image's left; lids 10 px above and below its centre line.
    points = {33: [100, 100, 0], 133: [140, 100, 0], 159: [120, 90, 0], 145: [120, 110, 0]}
    for iris_x, sign in ((130, 1), (110, -1), (120, 0)):
        p = {k: np.array(v, float) for k, v in {**points, 468: [iris_x, 100, 0]}.items()}
        yaw, pitch = eye_angles(p, "right")
        assert np.sign(round(yaw, 6)) == sign and pitch == pytest.approx(0)

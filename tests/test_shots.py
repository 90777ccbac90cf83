"""Shot detection against PySceneDetect's published goldens and clips with known cuts."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys

import pytest

import vidscope
from conftest import need
from synth import make_video

GOLDEN = ["testvideo.mp4", "goldeneye-vfr-drop3.mp4", "counter.mp4", "fades.mp4"]


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory):
    cache: dict[str, vidscope.Result] = {}

    def run(path) -> vidscope.Result:
        key = str(path)
        if key not in cache:
            out = tmp_path_factory.mktemp("shots")
            cache[key] = vidscope.analyze(path, ["shots"], out)
        return cache[key]

    return run


@pytest.fixture(scope="module")
def shots_of(analyzed):
    return lambda path: analyzed(path).track("shots")


def cut_frames(shots: list[dict]) -> list[int]:
    return [s["start_frame"] for s in shots if s["transition_in"]["type"] == "cut"]


@pytest.mark.parametrize("name", GOLDEN)
def test_content_detector_goldens(media, shots_of, name):
    path = media(f"pyscenedetect/{name}")
    golden_file = media(f"pyscenedetect/goldens.{name}.ContentDetector.default.json")
    golden = json.loads(golden_file.read_text())["cuts"]
    assert cut_frames(shots_of(path)) == golden


def test_vfr_cuts_are_counted_by_presentation_time(media, shots_of):
    shots = shots_of(media("pyscenedetect/goldeneye-vfr-drop3.mp4"))
    # By decode index these would be [60, 141]; by presentation time they are [90, 210].
    assert cut_frames(shots) == [90, 210]
    assert [round(s["start"], 2) for s in shots[1:]] == [
        round(90 / 23.976, 2),
        round(210 / 23.976, 2),
    ]


def test_megamind_cuts(media, shots_of):
    shots = shots_of(media("debian/Megamind.avi"))
    cuts = cut_frames(shots)
    assert len(cuts) == 3
    for got, want in zip(cuts, [99, 155, 201], strict=True):
        assert abs(got - want) <= 1
    assert len(shots) == 4


def test_fades_are_fades_not_cuts(media, shots_of):
    shots = shots_of(media("pyscenedetect/fades.mp4"))
    assert cut_frames(shots) == []
    # Each fade through black is one boundary with its fade-out and fade-in as its span; the
    # last fade-out, into the clip's black end, is how the last shot ends: no shot of black.
    assert [s["transition_in"]["type"] for s in shots[1:]] == ["fade", "fade"]
    for s in shots[1:]:
        assert s["transition_in"]["start"] < s["start"] < s["transition_in"]["end"]
    ending = shots[-1]["transition_out"]
    assert ending["type"] == "fade_out" and ending["end"] <= shots[-1]["end"] == 10.0


def test_testvideo_dissolve_is_a_boundary_with_its_span(media, shots_of):
    """testvideo.mp4 dissolves from its leaves shot to its stone shot over frames 528-558
    (seen frame by frame); its fades into and out of black stay fades."""
    shots = shots_of(media("pyscenedetect/testvideo.mp4"))
    dissolves = [s for s in shots if s["transition_in"]["type"] == "dissolve"]
    assert len(dissolves) == 1
    span = dissolves[0]["transition_in"]
    rate = 30000 / 1001
    assert span["start"] == pytest.approx(528 / rate, abs=2 / rate)
    assert span["end"] == pytest.approx(559 / rate, abs=2 / rate)
    kinds = {s["transition_in"]["type"] for s in shots[1:]}
    assert kinds <= {"cut", "fade", "fade_in", "fade_out", "dissolve"}


def test_testvideo_fade_outs_start_where_the_picture_darkens(media, shots_of):
    """testvideo.mp4's fade-outs: its mean level falls from frame 331 and from frame 664
    (seen frame by frame) and reaches black at frames 360 and 693."""
    shots = shots_of(media("pyscenedetect/testvideo.mp4"))
    rate = 30000 / 1001
    fade_outs = [s["transition_in"] for s in shots if s["transition_in"]["type"] == "fade_out"]
    assert [round(f["start"] * rate) for f in fade_outs] == [331, 664]
    assert [round(f["end"] * rate) for f in fade_outs] == [360, 693]


@pytest.mark.parametrize(
    ("name", "windows"),
    [
        # Its dissolve is a clean blend of the shots either side; its fades are read from the
        # levels.  (Where the frames leave a region in doubt the model reads it: tested in
        # test_transitions.py.)
        ("pyscenedetect/testvideo.mp4", 0),
        ("pyscenedetect/goldeneye-vfr-drop3.mp4", 0),  # cuts only
        ("pyscenedetect/fades.mp4", 0),  # fades only
        ("debian/Megamind.avi", 0),  # cuts only
    ],
)
def test_the_cpu_default_runs_the_model_only_where_the_frames_leave_a_doubt(
    media, analyzed, name, windows
):
    counters = analyzed(media(name)).run_report["stages"]["shots"]["counters"]
    assert counters["transition_windows"] == windows
    assert counters["transition_frames"] == 64 * windows


def test_shots_tile_the_video(media, shots_of):
    shots = shots_of(media("pyscenedetect/testvideo.mp4"))
    assert shots[0]["start"] == 0.0
    for a, b in itertools.pairwise(shots):
        assert a["end"] == b["start"]
        assert a["transition_out"] == b["transition_in"]
    assert shots[-1]["end"] == pytest.approx(24.024, abs=0.04)
    assert shots[-1]["transition_out"]["type"] == "end"


def test_synthetic_cut_times(tmp_path, shots_of):
    truth = make_video(tmp_path / "cuts.mp4", [1.2, 2.0, 0.8, 1.6], fps=25)
    shots = shots_of(tmp_path / "cuts.mp4")
    found = [s["start"] for s in shots if s["transition_in"]["type"] == "cut"]
    assert len(found) == len(truth)
    for got, want in zip(found, truth, strict=True):
        assert got == pytest.approx(want, abs=1 / 25 + 1e-6)


def _detection_frames(path):
    """(microseconds, downscaled BGR) per frame, converted as the shots analyzer does."""
    import av
    import cv2

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate
        for frame in container.decode(stream):
            bgr = cv2.cvtColor(frame.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2BGR_I420)
            h, w = bgr.shape[:2]
            small = cv2.resize(bgr, (256, round(h * 256 / w)), interpolation=cv2.INTER_LINEAR)
            yield round(frame.pts * stream.time_base * 1_000_000), small, rate


@pytest.mark.parametrize("name", ["testvideo.mp4", "goldeneye-vfr-drop3.mp4", "fades.mp4"])
def test_detectors_decide_as_pyscenedetect_frame_by_frame(media, name):
    """Every frame's score, every cut and every fade boundary equal PySceneDetect's own
    detectors fed the same frames and presentation times."""
    from fractions import Fraction

    import cv2

    need("scenedetect", reason="PySceneDetect (the reference) is not installed")
    from scenedetect.common import FrameTimecode, Timecode
    from scenedetect.detectors import ContentDetector as RefContent
    from scenedetect.detectors import ThresholdDetector as RefThreshold

    from vidscope.analyzers.shot_detectors import (
        ContentDetector,
        FadeDetector,
        FrameDistance,
    )

    ref_content, ref_fade = RefContent(), RefThreshold()
    ours = ours_fade = None
    ref_cuts, ref_fades, cuts, fades = [], [], [], []
    for time_us, image, rate in _detection_frames(media(f"pyscenedetect/{name}")):
        if ours is None:
            distance = FrameDistance(Fraction(rate))
            ours = ContentDetector(cv2, distance, 27.0, 15)
            ours_fade = FadeDetector(cv2, distance, 12, 15)
        tc = FrameTimecode(Timecode(time_us, Fraction(1, 1_000_000)), fps=Fraction(rate))
        ref_cuts += [c.seconds for c in ref_content.process_frame(tc, image)]
        ref_fades += [c.seconds for c in ref_fade.process_frame(tc, image)]
        cut = ours.process(time_us, image)
        assert ours.last_score == ref_content._frame_score
        cuts += [] if cut is None else [cut / 1_000_000]
        fade = ours_fade.process(time_us, image)
        fades += [] if fade is None else [fade]
    assert cuts == ref_cuts
    assert fades == ref_fades
    assert cuts or fades


# The CLI with onnxruntime hidden from the import system, as on an install without it.
WITHOUT_ONNXRUNTIME = (
    "import sys; sys.modules['onnxruntime'] = None; from vidscope.cli import main; "
    "sys.argv[0] = 'vidscope'; main()"
)


def without_onnxruntime(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_ONNXRUNTIME, *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_setting_works(message: str) -> None:
    """The ``analyzer.shots.*=VALUE`` setting ``message`` tells users to set is one the
    settings loader accepts, with that effect."""
    from vidscope.analyzers.settings import load_settings, params_for

    key, value = re.search(r"(analyzer\.shots\.\w+)=(\w+)", message).groups()
    settings = load_settings(overrides={key: value}, environ={}).settings
    assert params_for(settings, "shots")[key.rsplit(".", 1)[1]] == value


def test_without_onnxruntime_auto_finds_cuts_and_fades_and_says_why(media, tmp_path):
    """transitions=auto runs without onnxruntime, exactly as transitions=off does, and says
    so in ``vidscope analyzers`` and in the track's model entry; 'all' is refused."""
    path = media("pyscenedetect/fades.mp4")
    listed = without_onnxruntime("analyzers", "--json")
    assert listed.returncode == 0, listed.stderr
    row = next(r for r in json.loads(listed.stdout) if r["name"] == "shots")
    assert row["available"]
    assert "onnxruntime" in row["detail"] and "pip install 'vidscope[shots]'" in row["detail"]

    out = tmp_path / "auto"
    proc = without_onnxruntime("analyze", str(path), "-o", str(out), "-a", "shots", "-q")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    warning = manifest["tracks"]["shots"]["model"]["extra"]["warning"]
    assert "gradual transitions off" in warning and "pip install 'vidscope[shots]'" in warning
    got = [json.loads(line) for line in (out / "tracks" / "shots.jsonl").read_text().split()]
    off = {"analyzer.shots.transitions": "off"}
    assert got == vidscope.analyze(path, ["shots"], tmp_path / "off", settings=off).track("shots")

    refused = without_onnxruntime(
        "analyze", str(path), "-o", str(tmp_path / "all"), "-a", "shots",
        "--set", "analyzer.shots.transitions=all",
    )  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    assert "Traceback" not in refused.stderr
    assert "onnxruntime" in refused.stderr and "pip install 'vidscope[shots]'" in refused.stderr
    assert_setting_works(refused.stderr)


def test_the_corrupt_model_fix_names_a_working_setting(tmp_path, monkeypatch):
    from vidscope.errors import ModelError
    from vidscope.models import transnet

    bad = tmp_path / "transnetv2.onnx"
    bad.write_bytes(b"not a model")
    monkeypatch.setattr(transnet, "TRANSNET_FILE", bad)
    with pytest.raises(ModelError) as error:
        transnet.bundled_transnet()
    assert_setting_works(str(error.value))

"""Shot detection against PySceneDetect's published goldens and clips with known cuts."""

from __future__ import annotations

import itertools
import json

import pytest

import vidscope
from conftest import need
from synth import make_video

GOLDEN = ["testvideo.mp4", "goldeneye-vfr-drop3.mp4", "counter.mp4", "fades.mp4"]


@pytest.fixture(scope="module")
def shots_of(tmp_path_factory):
    cache: dict[str, list[dict]] = {}

    def run(path) -> list[dict]:
        key = str(path)
        if key not in cache:
            out = tmp_path_factory.mktemp("shots")
            cache[key] = vidscope.analyze(path, ["shots"], out).track("shots")
        return cache[key]

    return run


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
    # last fade-out, into the clip's black end, is a boundary of its own.
    assert [s["transition_in"]["type"] for s in shots[1:]] == ["fade", "fade", "fade_out"]
    for s in shots[1:3]:
        assert s["transition_in"]["start"] < s["start"] < s["transition_in"]["end"]


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

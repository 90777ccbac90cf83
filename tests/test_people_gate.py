"""The person gate: pose and segmentation keep a person only with a face or a person detection.

testvideo.mp4 shows a leaf, a deer and a metal texture: nobody.  Without the gate the selfie
segmentation model marks 78-94 % of its frames as person for about 19 s and the pose model fits
a skeleton to the deer.  Megamind.avi (two animated characters in every shot) is checked in
test_people.py, where every kept record must name its evidence.
"""

from __future__ import annotations

import av
import numpy as np
import pytest

from conftest import missing
from vidscope.analyzers.people import runtime
from vidscope.analyzers.people.common import Observation
from vidscope.analyzers.people.gate import NOBODY, PERSON_SCORE, PersonGate, Verdict, best, covers
from vidscope.analyzers.people.segmentation import SegmentationAnalyzer, SegmentationParams
from vidscope.analyzers.settings import load_settings
from vidscope.engine.local import Engine
from vidscope.report.data import build

PEOPLE = ["faces", "pose", "segmentation"]


def _frame(path, time: float, width: int = 640) -> np.ndarray:
    """The RGB frame shown at ``time`` seconds, ``width`` pixels wide."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= time:
                height = round(frame.height * width / frame.width / 2) * 2
                return frame.to_ndarray(format="rgb24", width=width, height=height)
    raise AssertionError(f"no frame at {time} s in {path}")


@pytest.fixture(scope="module")
def testvideo(media, tmp_path_factory):
    try:
        runtime.find_python("faces")
    except runtime.EnvironmentUnavailable as exc:
        missing(f"people environment unavailable: {exc}")
    with Engine(load_settings(overrides={"analyzers": PEOPLE}).settings) as engine:
        out = tmp_path_factory.mktemp("testvideo")
        return engine.analyze(media("pyscenedetect/testvideo.mp4"), out)


@pytest.mark.slow
def test_nobody_in_testvideo(testvideo):
    assert testvideo.status == "complete"
    assert testvideo.track("faces") == []
    assert testvideo.track("pose") == []
    summaries = testvideo.track("shot_pose")
    assert summaries and all(s["people"] == 0 for s in summaries)
    assert all(s["frames_with_people"] == 0 and s["movement"] is None for s in summaries)
    # The pose model did fit skeletons (to the deer); the gate dropped them.
    assert sum(s["unconfirmed"] for s in summaries) >= 2
    seg = testvideo.track("segmentation")
    for r in seg:
        assert r["person_share"] == 0 and r["box"] is None
        assert r["basis"] is None and r["confidence"] is None
    # The model claimed a person in most frames: the gate, not the model, says nobody.
    claimed = [r for r in seg if r["model_share"] > 0.5]
    assert len(claimed) * 0.5 >= 10


def test_report_people_lanes_show_nobody(testvideo, tmp_path):
    lanes = {lane["id"]: lane for lane in build(testvideo, tmp_path, video=False)["lanes"]}
    for lane_id in ("people", "segmentation"):
        values = [v for s in lanes[lane_id]["series"] for v in s["values"]]
        assert values and all(v in (None, 0) for v in values), lane_id


# --------------------------------------------------------------------------- the gate itself


def test_covers_needs_half_of_the_smaller_box():
    face = [0.4, 0.1, 0.5, 0.25]
    assert covers(face, [0.3, 0.0, 0.8, 1.0])  # a face inside the person
    assert covers([0.0, 0.0, 1.0, 1.0], face)  # either order
    assert not covers(face, [0.6, 0.0, 1.0, 1.0])  # beside it
    assert not covers(face, [0.45, 0.2, 1.0, 1.0])  # a corner only
    assert best([(0.9, [0.6, 0, 1, 1]), (0.7, face), (0.8, face)], [0, 0, 0.55, 1]) == 0.8
    assert best([], [0, 0, 1, 1]) is None


@pytest.fixture(scope="module")
def gate():
    return PersonGate.load()


def test_person_detection_is_evidence_without_a_face(gate, media):
    # Megamind's man at the right of shot 1: no faces given, NanoDet's person admits him.
    image = _frame(media("debian/Megamind.avi"), 5.0)
    verdict = gate.judge(image, None, [])
    assert verdict.basis == "person" and verdict.confidence >= PERSON_SCORE
    assert gate.judge(image, [0.5, 0.0, 1.0, 1.0], []).basis == "person"
    # ... but not for a claim on the other side of the frame.
    assert gate.judge(image, [0.0, 0.0, 0.12, 0.3], []) == NOBODY
    # A face where the claim is wins over the person detector.
    face = {"score": 0.9, "box": [0.6, 0.2, 0.75, 0.45]}
    assert gate.judge(image, [0.5, 0.0, 1.0, 1.0], [face]).basis == "face"


def test_no_evidence_on_a_deer(gate, media):
    # The deer at 7.2 s scores highest as a person in testvideo (0.39 at 640 pixels).
    image = _frame(media("pyscenedetect/testvideo.mp4"), 7.2)
    assert gate.judge(image, None, []) == NOBODY


def test_segmentation_drops_an_unconfirmed_claim_and_its_mask(tmp_path):
    analyzer = SegmentationAnalyzer(SegmentationParams(mask_dir=str(tmp_path)))
    masks = [tmp_path / f"{k}.png" for k in range(3)]
    for mask in masks:
        mask.write_bytes(b"png")
    box = [0.1, 0.0, 0.9, 1.0]
    seen = [
        Observation(0.0, 0.5, 64, 48, {"person_share": 0.8, "box": box, "mask": str(masks[0])},
                    NOBODY),
        Observation(0.5, 1.0, 64, 48, {"person_share": 0.4, "box": box, "mask": str(masks[1])},
                    Verdict("face", 0.91)),
        Observation(1.0, 1.5, 64, 48, {"person_share": 0.0, "box": None, "mask": str(masks[2])},
                    NOBODY),
    ]  # fmt: skip
    dropped, kept, empty = analyzer.records(None, seen)
    assert dropped["person_share"] == 0 and dropped["box"] is None and "mask" not in dropped
    assert dropped["basis"] is None and dropped["model_share"] == 0.8
    assert not masks[0].exists()
    assert kept["person_share"] == 0.4 and kept["box"] == box and kept["mask"] == "1.png"
    assert kept["basis"] == "face" and kept["confidence"] == 0.91
    assert empty["mask"] == "2.png" and empty["basis"] is None and masks[2].exists()

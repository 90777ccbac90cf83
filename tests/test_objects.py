"""Objects: the bundled NanoDet-m on real images and Megamind.avi, YOLO export decoding on
small ONNX graphs built here, tracking within shots, and the model checks."""

from __future__ import annotations

import shutil
from fractions import Fraction

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from skimage import data as skimage_data

import vidscope
from synth import make_video
from vidscope.analyzers.base import Frame, TrackRecord
from vidscope.analyzers.vision.objects import ObjectsAnalyzer, ObjectsParams, count_phrase
from vidscope.analyzers.vision.tracking import ByteTrackConfig, track_shot
from vidscope.errors import ModelError, UsageError
from vidscope.models import detectors
from vidscope.models.detectors import COCO_CLASSES, Detections, load_detector


def bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[:, :, ::-1])


@pytest.fixture(scope="module")
def nanodet():
    return load_detector()


def labels(detector, found: Detections) -> list[str]:
    return [detector.names[c] for c in found.class_ids]


# --- the bundled detector on still images -------------------------------------------------


def test_astronaut_is_a_person(nanodet):
    image = bgr(skimage_data.astronaut())
    found = nanodet.detect(image)
    assert labels(nanodet, found)[0] == "person"
    assert found.scores[0] > 0.6
    x1, y1, x2, y2 = found.boxes[0]
    # She fills the left two thirds of the 512x512 picture, head to bottom edge.
    assert x1 < 60 and y1 < 60 and 320 < x2 < 420 and y2 > 470


def test_coffee_is_a_cup(nanodet):
    found = nanodet.detect(bgr(skimage_data.coffee()))
    assert "cup" in labels(nanodet, found)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((64, 64, 3), np.uint8),
        np.zeros((528, 720, 3), np.uint8),
        np.full((2160, 3840, 3), 255, np.uint8),
        np.zeros((1, 7, 3), np.uint8),
    ],
    ids=["tiny-black", "black", "white-4k", "one-row"],
)
def test_degenerate_frames_do_not_crash(nanodet, image):
    found = nanodet.detect(image)
    assert found.boxes.shape == (len(found), 4)
    h, w = image.shape[:2]
    assert np.all(found.boxes >= 0) and np.all(found.boxes[:, 0::2] <= w)
    assert np.all(found.boxes[:, 1::2] <= h)


def test_boxes_follow_a_stretched_frame(nanodet):
    # The same picture at twice the width: boxes scale with it.
    image = bgr(skimage_data.astronaut())
    wide = np.repeat(image, 2, axis=1)
    a, b = nanodet.detect(image), nanodet.detect(wide)
    assert labels(nanodet, b)[0] == "person"
    np.testing.assert_allclose(b.boxes[0][0::2] / 2, a.boxes[0][0::2], atol=12)
    np.testing.assert_allclose(b.boxes[0][1::2], a.boxes[0][1::2], atol=12)


# --- model checks ---------------------------------------------------------------------------


def test_bundled_model_hash_is_verified(tmp_path, monkeypatch):
    assert detectors.sha256_file(detectors.NANODET_FILE) == detectors.NANODET_SHA256
    corrupt = tmp_path / detectors.NANODET_FILE.name
    shutil.copyfile(detectors.NANODET_FILE, corrupt)
    with corrupt.open("r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.setattr(detectors, "NANODET_FILE", corrupt)
    with pytest.raises(ModelError, match="corrupt"):
        load_detector()
    corrupt.unlink()
    with pytest.raises(ModelError, match="missing"):
        load_detector()


def test_user_model_errors_name_the_path(tmp_path):
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ModelError, match=r"nope\.onnx"):
        load_detector(missing)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model at all")
    with pytest.raises(ModelError, match=r"garbage\.onnx"):
        load_detector(garbage)
    classifier = tmp_path / "classifier.onnx"
    save_model(classifier, np.zeros((1, 1000), np.float32), (224, 224))
    with pytest.raises(ModelError, match=r"classifier\.onnx.*not a YOLO-layout detector"):
        load_detector(classifier)


# --- YOLO exports ---------------------------------------------------------------------------


def save_model(path, output: np.ndarray, size: tuple[int, int], names: str | None = None):
    """An ONNX model whose output is ``output`` whatever the image (``[1, 3, H, W]``)."""
    h, w = size
    # output + 0 * mean(image): the image is read, the answer is fixed.
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["fixed", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "fixed",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))],
        [
            numpy_helper.from_array(output.astype(np.float32), "fixed"),
            numpy_helper.from_array(np.zeros((), np.float32), "zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if names is not None:
        helper.set_model_props(model, {"names": names})
    onnx.save(model, str(path))
    return path


# A 640x360 frame letterboxed into a 256 (high) x 320 (wide) input: scale 0.5, so the frame
# becomes 320x180 with 38 rows of grey above (Ultralytics rounds (256 - 180) / 2 - 0.1).
FRAME_W, FRAME_H, INPUT = 640, 360, (256, 320)
TRUE_BOX = (100.0, 50.0, 300.0, 250.0)
# (cx, cy, w, h) in the model's input of TRUE_BOX, a near duplicate, and a box elsewhere.
IN_BOX = (100.0, 113.0, 100.0, 100.0)
DUPLICATE = (103.0, 115.0, 100.0, 96.0)
OTHER = (250.0, 200.0, 40.0, 60.0)


def candidates(nc: int, objectness: bool) -> np.ndarray:
    """Rows ``cx, cy, w, h, [obj], scores...``: the true box twice, another class over it,
    a box below the threshold, and empty rows."""
    rows = np.zeros((12, 4 + objectness + nc), np.float32)
    first = 4 + objectness
    if objectness:
        rows[:, 4] = 1.0
    rows[0, :4], rows[0, first + 1] = IN_BOX, 0.9
    rows[1, :4], rows[1, first + 1] = DUPLICATE, 0.8
    rows[2, :4], rows[2, first + 0] = IN_BOX, 0.6  # another class on the same spot
    rows[3, :4], rows[3, first + 0] = OTHER, 0.1  # too weak
    return rows


def test_yolo_v8_letterbox_undo_and_nms(tmp_path):
    output = candidates(80, objectness=False).T[None]  # [1, 84, N]
    detector = load_detector(save_model(tmp_path / "v8.onnx", output, INPUT), score=0.25)
    assert detector.names == COCO_CLASSES
    frame = np.zeros((FRAME_H, FRAME_W, 3), np.uint8)
    canvas, (sx, sy, left, top) = detector.letterbox(frame)
    assert canvas.shape == (*INPUT, 3)
    assert (sx, sy, left, top) == (0.5, 0.5, 0, 38)
    assert (
        np.all(canvas[:38] == 114) and np.all(canvas[38:218] == 0) and np.all(canvas[218:] == 114)
    )

    found = detector.detect(frame)
    assert labels(detector, found) == ["bicycle", "person"]  # duplicate merged, weak dropped
    np.testing.assert_allclose(found.boxes[0], TRUE_BOX, atol=1e-3)
    np.testing.assert_allclose(found.boxes[1], TRUE_BOX, atol=1e-3)
    np.testing.assert_allclose(found.scores, [0.9, 0.6], atol=1e-6)


def test_yolo_v5_layout_with_metadata_names(tmp_path):
    rows = candidates(2, objectness=True)
    rows[0, 4] = 0.5  # objectness scales the class score: 0.9 * 0.5
    path = save_model(tmp_path / "v5.onnx", rows[None], INPUT, names="{0: 'widget', 1: 'gadget'}")
    detector = load_detector(path, score=0.25)
    assert detector.names == ("widget", "gadget")
    found = detector.detect(np.zeros((FRAME_H, FRAME_W, 3), np.uint8))
    # The duplicate (0.8) now beats the original (0.45) and suppresses it.
    assert labels(detector, found) == ["gadget", "widget"]
    np.testing.assert_allclose(found.scores, [0.8, 0.6], atol=1e-6)
    np.testing.assert_allclose(found.boxes[1], TRUE_BOX, atol=1e-3)
    assert abs(found.boxes[0][0] - 106) < 1e-3  # the duplicate's own box, mapped back


# --- tracking ------------------------------------------------------------------------------


def dets(*rows: tuple[float, float, float, float, float, int]) -> Detections:
    a = np.array(rows, np.float64).reshape(-1, 6)
    return Detections(a[:, :4].astype(np.float32), a[:, 4].astype(np.float32), a[:, 5].astype(int))


def test_tracks_survive_gaps_and_weak_frames():
    walker = [(10 + 20 * i, 50, 110 + 20 * i, 250, 0.8, 0) for i in range(8)]
    frames = [
        dets(walker[0], (400, 300, 450, 350, 0.6, 41)),
        dets(walker[1], (400, 300, 450, 350, 0.6, 41)),
        dets((*walker[2][:4], 0.25, 0)),  # a weak detection extends a followed track
        dets(),  # nothing detected: lost, then found again
        dets(walker[4], (402, 302, 452, 352, 0.7, 41)),
        dets(walker[5]),
        dets(walker[6], (405, 300, 455, 350, 0.5, 0)),  # a person where the cup was
        dets(walker[7]),
    ]
    tracks = track_shot(frames, ByteTrackConfig(fps=2, lost_seconds=2))
    assert [(t.class_id, t.frames) for t in tracks] == [
        (0, [0, 1, 2, 4, 5, 6, 7]),
        (41, [0, 1, 4]),
    ]
    assert tracks[0].scores[2] == pytest.approx(0.25)
    np.testing.assert_array_equal(tracks[0].boxes[4], walker[5][:4])  # detected, not predicted
    # A weak detection alone never starts a track; a one-frame blip is never confirmed.
    assert track_shot([dets((0, 0, 10, 10, 0.25, 0))] * 3, ByteTrackConfig()) == []
    blip = track_shot([dets(), dets((0, 0, 10, 10, 0.9, 0)), dets()], ByteTrackConfig())
    assert blip == []
    # ... except in a shot's first frame, where there is no earlier frame to have missed it.
    (single,) = track_shot([dets((0, 0, 10, 10, 0.9, 0))], ByteTrackConfig())
    assert single.frames == [0]


def test_detections_below_low_score_are_ignored():
    box = (100, 100, 200, 200)
    frames = [
        dets((*box, 0.9, 0)),
        dets((*box, 0.9, 0)),
        dets((*box, 0.1, 0)),
        dets((*box, 0.9, 0)),
    ]
    (track,) = track_shot(frames, ByteTrackConfig(low_score=0.2))
    assert track.frames == [0, 1, 3]


@pytest.mark.parametrize(("fps", "lost_seconds"), [(2, 1.0), (5, 0.4), (1, 3.0)])
def test_lost_seconds_count_in_sampled_frames(fps, lost_seconds):
    box = (100, 100, 200, 200, 0.9, 0)
    budget = round(fps * lost_seconds)  # sampled frames a lost track is kept
    config = ByteTrackConfig(fps=fps, lost_seconds=lost_seconds)
    for gap in (budget, budget + 1):
        frames = [dets(box)] * 2 + [dets()] * gap + [dets(box)] * 2
        tracks = track_shot(frames, config)
        assert len(tracks) == (1 if gap == budget else 2), gap


def test_classes_never_share_a_track():
    box = (100, 100, 200, 200)
    # The same box as a person and a cup, then only as a cup: neither track takes the other's.
    frames = [dets((*box, 0.9, 0), (*box, 0.8, 41))] * 3 + [dets((*box, 0.8, 41))] * 2
    tracks = track_shot(frames, ByteTrackConfig())
    assert [(t.class_id, t.frames) for t in tracks] == [(0, [0, 1, 2]), (41, [0, 1, 2, 3, 4])]


def test_count_phrases():
    assert count_phrase("person", 1) == "a person"
    assert count_phrase("person", 3) == "3 people"
    assert count_phrase("wine glass", 2) == "2 wine glasses"
    assert count_phrase("apple", 1) == "an apple"
    assert count_phrase("bus", 2) == "2 buses"
    assert count_phrase("knife", 4) == "4 knives"
    assert count_phrase("skis", 1) == "a pair of skis"
    assert count_phrase("cup", 2) == "2 cups"


@pytest.mark.parametrize("shots_first", [True, False], ids=["reused-shots", "live-shots"])
def test_tracks_are_cut_at_shots_whenever_shot_records_arrive(shots_first):
    analyzer = ObjectsAnalyzer(ObjectsParams(fps=2))
    analyzer.setup()
    person, cup = bgr(skimage_data.astronaut()), bgr(skimage_data.coffee())
    shots = [
        TrackRecord("shots", {"start": 0.0, "end": 1.5, "index": 0}),
        TrackRecord("shots", {"start": 1.5, "end": 3.0, "index": 1}),
    ]
    frames = [Frame(i, i, 1, Fraction(1, 2), person if i < 3 else cup) for i in range(6)]
    state = analyzer.start(None)  # type: ignore[arg-type]
    items = shots + frames if shots_first else frames[:3] + shots[:1] + frames[3:] + shots[1:]
    out = list(analyzer.process_batch(state, items)) + list(analyzer.finish(state))
    objects = [r for r in out if r["_track"] == "objects"]
    per_shot = [r for r in out if r["_track"] == "shot_objects"]
    assert [(r["shot"], r["label"], r["frames"], r["start"], r["end"]) for r in objects] == [
        (0, "person", 3, 0.0, 1.5),
        (1, "cup", 3, 1.5, 3.0),
    ]
    assert [r["id"] for r in objects] == [1, 2]
    assert [(r["shot"], r["counts"], r["summary"]) for r in per_shot] == [
        (0, {"person": 1}, "a person"),
        (1, {"cup": 1}, "a cup"),
    ]
    t, *box = objects[0]["boxes"][0]
    assert t == 0.0 and 0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1


def test_classes_filter():
    analyzer = ObjectsAnalyzer(ObjectsParams(classes=["cup"]))
    analyzer.setup()
    assert len(analyzer.detect(bgr(skimage_data.astronaut()))) == 0
    cups = analyzer.detect(bgr(skimage_data.coffee()))
    assert {COCO_CLASSES[c] for c in cups.class_ids} == {"cup"}
    with pytest.raises(UsageError, match="'persn'"):
        ObjectsAnalyzer(ObjectsParams(classes=["persn"])).setup()


# --- through the engine -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def megamind(media, tmp_path_factory):
    return vidscope.analyze(
        media("debian/Megamind.avi"), ["objects"], tmp_path_factory.mktemp("megamind")
    )


def test_megamind_has_a_stable_person_in_every_shot(megamind):
    shots = megamind.track("shots")
    objects = megamind.track("objects")
    assert len(shots) == 4
    for shot in shots:
        people = [o for o in objects if o["shot"] == shot["index"] and o["label"] == "person"]
        assert people, f"no person in shot {shot['index']}"
        # One id follows the main character through (nearly) the whole shot.
        sampled = round((shot["end"] - shot["start"]) * 2)
        assert max(p["frames"] for p in people) >= 0.7 * sampled
        for p in people:
            assert shot["start"] <= p["start"] < p["end"] <= shot["end"]
            assert p["frames"] == len(p["boxes"])
            assert all(shot["start"] <= b[0] < shot["end"] for b in p["boxes"])
    ids = [o["id"] for o in objects]
    assert len(ids) == len(set(ids))  # so no id spans two shots
    per_shot = megamind.track("shot_objects")
    assert [s["shot"] for s in per_shot] == [s["index"] for s in shots]
    assert all(s["counts"].get("person", 0) >= 1 for s in per_shot)
    assert all(("people" in s["summary"]) or ("a person" in s["summary"]) for s in per_shot)
    model = megamind.manifest["tracks"]["objects"]["model"]
    assert model["sha256"] == detectors.NANODET_SHA256


@pytest.mark.parametrize(
    ("size", "rotate"), [((320, 240), 0), ((64, 64), 0), ((160, 96), 90)], ids=str
)
def test_clips_without_people(tmp_path, size, rotate):
    path = tmp_path / "blocks.mp4"
    make_video(path, [1.0, 1.0], fps=10, size=size, rotate=rotate)
    result = vidscope.analyze(path, ["objects"], tmp_path / "out")
    assert not [o for o in result.track("objects") if o["label"] == "person"]
    assert len(result.track("shot_objects")) == len(result.track("shots"))
    for o in result.track("objects"):
        assert all(0 <= v <= 1 for b in o["boxes"] for v in b[1:])

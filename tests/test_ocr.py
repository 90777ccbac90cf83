"""ocr: on-screen text spans on the burned-in line of testvideo.mp4, synthetic captions with
known times, frames without text, odd frame shapes, and the span bookkeeping on its own.

The engine and a bare analyzer are built once per module (one model load each).  Text is
compared after casefolding and dropping everything but letters and digits.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import need
from synth import encode_frames, h264_stream

need("rapidocr", reason="the vision extra is not installed")
need("cv2", reason="the shots extra is not installed")

import cv2

from vidscope.analyzers.base import Frame, Item, ModelInfo, Record, TrackRecord
from vidscope.analyzers.settings import load_settings
from vidscope.analyzers.vision import ocr_models
from vidscope.analyzers.vision.ocr import MAX_PENDING, OcrAnalyzer, OcrParams
from vidscope.analyzers.vision.ocr_models import MODEL_ID
from vidscope.analyzers.vision.still import block_luma, is_still
from vidscope.analyzers.vision.text_spans import Line, normalise, pair_up
from vidscope.engine.local import Engine
from vidscope.errors import ModelError
from vidscope.media.probe import MediaInfo

FPS = 25
SIZE = (640, 360)
BLUE, RED = (120, 40, 20), (30, 30, 140)  # BGR backgrounds of the two synthetic shots


def words(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.casefold())


def caption_video(path: Path, seconds: float, scenes, captions) -> Path:
    """Plain-colour scenes ``[(start, bgr)]`` with ``[(text, start, end, (x, y))]`` drawn on."""
    w, h = SIZE

    def image(t: float) -> np.ndarray:
        img = np.empty((h, w, 3), np.uint8)
        img[:] = [c for start, c in scenes if start <= t][-1]
        for text, start, end, origin in captions:
            if start <= t < end:
                cv2.putText(img, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 1.6, (255, 255, 255), 4)
        return img

    with av.open(str(path), "w") as out:
        stream = h264_stream(out, FPS, SIZE, crf=18)
        encode_frames(
            out, stream, (image(n / FPS) for n in range(round(seconds * FPS))), FPS, "bgr24"
        )
    return path


@pytest.fixture(scope="module")
def engine():
    with Engine(load_settings(overrides={"analyzers": ["ocr"]}).settings) as e:
        yield e


@pytest.fixture(scope="module")
def testvideo(engine, media, tmp_path_factory):
    return engine.analyze(
        media("pyscenedetect/testvideo.mp4"), tmp_path_factory.mktemp("ocr") / "testvideo"
    )


@pytest.fixture(scope="module")
def analyzer():
    ocr = OcrAnalyzer()
    ocr.setup()
    yield ocr
    ocr.teardown()


def test_testvideo_line_is_one_span_per_shot(testvideo):
    assert testvideo.manifest["tracks"]["ocr"]["status"] == "complete"
    shots = {s["index"]: s for s in testvideo.track("shots")}
    spans = testvideo.track("ocr")
    copyright_spans = [s for s in spans if "copyright2013brandoncastellano" in words(s["text"])]
    site_spans = [s for s in spans if words(s["text"]) == "wwwbcastellcom"]
    for found in (copyright_spans, site_spans):
        in_shot = [s["shot"] for s in found]
        assert len(in_shot) == len(set(in_shot)), "more than one span of a line in a shot"
        first, *later = sorted(found, key=lambda s: s["start"])
        # The picture fades in from black over the first second, the line with it: it reads
        # from 0.1-0.2 s on, before the cut that ends the fade.
        assert 0.0 < first["start"] <= 0.2 and first["end"] == shots[first["shot"]]["end"]
        for s in later:
            shot = shots[s["shot"]]
            assert shot["start"] <= s["start"] < s["end"] <= shot["end"]
        assert all(s["score"] > 0.9 for s in found)
        # The line is on screen from then to the end: every later shot has it.
        assert {s["shot"] for s in found} == {i for i, s in shots.items() if s["start"] >= 1.0}
        assert sum(s["end"] - s["start"] for s in found) == pytest.approx(23.9, abs=0.15)
    x0, y0, x1, y1 = copyright_spans[0]["box"]
    assert 0.0 < x0 < x1 < 0.7 and 0.75 < y0 < y1 < 0.95  # lower left of the picture
    # Two items 2.5 line heights apart on one row stay two blocks, each one line.
    for s in spans:
        assert [part["text"] for part in s["lines"]] == [s["text"]]
    assert len(spans) == len(copyright_spans) + len(site_spans)


def test_testvideo_still_frames_are_not_read_again(testvideo):
    counters = testvideo.run_report["stages"]["ocr"]["counters"]
    assert counters["frames_read"] + counters["frames_reused"] == 24
    assert counters["frames_reused"] > 0
    assert testvideo.manifest["tracks"]["ocr"]["timings"]["rtf"] < 1.0


def test_synthetic_captions_start_and_end_on_time(engine, tmp_path):
    clip = caption_video(
        tmp_path / "captions.mp4",
        10.0,
        scenes=[(0.0, BLUE), (3.6, RED)],
        captions=[("HELLO WORLD", 2.3, 5.3, (60, 120)), ("SECOND CAPTION", 6.5, 8.2, (40, 300))],
    )
    result = engine.analyze(clip, tmp_path / "out")
    cut = [s["start"] for s in result.track("shots")][1]
    assert cut == pytest.approx(3.6, abs=1 / FPS)
    spans = sorted(result.track("ocr"), key=lambda s: s["start"])
    assert [words(s["text"]) for s in spans] == ["helloworld", "helloworld", "secondcaption"]
    hello_a, hello_b, second = spans
    # Shown from 2.3 s, first sampled at 3.0 s: the frames between place its start; the cut
    # at 3.6 s splits it, and the second part starts at the cut because the line was on
    # screen on both sides of it.  Edges land on the first frame of a 0.1 s tick after them.
    assert hello_a["start"] == pytest.approx(2.32, abs=0.1) and hello_a["end"] == pytest.approx(cut)
    assert hello_b["start"] == pytest.approx(cut) and hello_b["end"] == pytest.approx(5.32, abs=0.1)
    assert second["start"] == pytest.approx(6.52, abs=0.1)
    assert second["end"] == pytest.approx(8.2, abs=0.1)
    assert hello_a["shot"] == 0 and hello_b["shot"] == second["shot"] == 1
    x0, _, _, y1 = hello_b["box"]
    assert x0 == pytest.approx(60 / 640, abs=0.03) and y1 == pytest.approx(120 / 360, abs=0.05)
    assert second["box"][1] > 0.7


def test_clip_without_text_has_no_records(engine, tmp_path):
    clip = caption_video(
        tmp_path / "plain.mp4", 3.0, scenes=[(0.0, (0, 0, 0)), (1.5, (90, 160, 90))], captions=[]
    )
    result = engine.analyze(clip, tmp_path / "out")
    assert result.manifest["tracks"]["ocr"]["status"] == "complete"
    assert result.track("ocr") == []


def _media(duration: float) -> MediaInfo:
    return MediaInfo("stub.mp4", "mp4", 0, 0.0, duration, None, None, "stub")


def _run(ocr: OcrAnalyzer, items: Sequence[Item], duration: float) -> list[Record]:
    state = ocr.start(_media(duration), frozenset({"shots"}))
    out = []
    for item in items:
        out += ocr.process_batch(state, [item])
    return out + list(ocr.finish(state))


def _text_frame(w: int, h: int, text: str = "OPEN DAY", scale: float = 1.0) -> np.ndarray:
    image = np.full((h, w, 3), 30, np.uint8)
    thickness = max(1, round(2 * scale))
    cv2.putText(
        image, text, (w // 10, h // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255,) * 3, thickness
    )
    return image


def test_odd_frames_never_crash(analyzer):
    letterbox = np.zeros((540, 960, 3), np.uint8)
    letterbox[120:420] = _text_frame(960, 300, scale=2.0)
    frames = {
        "tiny": np.full((64, 64, 3), 200, np.uint8),
        "black": np.zeros((360, 640, 3), np.uint8),
        "4k": _text_frame(3840, 2160, scale=8.0),
        "rotated": np.ascontiguousarray(np.rot90(_text_frame(640, 360, scale=2.0))),
        "letterbox": letterbox,
        "sliver": np.full((2, 960, 3), 255, np.uint8),
    }
    found = {}
    for name, image in frames.items():
        planes = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)
        planes.flags.writeable = False  # as the decoder hands frames over
        found[name] = _run(analyzer, [Frame(0, 0, 1, Fraction(1, 25), planes)], 1.0)
    assert found["tiny"] == found["black"] == found["sliver"] == []
    for name in ("4k", "letterbox"):
        assert [words(r["text"]) for r in found[name]] == ["openday"], name
    y0, y1 = found["letterbox"][0]["box"][1::2]
    assert 120 / 540 < y0 < y1 < 420 / 540
    for record in found["rotated"]:
        assert all(0.0 <= v <= 1.0 for v in record["box"])


def test_a_changed_digit_is_not_a_still_frame():
    def caption(text: str) -> np.ndarray:
        image = np.full((540, 960, 3), 40, np.uint8)
        cv2.putText(
            image, text, (101, 403), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255,) * 3, 1, cv2.LINE_AA
        )
        return block_luma(image)

    level = OcrParams().still_level
    noise = np.random.default_rng(0).integers(-2, 3, (540, 960, 3))
    noisy = block_luma(np.clip(40 + noise, 0, 255).astype(np.uint8))
    assert is_still(noisy, caption(""), level)
    assert not is_still(caption("Score 1-0"), caption("Score 7-0"), level)
    assert not is_still(caption("Score 1-0"), None, level)


def test_missing_models_are_a_model_error(monkeypatch, tmp_path):
    monkeypatch.setattr(ocr_models, "package_dir", lambda name: tmp_path)
    with pytest.raises(ModelError, match="bundled models are missing"):
        OcrAnalyzer().setup()
    assert OcrAnalyzer().model_info() == ModelInfo(id=MODEL_ID)


class ScriptedOcr(OcrAnalyzer):
    """The analyzer with its model replaced by a script of lines per frame time (the frames'
    pixels hold their time, and pass unconverted), every span kept however brief."""

    def __init__(self, script: dict[float, list[Line]]) -> None:
        super().__init__(OcrParams(still_level=0, persist=1))
        self.script = script

    def picture(self, state: object, planes: np.ndarray) -> np.ndarray:
        return planes

    def read(self, image: np.ndarray) -> list[Line]:
        return self.script.get(float(image[0, 0, 0]), [])


def line(text: str, box=(0.1, 0.8, 0.5, 0.9), score: float = 0.95) -> Line:
    return Line(text, normalise(text), box, score)


def frames(times: Sequence[float]) -> list[Frame]:
    """One-second frames at ``times`` on a microsecond clock."""
    us = Fraction(1, 1_000_000)
    return [
        Frame(i, round(t * 1_000_000), 1_000_000, us, np.full((8, 8, 3), t, np.float64))
        for i, t in enumerate(times)
    ]


def shot(index: int, start: float, end: float) -> TrackRecord:
    return TrackRecord("shots", {"index": index, "start": start, "end": end})


def test_spans_do_not_depend_on_when_shots_arrive():
    script = {float(t): [line("Breaking news")] for t in range(6)}
    script[4.0] = [line("Breaking newz")]  # a misread character does not break the span
    first, second = shot(0, 0.0, 2.5), shot(1, 2.5, 6.0)
    video = frames(range(6))
    live = _run(ScriptedOcr(script), [*video[:3], first, *video[3:], second], 6.0)
    replayed = _run(ScriptedOcr(script), [first, second, *video], 6.0)
    expected = [
        {"start": 0.0, "end": 2.5, "text": "Breaking news", "frames": 3, "shot": 0},
        {"start": 2.5, "end": 6.0, "text": "Breaking news", "frames": 3, "shot": 1},
    ]
    for records in (live, replayed):
        assert [{k: r[k] for k in expected[0]} for r in records] == expected


def test_spans_are_emitted_one_sample_after_they_close():
    # One sample later: the frames up to the next sample say when a line vanished.
    script = {0.0: [line("Title")], 1.0: [line("Title")], 3.0: [line("Title")]}
    ocr = ScriptedOcr(script)
    state = ocr.start(_media(6.0), frozenset({"shots"}))
    assert list(ocr.process_batch(state, [shot(0, 0.0, 6.0), *frames([0, 1, 2])])) == []
    (closed,) = ocr.process_batch(state, frames([3]))
    assert (closed["start"], closed["end"], closed["frames"]) == (0.0, 2.0, 2)
    assert list(ocr.process_batch(state, frames([4]))) == []
    (again,) = ocr.process_batch(state, frames([5]))
    assert (again["start"], again["end"]) == (3.0, 4.0)
    assert list(ocr.finish(state)) == []


def test_lines_pair_by_text_and_place():
    top, bottom = (0.1, 0.1, 0.5, 0.2), (0.1, 0.8, 0.5, 0.9)
    previous = [line("Score 1-0", top), line("Live", bottom)]
    now = [line("Live", top), line("Score 1-0", (0.11, 0.1, 0.52, 0.21)), line("Live", bottom)]
    assert sorted(pair_up(previous, now, 0.8, 0.3)) == [(0, 1), (1, 2)]
    assert pair_up([line("Score 1-0")], [line("Half time")], 0.8, 0.3) == []
    assert pair_up([line("Score 1-0")], [line("Score 2-0")], 0.8, 0.3) == []
    assert pair_up([line("Score 1-0")], [line("Scorc 1-0")], 0.8, 0.3) == [(0, 0)]


def test_frames_wait_for_their_shot_only_so_long():
    n = MAX_PENDING + 2
    ocr = ScriptedOcr({float(t): [line("Logo")] for t in range(n)})
    state = ocr.start(_media(float(n)), frozenset({"shots"}))
    for item in frames(range(n)):
        assert list(ocr.process_batch(state, [item])) == []
    assert len(state.pending) == MAX_PENDING
    records = list(ocr.process_batch(state, [shot(0, 0.0, float(n))])) + list(ocr.finish(state))
    assert records[0]["start"] == 0.0 and records[-1]["end"] == n
    for a, b in itertools.pairwise(records):
        assert a["start"] < a["end"] == b["start"] < b["end"]

"""Vision-language captions with the in-process transformers backend: a tiny Qwen2-VL built
from a config in the test (random weights, or weights set to give one known answer), saved
with ``save_pretrained`` and loaded back by path through the real loading and generate path.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict, Field

import vidscope
from conftest import need
from tiny_vlm import build_text_only, build_tiny_vlm
from vidscope.analyzers import registry
from vidscope.analyzers.base import TrackRecord
from vidscope.analyzers.vlm.captions import on_screen, spoken
from vidscope.analyzers.vlm.common import SideTracks
from vidscope.analyzers.vlm.shot_captions import fuse, measured, pick_frames
from vidscope.analyzers.vlm.summary import thin
from vidscope.errors import AnalysisFailed, ModelError
from vidscope.models.vlm import factory
from vidscope.models.vlm.base import (
    NOT_CONFIGURED,
    BackendConfig,
    VlmBackend,
    VlmRequest,
    VlmResult,
)
from vidscope.models.vlm.dedup import difference, fingerprint
from vidscope.models.vlm.prompts import ATTRIBUTES, ShotAnswer, SummaryAnswer
from vidscope.models.vlm.structured import ask, parse
from vidscope.timeline.result import Result

torch = need("torch")
need("transformers")

MEGAMIND = "debian/Megamind.avi"
SHOT_ANSWER = {
    "caption": "Two characters talk across a dinner table by candlelight.",
    "suspense": 0.3,
    "darkness": 0.6,
    "ambiguity": 0.2,
    "emotional_tension": 0.5,
    "intensity": 0.4,
    "motion": 0.1,
}
# Small images and answers keep the tiny model fast; the path is the same at any size.
FAST = {"vlm.max_pixels": 200 * 200, "vlm.max_new_tokens": 12}

Unit = Annotated[float, Field(ge=0, le=1)]


class ShotRecord(BaseModel):
    """What a ``shot_captions`` record must look like."""

    model_config = ConfigDict(extra="forbid", strict=True)

    start: float
    end: float
    shot: int
    frames: Annotated[list[float], Field(min_length=1, max_length=5)]
    caption: str | None
    attributes: dict[str, Unit] | None
    measured: dict[str, Unit | None]
    fused: dict[str, Unit] | None
    repaired: bool
    error: str | None = None
    answer: str | None = None


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_vlm(tmp_path_factory.mktemp("tiny-qwen2-vl"))


@pytest.fixture(scope="module")
def answering(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_vlm(tmp_path_factory.mktemp("answering"), answer=json.dumps(SHOT_ANSWER))


def run(source: Path, analyzers: list[str], out: Path, **settings: Any) -> Result:
    return vidscope.analyze(source, analyzers, out, settings={**FAST, **settings})


def test_captions_cover_every_second_and_batching_changes_nothing(media, tiny, tmp_path):
    clip = media(MEGAMIND)
    batched = run(clip, ["captions"], tmp_path / "b", **{"vlm.model": str(tiny)})
    single = run(
        clip, ["captions"], tmp_path / "s", **{"vlm.model": str(tiny), "vlm.batch_size": 1}
    )
    records = batched.track("captions")
    assert [r["start"] for r in records] == [float(k) for k in range(12)]
    assert all(a["end"] == b["start"] for a, b in itertools.pairwise(records))
    assert records[-1]["end"] == pytest.approx(11.261, abs=1e-3)
    for r in records:
        assert (r["text"] is None) != (r.get("error") is None)
        assert all(r["start"] <= t < r["end"] for t in r["frames"])
    assert [r["text"] for r in records] == [r["text"] for r in single.track("captions")]
    stage = batched.run_report["stages"]["captions"]
    assert stage["counters"]["model_calls"] + stage["counters"]["calls_saved_by_reuse"] == 12
    assert batched.run_report["coverage"]["captions"] == pytest.approx(1.0)


def test_batched_generation_with_left_padding_matches_one_by_one(tiny):
    config = BackendConfig(model=str(tiny), endpoint=None, max_pixels=200 * 200)
    backend = factory.acquire(config)
    try:
        rng = np.random.default_rng(1)
        requests = [
            VlmRequest.ask(
                "describe" + " the picture" * i,
                [rng.integers(0, 256, (80 + 40 * i, 120 + 50 * i, 3), np.uint8)] * (1 + i % 2),
            )
            for i in range(5)
        ] + [VlmRequest.ask("no picture at all")]
        together = backend.generate(requests, max_new_tokens=16, batch_size=8)
        alone = [backend.generate([r], max_new_tokens=16, batch_size=1)[0] for r in requests]
        assert together == alone
        assert all(r.text for r in together)
    finally:
        factory.release(config)


def test_requests_with_different_token_budgets_share_a_batch(tiny):
    """Greedy answers do not depend on the longest budget in the batch: each is cut at its
    own, and equals the answer the request gets alone."""
    config = BackendConfig(model=str(tiny), endpoint=None, max_pixels=200 * 200)
    backend = factory.acquire(config)
    try:
        rng = np.random.default_rng(2)
        image = rng.integers(0, 256, (96, 128, 3), np.uint8)
        requests = [VlmRequest.ask(f"caption {i}", [image]) for i in range(3)]
        budgets = [3, 16, 8]
        shared = backend._batches(list(zip(requests, budgets, strict=True)), key=8, max_items=8)
        alone = [
            backend.generate([r], max_new_tokens=n, batch_size=1)[0]
            for r, n in zip(requests, budgets, strict=True)
        ]
        assert shared == alone
        assert backend.stats()["largest_batch"] == 3
    finally:
        factory.release(config)


def test_static_seconds_reuse_the_last_caption(media, tiny, tmp_path):
    result = run(
        media("pyscenedetect/testvideo.mp4"),
        ["captions"],
        tmp_path / "b",
        **{"vlm.model": str(tiny)},
    )
    records = result.track("captions")
    assert len(records) == math.ceil(result.manifest["media"]["duration"] - 1e-9)
    by_start = {r["start"]: r for r in records}
    repeated = [r for r in records if "repeated_from" in r]
    assert repeated, "the static shots of this clip should not all be sent to the model"
    for r in repeated:
        origin = by_start[r["repeated_from"]]
        assert origin["start"] < r["start"] and "repeated_from" not in origin
        assert r["text"] == origin["text"]
    # The first second of each new shot (cuts at frames 30, 180, 394: 1.001 s, 6.006 s,
    # 13.146 s) is captioned anew.
    for start in (1.0, 6.0, 14.0):
        assert "repeated_from" not in by_start[start]
    counters = result.run_report["stages"]["captions"]["counters"]
    assert counters["calls_saved_by_reuse"] == len(repeated)
    assert counters["model_calls"] == len(records) - len(repeated)


def test_shot_records_validate_and_the_model_loads_once(media, answering, tmp_path, monkeypatch):
    opened: list[BackendConfig] = []
    real_open = factory.open_backend

    def counting_open(config: BackendConfig) -> VlmBackend:
        opened.append(config)
        return real_open(config)

    monkeypatch.setattr(factory, "open_backend", counting_open)
    names = ["shots", "visual_stats", "shot_stats", "captions", "shot_captions", "summary"]
    result = run(
        media(MEGAMIND),
        names,
        tmp_path / "b",
        **{"vlm.model": str(answering), "vlm.max_new_tokens": 8},
    )
    assert len(opened) == 1
    shots = result.track("shots")
    records = [ShotRecord.model_validate(r) for r in result.track("shot_captions")]
    assert [r.shot for r in records] == [s["index"] for s in shots] == [0, 1, 2, 3]
    for shot, r in zip(shots, records, strict=True):
        assert (r.start, r.end) == (shot["start"], shot["end"])
        assert all(r.start <= t < r.end for t in r.frames) and r.frames == sorted(r.frames)
        assert r.caption == SHOT_ANSWER["caption"] and r.error is None and not r.repaired
        assert r.attributes == {k: SHOT_ANSWER[k] for k in ATTRIBUTES}
        assert r.measured["darkness"] is not None and r.measured["motion"] is not None
        assert r.fused is not None
        assert r.fused["darkness"] == pytest.approx(
            (SHOT_ANSWER["darkness"] + r.measured["darkness"]) / 2, abs=1e-3
        )
        assert r.fused["suspense"] == SHOT_ANSWER["suspense"]
    # This model gives the shot answer to every prompt: the summary does not fit its schema,
    # is repaired once, and is then recorded as an error with the raw answer, not invented.
    (summary,) = result.track("summary")
    assert summary["summary"] is None and summary["chapters"] == []
    assert "also after one repair" in summary["error"]
    assert json.loads(summary["answer"]) == SHOT_ANSWER
    assert result.run_report["stages"]["summary"]["counters"]["model_calls"] == 2


def test_out_of_memory_halves_the_batch_and_says_so(tiny, monkeypatch):
    config = BackendConfig(model=str(tiny), endpoint=None, max_pixels=100 * 100)
    backend = factory.acquire(config)
    try:
        rng = np.random.default_rng(2)
        requests = [
            VlmRequest.ask("describe", [rng.integers(0, 256, (64, 64, 3), np.uint8)])
            for _ in range(8)
        ]
        expected = backend.generate(requests, max_new_tokens=6, batch_size=8)
        generate = backend.model.generate

        def small_batches_only(**inputs: Any) -> Any:
            if inputs["input_ids"].shape[0] > 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
            return generate(**inputs)

        monkeypatch.setattr(backend.model, "generate", small_batches_only)
        assert backend.generate(requests, max_new_tokens=6, batch_size=8) == expected
        assert backend.fallbacks == [
            "out of memory at batch size 8; continuing with 4",
            "out of memory at batch size 4; continuing with 2",
        ]

        def never(**inputs: Any) -> Any:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

        monkeypatch.setattr(backend.model, "generate", never)
        failed = backend.generate(requests[:2], max_new_tokens=6, batch_size=8)
        assert all(
            r.text is None and "out of memory even for one prompt" in r.error for r in failed
        )
    finally:
        factory.release(config)


def test_bad_models_fail_clearly_and_leave_the_other_tracks(media, tmp_path):
    clip = media(MEGAMIND)
    unset = registry.availability("captions", {})
    assert not unset.ok and unset.reason == NOT_CONFIGURED and "--vlm-endpoint" in unset.fix
    with pytest.raises(ModelError, match=r"model folder .*does not exist"):
        run(clip, ["captions"], tmp_path / "missing", **{"vlm.model": str(tmp_path / "nothing")})
    text_only = build_text_only(tmp_path / "qwen2-text")
    with pytest.raises(AnalysisFailed):
        run(clip, ["visual_stats", "captions"], tmp_path / "b", **{"vlm.model": str(text_only)})
    bundle = Result(tmp_path / "b")
    tracks = bundle.manifest["tracks"]
    assert tracks["captions"]["status"] == "failed"
    assert "is not a vision-language model" in tracks["captions"]["error"]
    assert tracks["visual_stats"]["status"] == "complete"
    assert len(bundle.track("visual_stats")) == 12


def test_frame_fingerprints_see_structure_and_brightness():
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (120, 160, 3), np.uint8)
    noisy = np.clip(frame.astype(int) + rng.integers(-3, 4, frame.shape), 0, 255).astype(np.uint8)
    assert difference(fingerprint(frame), fingerprint(frame)) == 0
    assert difference(fingerprint(frame), fingerprint(noisy)) < 0.05
    assert difference(fingerprint(frame), fingerprint(np.roll(frame, 40, axis=1))) > 0.2
    black, white = np.zeros_like(frame), np.full_like(frame, 255)
    # dHash alone cannot tell flat frames apart; the thumbnail difference does.
    assert np.array_equal(fingerprint(black).bits, fingerprint(white).bits)
    assert difference(fingerprint(black), fingerprint(white)) == pytest.approx(1.0)


def test_answers_are_parsed_strictly():
    good = json.dumps(SHOT_ANSWER)
    assert parse(good, ShotAnswer)[0] is not None
    assert parse(f"```json\n{good}\n```", ShotAnswer)[0] is not None
    for bad, why in [
        (f"Sure! {good}", "not a JSON object"),
        (json.dumps({**SHOT_ANSWER, "suspense": "0.3"}), "suspense"),
        (json.dumps({**SHOT_ANSWER, "motion": 1.5}), "motion"),
        (json.dumps({**SHOT_ANSWER, "mood": 0.2}), "mood"),
        (json.dumps({k: v for k, v in SHOT_ANSWER.items() if k != "darkness"}), "darkness"),
        (json.dumps({**SHOT_ANSWER, "caption": "  "}), "caption"),
    ]:
        value, error = parse(bad, ShotAnswer)
        assert value is None and why in error
    chapters = {
        "summary": "A dinner.",
        "chapters": [{"start": 0, "title": "A"}, {"start": 5, "title": "B"}],
    }
    assert parse(json.dumps(chapters), SummaryAnswer, {"duration": 11.3})[0] is not None
    assert "after the video ends" in parse(json.dumps(chapters), SummaryAnswer, {"duration": 4})[1]
    backwards = {**chapters, "chapters": chapters["chapters"][::-1]}
    assert "must increase" in parse(json.dumps(backwards), SummaryAnswer)[1]


class Scripted(VlmBackend):
    """Answers from a list, and remembers what it was asked."""

    def __init__(self, answers: list[VlmResult]) -> None:
        super().__init__(BackendConfig(model="scripted", endpoint=None))
        self.answers = answers
        self.asked: list[VlmRequest] = []

    @property
    def name(self) -> str:
        return "scripted"

    def generate(self, requests, *, max_new_tokens, batch_size):  # type: ignore[override]
        self.asked += requests
        return [self.answers.pop(0) for _ in requests]

    def close(self) -> None:
        pass


def test_a_bad_answer_is_repaired_once_then_recorded():
    good = json.dumps(SHOT_ANSWER)
    backend = Scripted(
        [
            VlmResult(text="It is a tense dinner."),
            VlmResult(text=good),
            VlmResult(error="HTTP 500: overloaded"),
            VlmResult(text="{}"),
            VlmResult(text="still prose"),  # the repair turns of the first and the fourth
            VlmResult(text="{}"),
        ]
    )
    requests = [VlmRequest.ask(f"shot {i}") for i in range(4)]
    first, second, third, fourth = ask(
        backend, requests, ShotAnswer, max_new_tokens=9, batch_size=4
    )
    assert second.value is not None and not second.repaired
    assert third.value is None and third.error == "HTTP 500: overloaded"
    assert first.value is None and first.answer == "still prose" and first.repaired
    assert "also after one repair" in (first.error or "")
    assert fourth.value is None and "field required" in (fourth.error or "")
    repair = backend.asked[4]
    assert repair.turns[:2] == ("shot 0", "It is a tense dinner.")
    assert "not a JSON object" in repair.turns[2]


def test_frames_are_picked_evenly_and_signals_are_mapped():
    frames = [(t / 2, np.zeros((2, 2, 3), np.uint8)) for t in range(20)]  # 0.0 .. 9.5 s
    assert [t for t, _ in pick_frames(frames, 0.0, 10.0, 5)] == [1.0, 3.0, 5.0, 7.0, 9.0]
    assert [t for t, _ in pick_frames(frames, 2.0, 3.0, 5)] == [2.0, 2.5]
    assert [t for t, _ in pick_frames(frames, 3.1, 3.3, 5)] == [3.0]
    signals = measured(3.0, {"brightness": 0.2, "dark_share": 0.6, "motion": 0.05, "rms_db": -30})
    assert signals["darkness"] == pytest.approx(0.7)
    assert signals["motion"] == pytest.approx(0.5)
    assert signals["loudness"] == pytest.approx(0.5)
    assert signals["pace"] == pytest.approx(math.log10(10 / 3), abs=1e-4)
    assert signals["intensity"] == pytest.approx((0.5 + signals["pace"]) / 2, abs=1e-4)
    assert measured(20.0, None)["pace"] == 0 and measured(20.0, None)["darkness"] is None
    model = {k: SHOT_ANSWER[k] for k in ATTRIBUTES}
    fused = fuse(model, {**signals, "motion": None}, 0.25)
    assert fused["darkness"] == pytest.approx(0.25 * 0.6 + 0.75 * 0.7)
    assert fused["motion"] == model["motion"] and fused["suspense"] == model["suspense"]
    kept = thin(["x" * 9] * 100, 250)  # 1000 characters into 250: about every fourth line
    assert len(kept) == 25 and kept[0] == 0 and kept[-1] == 99
    assert thin(["x" * 9] * 10, 250) == list(range(10))


def test_context_of_a_second_waits_boundedly_for_side_tracks():
    context = SideTracks(["transcript", "ocr"], start=0.0, lag=30.0)
    words = [("Of", 0.2, 0.4), (" course.", 0.4, 0.9), (" You", 1.1, 1.3)]
    segment = {"start": 0.2, "end": 1.3, "text": "Of course. You"}
    segment["words"] = [{"word": w, "start": s, "end": e} for w, s, e in words]
    assert not context.settled(1.0, clock=5.0)  # nothing heard from either track yet
    context.add(TrackRecord("transcript", segment))
    context.add(TrackRecord("ocr", {"start": 0.0, "end": 2.0, "text": "EXIT"}))
    context.add(TrackRecord("ocr", {"start": 0.5, "end": 1.5, "text": "EXIT"}))
    assert context.settled(1.0, clock=5.0) and not context.settled(3.0, clock=5.0)
    assert context.settled(3.0, clock=33.0)  # the lag bounds the wait
    assert spoken(context.within("transcript", 0.0, 1.0), 0.0, 1.0) == "Of course."
    assert spoken(context.within("transcript", 1.0, 2.0), 1.0, 2.0) == "You"
    assert on_screen(context.within("ocr", 0.0, 1.0)) == "EXIT"
    context.prune(2.0)
    assert context.within("ocr", 0.0, 5.0) == []

"""Every in-process vision-language family end to end: a tiny random model of each (built from
configs in :mod:`tiny_vlms`, saved and loaded back by path) captions every second of a real
clip and answers once per shot, through its own processor and chat template.  Random weights
write random words; what is checked is that every family's loading, prompting, batching and
decoding path works, and that batching does not change a greedy answer.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vidscope
from conftest import need
from tiny_vlms import FAMILIES, build
from vidscope.analyzers import registry
from vidscope.errors import ModelError
from vidscope.models.vlm import factory
from vidscope.models.vlm.base import BackendConfig, VlmBackend, VlmRequest
from vidscope.models.vlm.hf_load import TESTED
from vidscope.timeline.result import Result

need("torch")
need("transformers")

MEGAMIND = "debian/Megamind.avi"
SINGLE_IMAGE = {"llava", "llava_next", "instructblip", "paligemma"}
# Small frames, images and answers keep the tiny models fast; the path is the same at any size.
FAST = {
    "vlm.max_pixels": 128 * 128,
    "vlm.max_new_tokens": 6,
    "analyzer.captions.width": 112,
    "analyzer.shot_captions.width": 112,
    "analyzer.shot_captions.fps": 1.0,
    "analyzer.shot_captions.frames": 3,
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each family's tiny model, built once for the module."""
    root = tmp_path_factory.mktemp("tiny-vlms")
    return {f: build(f, root / f) for f in FAMILIES}


def test_every_tested_family_has_a_tiny_model():
    assert set(FAMILIES) == set(TESTED)


@dataclass
class Run:
    """One family's run on Megamind.avi, and what the spies saw."""

    result: Result
    opened: int
    images_per_prompt: list[int]


@pytest.fixture(scope="module")
def runs(models, media, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Run]:
    """``runs(family)``: shots, captions and shot_captions with that family's model, run once
    per module and kept (the comparison reads the bundles again)."""
    from vidscope.models.vlm.hf import TransformersBackend

    root = tmp_path_factory.mktemp("family-runs")
    done: dict[str, Run] = {}

    def run(family: str) -> Run:
        if family in done:
            return done[family]
        opened: list[BackendConfig] = []
        counts: list[int] = []
        real_open, real_inputs = factory.open_backend, TransformersBackend._inputs

        def counting_open(config: BackendConfig) -> VlmBackend:
            opened.append(config)
            return real_open(config)

        def inputs(self: TransformersBackend, requests: Any) -> dict[str, Any]:
            counts.extend(len(r.images) for r in requests)
            return real_inputs(self, requests)

        with pytest.MonkeyPatch.context() as spy:
            spy.setattr(factory, "open_backend", counting_open)
            spy.setattr(TransformersBackend, "_inputs", inputs)
            result = vidscope.analyze(
                media(MEGAMIND),
                ["shots", "captions", "shot_captions"],
                root / family,
                settings={**FAST, "vlm.model": str(models[family])},
            )
        done[family] = Run(result, len(opened), counts)
        return done[family]

    return run


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_captions_every_second_and_every_shot(family, runs):
    run = runs(family)
    assert run.opened == 1, "one model shared by both analyzers"
    captions = run.result.track("captions")
    assert [r["start"] for r in captions] == [float(k) for k in range(12)]
    assert all(r["text"] and "error" not in r for r in captions)
    shots = run.result.track("shots")
    records = run.result.track("shot_captions")
    assert [r["shot"] for r in records] == [s["index"] for s in shots] == [0, 1, 2, 3]
    for r in records:
        # Random words are not the JSON answer: the record says why it has no caption.
        assert (r["caption"] is None) == bool(r.get("error"))
        assert "RuntimeError" not in r.get("error", "")
        assert 1 <= len(r["frames"]) <= 3
    # Single-image families see the shot's frames side by side in one image.
    assert max(run.images_per_prompt) == (1 if family in SINGLE_IMAGE else 3)


@pytest.fixture(scope="module")
def two_models(models, media, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """LLaVA and Qwen2-VL in one run through the Python API: the analyzers named as usual,
    ``vlm.models`` runs each caption analyzer once per model."""
    opened: list[BackendConfig] = []
    real_open = factory.open_backend

    def counting_open(config: BackendConfig) -> VlmBackend:
        opened.append(config)
        return real_open(config)

    with pytest.MonkeyPatch.context() as spy:
        spy.setattr(factory, "open_backend", counting_open)
        result = vidscope.analyze(
            media(MEGAMIND),
            ["shots", "captions", "shot_captions", "summary"],
            tmp_path_factory.mktemp("two-models") / "bundle",
            settings={**FAST, "vlm.models": [str(models[f]) for f in PAIR]},
        )
    return Run(result, len(opened), [])


PAIR = ["llava", "qwen2_vl"]
PER_MODEL = ["captions", "shot_captions", "summary"]


@pytest.mark.slow
def test_two_models_in_one_run_compute_stage_one_once(two_models):
    result = two_models.result
    assert sorted(result.tracks) == sorted(
        ["shots", *(f"{name}@{family}" for name in PER_MODEL for family in PAIR)]
    )
    assert two_models.opened == 2, "each model loaded once, shared by its three analyzers"
    stages = result.manifest["report"]["stages"]
    assert [s for s in stages if s.startswith("shots")] == ["shots"]
    tracks = result.manifest["tracks"]
    for family in PAIR:
        captions = tracks[f"captions@{family}"]
        assert Path(captions["model"]["id"]).name == family
        # analyzer.captions.* applies to each model's captions.
        assert captions["params"]["width"] == FAST["analyzer.captions.width"]
        assert tracks[f"summary@{family}"]["inputs"] == [f"shot_captions@{family}"]
        assert len(result.track(f"captions@{family}")) == 12
        assert len(result.track(f"shot_captions@{family}")) == 4
        # Random words are no shot caption, so the summary has nothing to ask the model.
        assert stages[f"summary@{family}"]["counters"]["model_calls"] == 0
        for name in ("captions", "shot_captions"):
            row = stages[f"{name}@{family}"]
            assert row["busy_s"] > 0 and row["rtf"] > 0 and row["records_per_s"] > 0
            assert row["tokens_per_s"] > 0 and row["counters"]["tokens"] > 0
            assert row["counters"]["model_weights_mb"] > 0


@pytest.mark.slow
def test_the_report_shows_each_models_captions_in_its_own_lane(two_models, tmp_path):
    from vidscope.report.data import build

    lanes = {lane["id"]: lane for lane in build(two_models.result, tmp_path)["lanes"]}
    order = list(lanes)
    for name in ("captions", "shot_captions"):
        ids = [f"{name}@{f}" for f in PAIR]
        assert all(len(lanes[i]["items"]) > 0 for i in ids)
        # The models' lanes of one track sit next to each other.
        assert order.index(ids[1]) == order.index(ids[0]) + 1
    assert [len(lanes[f"captions@{f}"]["items"]) for f in PAIR] == [12, 12]
    assert lanes["shot_captions@llava"]["label"] == "shot captions@llava"


@pytest.mark.slow
def test_compare_puts_two_models_side_by_side(two_models, tmp_path):
    bundle = two_models.result.path
    proc = vidscope_cli("compare", str(bundle), "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (tmp_path / "compare.md").read_text()
    with (tmp_path / "compare.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == PAIR
    tracks = two_models.result.manifest["tracks"]
    for row, family in zip(rows, PAIR, strict=True):
        names = [f"{n}@{family}" for n in PER_MODEL]
        busy = sum(tracks[t]["timings"]["busy_s"] for t in names)
        assert row["video"] == "Megamind.avi" and float(row["length s"]) == 11.26
        assert (row["shots"], row["captions"]) == ("4", "12")
        assert float(row["VLM s"]) == pytest.approx(busy, abs=1e-3) and busy > 0
        assert float(row["RTF"]) == pytest.approx(busy / 11.261, abs=1e-3)
        assert row["tracks"] == " ".join(names)
    missing = vidscope_cli("compare", str(tmp_path / "none"))
    assert missing.returncode == 3 and "not a directory" in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.slow
def test_several_vlm_models_on_the_command_line(models, media, tmp_path):
    out = tmp_path / "b"
    proc = vidscope_cli(
        "analyze", str(media(MEGAMIND)), "-o", str(out), "--analyzers", "captions",
        "--vlm-model", str(models["paligemma"]), "--vlm-model", str(models["idefics3"]),
        "--set", "vlm.max_new_tokens=4", "--set", "analyzer.captions.width=112",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = Result(out)
    assert sorted(result.tracks) == ["captions@idefics3", "captions@paligemma"]
    stages = result.manifest["report"]["stages"]
    assert all(stages[t]["tokens_per_s"] > 0 for t in result.tracks)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vlm-model", "x/llava", "--vlm-model", "y/llava"], "same label"),
        (
            ["--vlm-model", "a", "--vlm-model", "b", *["--vlm-endpoint", "http://h:1/v1"] * 3],
            "3 --vlm-endpoint values for 2 --vlm-model",
        ),
        (
            ["--vlm-model", "a", "--vlm-model", "b", "--analyzers", "captions@c"],
            "no model of vlm.models is labelled 'c' (labels: a, b)",
        ),
        (["--analyzers", "shots@a"], "'shots' does not run once per model"),
    ],
)
def test_bad_model_lists_are_refused_with_a_reason(args, message, media, tmp_path):
    proc = vidscope_cli("analyze", str(media(MEGAMIND)), "-o", str(tmp_path / "b"), *args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def vidscope_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vidscope.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_batches_with_left_padding_like_one_by_one(family, models):
    config = BackendConfig(model=str(models[family]), endpoint=None, max_pixels=128 * 128)
    backend = factory.acquire(config)
    try:
        rng = np.random.default_rng(1)
        shown = 1 if family in SINGLE_IMAGE else 2
        requests = [
            VlmRequest.ask(
                "describe" + " the shot" * i,
                [rng.integers(0, 256, (60 + 30 * i, 80 + 20 * i, 3), np.uint8)] * shown,
            )
            for i in range(3)
        ] + [VlmRequest.ask("summary of the video").followup("a man talks", "and where")]
        together = backend.generate(requests, max_new_tokens=6, batch_size=8)
        alone = [backend.generate([r], max_new_tokens=6, batch_size=1)[0] for r in requests]
        assert all(r.text and r.error is None for r in together), together
        assert all(0 < r.tokens <= 6 for r in together), together
        assert together == alone
        assert backend.stats()["largest_batch"] == 4
    finally:
        factory.release(config)


def test_processor_without_torchvision_is_built_from_its_parts(models):
    config = BackendConfig(model=str(models["qwen2_vl"]), endpoint=None)
    backend = factory.acquire(config)
    try:
        processor = backend.processor  # type: ignore[attr-defined]
        assert type(processor).__name__ == "Qwen2VLProcessor"
        assert processor.tokenizer.padding_side == "left"
        if importlib.util.find_spec("torchvision") is None:
            assert processor.video_processor is None
        # max_pixels bounds the Qwen image processor's dynamic resolution.
        assert processor.image_processor.size.longest_edge == config.max_pixels
    finally:
        factory.release(config)


def test_remote_code_is_refused_unless_the_operator_allows_it(tmp_path):
    folder = tmp_path / "phi-3.5-vision"
    folder.mkdir()
    auto_map = {
        "AutoConfig": "configuration_phi3_v.Phi3VConfig",
        "AutoModelForCausalLM": "modeling_phi3_v.Phi3VForCausalLM",
    }
    (folder / "config.json").write_text(json.dumps({"model_type": "phi3_v", "auto_map": auto_map}))
    with pytest.raises(ModelError, match=r"trust_remote_code.*vlm\.trust_remote_code.*endpoint"):
        factory.open_backend(BackendConfig(model=str(folder), endpoint=None))
    # Allowed, it gets past the refusal and fails on the missing code instead.
    with pytest.raises(ModelError) as allowed:
        factory.open_backend(
            BackendConfig(model=str(folder), endpoint=None, trust_remote_code=True)
        )
    assert "vlm.trust_remote_code" not in str(allowed.value)
    for name in ("captions", "shot_captions", "summary"):
        params = registry.params_model(name)
        assert params is not None and "trust_remote_code" in params.model_fields
        assert "trust_remote_code" not in params.client_settable

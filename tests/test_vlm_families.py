"""Every in-process vision-language family end to end: a tiny random model of each (built from
configs in :mod:`tiny_vlms`, saved and loaded back by path) captions every second of a real
clip and answers once per shot, through its own processor and chat template.  Random weights
write random words; what is checked is that every family's loading, prompting, batching and
decoding path works, and that batching does not change a greedy answer.
"""

from __future__ import annotations

import importlib.util
import json
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


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_captions_every_second_and_every_shot(family, models, media, tmp_path, monkeypatch):
    opened: list[VlmBackend] = []
    real_open = factory.open_backend

    def keep(config: BackendConfig) -> VlmBackend:
        opened.append(real_open(config))
        return opened[-1]

    monkeypatch.setattr(factory, "open_backend", keep)
    images_per_prompt: list[int] = []
    settings = {**FAST, "vlm.model": str(models[family])}
    names = ["shots", "captions", "shot_captions"]
    result = _run_counting(
        media(MEGAMIND), names, tmp_path, settings, images_per_prompt, monkeypatch
    )
    assert len(opened) == 1, "one model shared by both analyzers"
    captions = result.track("captions")
    assert [r["start"] for r in captions] == [float(k) for k in range(12)]
    assert all(r["text"] and "error" not in r for r in captions)
    shots = result.track("shots")
    records = result.track("shot_captions")
    assert [r["shot"] for r in records] == [s["index"] for s in shots] == [0, 1, 2, 3]
    for r in records:
        # Random words are not the JSON answer: the record says why it has no caption.
        assert (r["caption"] is None) == bool(r.get("error"))
        assert "RuntimeError" not in r.get("error", "")
        assert 1 <= len(r["frames"]) <= 3
    most = max(images_per_prompt)
    assert most == (1 if family in SINGLE_IMAGE else 3)


def _run_counting(
    clip: Path,
    names: list[str],
    out: Path,
    settings: dict[str, Any],
    counts: list[int],
    spy: pytest.MonkeyPatch,
) -> Result:
    """Run ``names`` on ``clip``, noting how many images each prompt the model saw held."""
    from vidscope.models.vlm.hf import TransformersBackend

    real = TransformersBackend._inputs

    def inputs(self: TransformersBackend, requests: Any) -> dict[str, Any]:
        counts.extend(len(r.images) for r in requests)
        return real(self, requests)

    spy.setattr(TransformersBackend, "_inputs", inputs)
    return vidscope.analyze(clip, names, out / "bundle", settings=settings)


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

"""Per-second captions on CPU: vidscope's ``captions`` against calling the model directly, frame
by frame, with the tiny random models the tests build, one per family (random weights, so
this measures the machinery around the model, not caption quality).

- direct: what a user writes by hand: PyAV decodes Megamind.avi, keeps the first frame of
  every second at 448 px, and each frame goes through the model's processor (its chat
  template, image processor and tokenizer) and its own ``model.generate`` call;
- vidscope, batch 1: the ``captions`` analyzer through the engine (shared decode, sampling,
  near-duplicate check, prompt building, records written), one frame per ``generate`` call:
  the overhead of vidscope's machinery;
- vidscope, batch N: the same with N frames per ``generate`` call.

Every ``generate`` call produces exactly ``--tokens`` new tokens (``min_new_tokens`` =
``max_new_tokens`` in the model's generation config), so each contender does the same model
work per frame.  Each contender runs in its own process with the model loaded before timing
(a warm-up run), as in a CLI batch or a server worker, and the best of ``--runs`` runs is kept.

    .venv/bin/python bench/bench_captions.py [--family qwen2_vl ...] [--runs 3] [--tokens 32]
        [--batch 8] [--json out.json]

``--family all`` runs every family of ``tests/tiny_vlms.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import MEDIA, ROOT, table

CLIP = MEDIA / "debian/Megamind.avi"
WIDTH = 448
MAX_PIXELS = 448 * 448
PROMPT = (
    "Describe this video frame in one or two sentences: who or what is visible, what is "
    "happening and where."
)


sys.path.insert(0, str(ROOT / "tests"))


def build(family: str, path: Path, tokens: int) -> None:
    """The tests' tiny model of ``family``, generating exactly ``tokens`` tokens per answer."""
    from transformers import GenerationConfig

    from tiny_vlms import build as build_tiny

    build_tiny(family, path)
    gen = GenerationConfig.from_pretrained(path)
    gen.min_new_tokens = gen.max_new_tokens = tokens
    gen.save_pretrained(path)


def direct(model_dir: Path, runs: int) -> list[float]:
    """Frame-by-frame ``generate`` calls, decoding included."""
    import av
    import torch
    from PIL import Image
    from transformers import AutoConfig, AutoModelForImageTextToText

    from vidscope.models.vlm.base import BackendConfig
    from vidscope.models.vlm.hf_load import FAMILIES, Family, load_processor

    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).eval()
    kind = AutoConfig.from_pretrained(model_dir).model_type
    # vidscope's loader only for the processor: it builds the Qwen ones without torchvision.
    processor = load_processor(
        BackendConfig(model=str(model_dir), endpoint=None), str(model_dir), kind,
        {"local_files_only": True, "trust_remote_code": False},
    )  # fmt: skip
    if FAMILIES.get(kind, Family()).pixel_area:
        processor.image_processor.size.longest_edge = MAX_PIXELS
    template = processor.chat_template or processor.tokenizer.chat_template
    conversation = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": PROMPT}]}
    ]
    text = (
        processor.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        if template
        else PROMPT
    )

    def caption(frame: Image.Image) -> str:
        inputs = processor(
            text=[text], images=[[frame]], return_tensors="pt", add_special_tokens=not template
        )
        with torch.inference_mode():
            out = model.generate(**inputs, do_sample=False)
        start = inputs["input_ids"].shape[1]
        return processor.tokenizer.decode(out[0, start:], skip_special_tokens=True)

    def once() -> int:
        count, tick = 0, 0.0
        with av.open(str(CLIP)) as container:
            for frame in container.decode(video=0):
                if frame.time is None or frame.time < tick:
                    continue
                height = round(frame.height * WIDTH / frame.width / 2) * 2
                caption(frame.to_image(width=WIDTH, height=height))
                count, tick = count + 1, tick + 1.0
        return count

    once()
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        once()
        walls.append(time.perf_counter() - t0)
    return walls


def ours(model_dir: Path, runs: int, batch: int, tokens: int) -> list[float]:
    """The captions analyzer through the engine, model resident."""
    from vidscope.analyzers.settings import load_settings
    from vidscope.engine.local import Engine

    settings = load_settings(
        overrides={
            "analyzers": ["captions"],
            "progress": "none",
            "vlm.model": str(model_dir),
            "vlm.max_pixels": MAX_PIXELS,
            "vlm.batch_size": batch,
            "vlm.max_new_tokens": tokens,
        }
    ).settings
    walls = []
    with Engine(settings) as engine, tempfile.TemporaryDirectory() as tmp:
        engine.analyze(CLIP, Path(tmp) / "warm")
        for i in range(runs):
            t0 = time.perf_counter()
            result = engine.analyze(CLIP, Path(tmp) / f"run{i}")
            walls.append(time.perf_counter() - t0)
        assert len(result.track("captions")) == 12
    return walls


def part(args: argparse.Namespace) -> None:
    model_dir = Path(args.model)
    walls = (
        direct(model_dir, args.runs)
        if args.part == "direct"
        else ours(model_dir, args.runs, int(args.part.removeprefix("batch")), args.tokens)
    )
    print(json.dumps(walls))


def family_rows(family: str, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    """Best wall time of each contender for one family's tiny model."""
    contenders = [
        ("direct, one frame per generate call", "direct"),
        ("vidscope captions, batch 1", "batch1"),
        (f"vidscope captions, batch {args.batch}", f"batch{args.batch}"),
    ]
    model_dir = tmp / family
    build(family, model_dir, args.tokens)
    results: dict[str, float] = {}
    for label, name in contenders:
        cmd = [sys.executable, __file__, "--part", name, "--model", str(model_dir)]
        cmd += ["--runs", str(args.runs), "--tokens", str(args.tokens)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        results[label] = min(json.loads(out.strip().splitlines()[-1]))
    return results


def main() -> None:
    from tiny_vlms import FAMILIES as TINY

    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--family", action="append", choices=[*TINY, "all"], help="default: qwen2_vl"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        part(args)
        return
    from vidscope.media.probe import probe

    families = args.family or ["qwen2_vl"]
    if "all" in families:
        families = list(TINY)
    duration = probe(CLIP).duration
    frames = 12
    figures: dict[str, dict[str, float]] = {}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family in families:
            figures[family] = results = family_rows(family, args, Path(tmp))
            base = next(iter(results.values()))
            rows += [
                [
                    family,
                    label,
                    f"{wall:.3f}",
                    f"{frames / wall:.1f}",
                    f"{wall / duration:.4f}",
                    f"{base / wall:.2f}x",
                ]
                for label, wall in results.items()
            ]
    print(f"command: .venv/bin/python bench/bench_captions.py {' '.join(sys.argv[1:])}")
    print(
        f"Megamind.avi ({duration:.2f} s, {frames} captions), tiny random models, {args.tokens} "
        f"new tokens per caption, best of {args.runs}, decoding included, model load excluded"
    )
    print(table(["family", "run", "wall s", "frames/s", "RTF", "speed vs direct"], rows))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "clip": CLIP.name,
                    "duration_s": duration,
                    "frames": frames,
                    "tokens": args.tokens,
                    "runs": args.runs,
                    "wall_s": figures,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()

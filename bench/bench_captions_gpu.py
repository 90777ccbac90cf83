r"""Per-second captions on one GPU, family by family: the full-size architecture of each
vision-language family vidscope runs in process, built from its config with random weights
in bfloat16, through the ``captions`` analyzer at batch 1 and batch N.

The families and their sizes are the tests' (``tests/tiny_vlms.py``: one home for every
family's config, tokenizer and processor; ``FULL`` names the released checkpoint each size
copies: Qwen2-VL-2B, Qwen2.5-VL-3B, Qwen3-VL-2B, LLaVA-1.5-7B, LLaVA-1.6-Vicuna-7B,
InstructBLIP-Vicuna-7B, SmolVLM (Idefics3), Gemma-3-4B, PaliGemma-3B-224).  Nothing is
downloaded: tokenizers are word-level vocabularies of the real size built in code, so the
output layer costs what it costs, and processors are built in code without torchvision.

Random weights say nothing about caption quality but cost what trained ones cost, provided
every call generates the same number of tokens: each ``generate`` call produces exactly
``--tokens`` new tokens (``min_new_tokens`` = ``max_new_tokens``).  Frames are 448 pixels
wide and bounded to ``448 * 448`` pixels (``vlm.max_pixels``); each family's processor then
sizes them as its checkpoint does.  The near-duplicate check is off so every second is
captioned.  The clip is synthesised (moving shapes, a new picture each second).  Model
loading is excluded (a warm-up run on the clip's first seconds, as many as the largest batch,
comes first); decoding is included.  Reported per family and batch size: wall time (best of
``--runs``), frames per second, real-time factor (wall / clip length), GPU busy share (NVML's
utilization.gpu, the share of time a kernel ran, sampled by ``nvidia-smi`` every 100 ms over
the timed runs) and peak GPU memory allocated (weights included).

On a GPU (not yet timed there: each family builds and saves its model, up to 16 GB for the
7B ones, then loads it once per batch size; where one command's time is limited, give one
``--family`` per command):

    python bench/bench_captions_gpu.py --family all --seconds 60 --tokens 48 --batch 1 16 \
        --runs 2 --json captions_gpu.json

On CPU, ``--small`` builds the tests' tiny sizes instead (a check of the script, not a
benchmark; never run the full sizes on CPU):

    python bench/bench_captions_gpu.py --small --device cpu --family all --seconds 3 \
        --batch 1 2 --runs 1
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from common import ROOT

sys.path.insert(0, str(ROOT / "tests"))
from tiny_vlms import FAMILIES, build  # the tests' families: one home for their configs

WIDTH = 448
MAX_PIXELS = 448 * 448


def build_model(family: str, path: Path, device: str, tokens: int, small: bool) -> None:
    """Save a random ``family`` model (full size unless ``small``) in bfloat16 that generates
    exactly ``tokens`` tokens per answer."""
    import torch
    from transformers import GenerationConfig

    build(family, path, full=not small, device=device, dtype=torch.bfloat16)
    gen = GenerationConfig.from_pretrained(path)
    gen.min_new_tokens = gen.max_new_tokens = tokens
    gen.save_pretrained(path)


def write_clip(
    path: Path, seconds: int, fps: int = 25, size: tuple[int, int] = (1280, 720)
) -> None:
    """An H.264 clip whose picture changes every second (moving shapes on a gradient)."""
    import av

    w, h = size
    gradient = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        for second in range(seconds):
            colour = rng.integers(0, 256, 3)
            base = np.clip(gradient * 0.5 + colour * 0.5, 0, 255).astype(np.uint8)
            base = np.broadcast_to(base, (h, w, 3)).copy()
            for i in range(fps):
                image = base.copy()
                x = (second * 97 + i * 9) % (w - 200)
                image[h // 3 : h // 3 + 200, x : x + 200] = 255 - colour
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts, frame.time_base = second * fps + i, Fraction(1, fps)
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def captions(
    model_dir: Path,
    clips: tuple[Path, Path],
    seconds: int,
    device: str,
    runs: int,
    batch: int,
    tokens: int,
) -> dict[str, Any]:
    """The captions analyzer through the engine at ``batch`` frames per ``generate`` call,
    model resident: warmed up on the first clip, timed on the second."""
    from vidscope.analyzers.settings import load_settings
    from vidscope.engine.local import Engine

    settings = load_settings(
        overrides={
            "analyzers": ["captions"],
            "progress": "none",
            "device": device,
            "vlm.model": str(model_dir),
            "vlm.dtype": "bfloat16",
            "vlm.attn_implementation": "sdpa",
            "vlm.max_pixels": MAX_PIXELS,
            "vlm.batch_size": batch,
            "vlm.max_new_tokens": tokens,
            "analyzer.captions.dedup_threshold": 0,
        }
    ).settings
    with Engine(settings) as engine, tempfile.TemporaryDirectory() as tmp:
        warm, clip = clips
        engine.analyze(warm, Path(tmp) / "warm")
        counter = iter(range(runs))

        def once() -> int:
            result = engine.analyze(clip, Path(tmp) / f"run{next(counter)}")
            counters = result.run_report["stages"]["captions"]["counters"]
            assert counters["failed"] == 0 and not counters["batch_fallbacks"], counters
            return len(result.track("captions"))

        return timed(once, seconds, device, runs)


class GpuBusy:
    """The mean of NVML's utilization.gpu (per cent of time a kernel ran) over a block,
    sampled by ``nvidia-smi`` every 100 ms; None without a CUDA device or ``nvidia-smi``."""

    def __init__(self, device: str) -> None:
        self.device, self.share = device, None
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> GpuBusy:
        import torch

        smi = shutil.which("nvidia-smi")
        if self.device.startswith("cuda") and smi:
            uuid = torch.cuda.get_device_properties(self.device).uuid
            self.proc = subprocess.Popen(
                [smi, f"--id=GPU-{uuid}", "--query-gpu=utilization.gpu",
                 "--format=csv,noheader,nounits", "--loop-ms=100"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        out, _ = self.proc.communicate()
        samples = [float(v) for v in out.split() if v.replace(".", "", 1).isdigit()]
        self.share = round(sum(samples) / len(samples) / 100, 3) if samples else None


def timed(once: Any, seconds: int, device: str, runs: int) -> dict[str, Any]:
    """Best wall time of ``runs`` calls of ``once`` (returns the number of frames captioned),
    with the GPU busy share and the peak GPU memory allocated during those calls."""
    import torch

    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    walls, frames = [], 0
    with GpuBusy(device) as busy:
        for _ in range(runs):
            t0 = time.perf_counter()
            frames = once()
            if cuda:
                torch.cuda.synchronize()
            walls.append(time.perf_counter() - t0)
    wall = min(walls)
    return {
        "frames": frames,
        "wall_s": round(wall, 3),
        "frames_per_s": round(frames / wall, 2),
        "rtf": round(wall / seconds, 4),
        "gpu_busy": busy.share,
        "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--family", nargs="+", default=["all"], choices=[*FAMILIES, "all"],
        help="families to run (all: every one, in turn)",
    )  # fmt: skip
    parser.add_argument("--seconds", type=int, default=60, help="clip length (one frame/s)")
    parser.add_argument("--tokens", type=int, default=48, help="new tokens per caption")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 16], help="batch sizes")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--device", default="cuda")
    parser.add_argument(
        "--small", action="store_true", help="the tests' tiny sizes (a check, not a benchmark)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    import torch

    families = list(FAMILIES) if "all" in args.family else list(dict.fromkeys(args.family))
    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        sys.exit("no CUDA device: give --device cpu with --small for a check on CPU")
    if not cuda and not args.small:
        sys.exit("full-size models on CPU would take hours: give --small with --device cpu")
    name = torch.cuda.get_device_name(args.device) if cuda else args.device
    size = "tiny (--small)" if args.small else "full-size"
    print(f"command: python bench/bench_captions_gpu.py {' '.join(sys.argv[1:])}")
    print(
        f"{name}; {size} architectures, random weights, bfloat16; {args.seconds} s clip, one "
        f"caption per second, {args.tokens} new tokens each; best of {args.runs}; load "
        "excluded, decoding included"
    )
    print(
        "| family | batch | wall s | frames/s | RTF | GPU busy | peak GPU GiB |\n"
        "|---|---|---|---|---|---|---|",
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clips = Path(tmp) / "warm.mp4", Path(tmp) / "clip.mp4"
        write_clip(clips[0], min(args.seconds, max(args.batch)))
        write_clip(clips[1], args.seconds)
        for family in families:
            model_dir = Path(tmp) / family
            build_model(family, model_dir, args.device, args.tokens, args.small)
            for batch in args.batch:
                r = captions(
                    model_dir, clips, args.seconds, args.device, args.runs, batch, args.tokens
                )
                rows.append({"family": family, "batch": batch, **r})
                print(
                    f"| {family} | {batch} | {r['wall_s']} | {r['frames_per_s']} | {r['rtf']} "
                    f"| {r['gpu_busy']} | {r['peak_gpu_gib']} |",
                    flush=True,
                )
                gc.collect()
                if cuda:
                    torch.cuda.empty_cache()
            shutil.rmtree(model_dir)  # full-size weights: up to 16 GB each on disk
    if args.json:
        args.json.write_text(
            json.dumps(
                {"device": name, "size": size, "seconds": args.seconds, "tokens": args.tokens,
                 "runs": args.runs, "rows": rows},
                indent=2,
            )
        )  # fmt: skip


if __name__ == "__main__":
    main()

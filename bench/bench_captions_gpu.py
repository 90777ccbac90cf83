"""Per-second captions of a 60-second clip on one GPU with the Qwen2-VL-2B architecture
(random weights in bfloat16): the old way against vidscope's.

- old way: one frame per ``generate`` call, no KV cache, eager attention (what the system
  vidscope replaces did);
- vidscope: the ``captions`` analyzer through the engine: shared decode, ``batch`` frames per
  ``generate`` call, KV cache on, SDPA attention.

Random weights say nothing about caption quality but cost exactly what trained ones cost,
provided both sides generate the same number of tokens: every call produces exactly
``--tokens`` new tokens (``min_new_tokens`` = ``max_new_tokens``).  Frames are 448 pixels
wide and each image is bounded to ``448 * 448`` pixels (256 visual tokens) on both sides; the
near-duplicate check is off so both caption all 60 seconds.  Model loading is excluded (a
warm-up run first); decoding is included.  Reported: wall time, frames per second, real-time
factor (wall / clip length) and the peak GPU memory allocated during the timed run.

Self-contained and offline: the model is built from its config, the tokenizer is a word-level
stand-in with the Qwen special tokens at their real ids (the vocabulary size is the real
one, so the output layer costs what it costs), and the clip is synthesised with PyAV.
torchvision is not needed (vidscope expands the image tokens itself).

    python bench/bench_captions_gpu.py [--tokens 48] [--batch 60] [--runs 3] [--json out.json]

``--small --device cpu`` runs the same script with a tiny config, to check it anywhere.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

SECONDS = 60
WIDTH = 448
MAX_PIXELS = 448 * 448
PROMPT = (
    "Describe this video frame in one or two sentences: who or what is visible, what is "
    "happening and where."
)
SPECIAL = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<|vision_start|>": 151652,
    "<|vision_end|>": 151653,
    "<|image_pad|>": 151655,
    "<|video_pad|>": 151656,
}
TEXT_2B = {
    "vocab_size": 151936,
    "hidden_size": 1536,
    "intermediate_size": 8960,
    "num_hidden_layers": 28,
    "num_attention_heads": 12,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-6,
    "max_position_embeddings": 32768,
    "rope_parameters": {"rope_type": "default", "mrope_section": [16, 24, 24], "rope_theta": 1e6},
}
VISION_2B = {
    "depth": 32,
    "embed_dim": 1280,
    "hidden_size": 1536,
    "mlp_ratio": 4,
    "num_heads": 16,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
}
SMALL = (
    {**TEXT_2B, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
     "num_attention_heads": 4, "rope_parameters": {**TEXT_2B["rope_parameters"],
     "mrope_section": [2, 3, 3]}},
    {**VISION_2B, "depth": 1, "embed_dim": 32, "hidden_size": 64, "num_heads": 2},
)  # fmt: skip


def build_model(path: Path, device: str, tokens: int, small: bool) -> None:
    """Save a randomly initialised Qwen2-VL(-2B) with tokenizer and image processor."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        GenerationConfig,
        PreTrainedTokenizerFast,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
    )

    text, vision = SMALL if small else (TEXT_2B, VISION_2B)
    config = Qwen2VLConfig(
        text_config={
            **text,
            "bos_token_id": SPECIAL["<|endoftext|>"],
            "eos_token_id": SPECIAL["<|im_end|>"],
            "pad_token_id": SPECIAL["<|endoftext|>"],
        },
        vision_config=vision,
        image_token_id=SPECIAL["<|image_pad|>"],
        video_token_id=SPECIAL["<|video_pad|>"],
        vision_start_token_id=SPECIAL["<|vision_start|>"],
        vision_end_token_id=SPECIAL["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16)
    model.generation_config = GenerationConfig(
        min_new_tokens=tokens,
        max_new_tokens=tokens,
        eos_token_id=SPECIAL["<|im_end|>"],
        pad_token_id=SPECIAL["<|endoftext|>"],
    )
    model.save_pretrained(path)
    del model
    vocab = {f"w{i}": i for i in range(config.text_config.vocab_size)}
    for token, i in SPECIAL.items():
        del vocab[f"w{i}"]
        vocab[token] = i
    word_level = Tokenizer(models.WordLevel(vocab, unk_token="w0"))
    word_level.pre_tokenizer = pre_tokenizers.Whitespace()
    word_level.add_special_tokens(list(SPECIAL))
    PreTrainedTokenizerFast(
        tokenizer_object=word_level, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    ).save_pretrained(path)
    try:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
            Qwen2VLImageProcessorPil as ImageProcessor,
        )
    except ImportError:  # transformers 4: the slow processor is the PIL/NumPy one
        from transformers import Qwen2VLImageProcessor as ImageProcessor
    ImageProcessor(max_pixels=MAX_PIXELS).save_pretrained(path)


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


def sampled_frames(clip: Path) -> list[np.ndarray]:
    """The first frame of every second, 448 pixels wide (what the old system captioned)."""
    import av

    frames, tick = [], 0.0
    with av.open(str(clip)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time >= tick:
                height = round(frame.height * WIDTH / frame.width / 2) * 2
                frames.append(frame.to_ndarray(format="rgb24", width=WIDTH, height=height))
                tick += 1.0
    return frames


def old_way(model_dir: Path, clip: Path, device: str, runs: int) -> dict[str, Any]:
    """One frame per call, no KV cache, eager attention."""
    import torch
    from PIL import Image
    from transformers import AutoImageProcessor, AutoModelForImageTextToText, AutoTokenizer

    model = AutoModelForImageTextToText.from_pretrained(
        model_dir, dtype=torch.bfloat16, attn_implementation="eager"
    )
    model.to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    processor = AutoImageProcessor.from_pretrained(model_dir, max_pixels=MAX_PIXELS)

    def caption(image: np.ndarray) -> None:
        features = processor(images=[Image.fromarray(image)], return_tensors="pt")
        n = int(features["image_grid_thw"].prod()) // processor.merge_size**2
        text = (
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
            f"<|vision_start|>{'<|image_pad|>' * n}<|vision_end|>{PROMPT}<|im_end|>\n"
            "<|im_start|>assistant\n"
        )
        inputs = tokenizer([text], return_tensors="pt").to(device)
        with torch.inference_mode():
            model.generate(
                **inputs,
                pixel_values=features["pixel_values"].to(device, torch.bfloat16),
                image_grid_thw=features["image_grid_thw"].to(device),
                do_sample=False,
                use_cache=False,
            )

    def once() -> int:
        frames = sampled_frames(clip)
        for image in frames:
            caption(image)
        return len(frames)

    caption(sampled_frames(clip)[0])  # warm-up: kernels, allocator
    return timed(once, device, runs)


def vidscope_way(
    model_dir: Path, clip: Path, device: str, runs: int, batch: int, tokens: int
) -> dict[str, Any]:
    """The captions analyzer through the engine, model resident."""
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
        engine.analyze(clip, Path(tmp) / "warm")
        counter = iter(range(runs))

        def once() -> int:
            result = engine.analyze(clip, Path(tmp) / f"run{next(counter)}")
            counters = result.run_report["stages"]["captions"]["counters"]
            assert counters["failed"] == 0 and not counters["batch_fallbacks"], counters
            return len(result.track("captions"))

        return timed(once, device, runs)


def timed(once: Any, device: str, runs: int) -> dict[str, Any]:
    """Best wall time of ``runs`` calls of ``once`` (returns the number of frames captioned),
    with the peak GPU memory allocated during those calls."""
    import torch

    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    walls, frames = [], 0
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
        "rtf": round(wall / SECONDS, 4),
        "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--batch", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--device", default="cuda")
    parser.add_argument(
        "--small", action="store_true", help="tiny config (a check, not a benchmark)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    import torch

    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, clip = Path(tmp) / "qwen2-vl", Path(tmp) / "clip.mp4"
        build_model(model_dir, args.device, args.tokens, args.small)
        write_clip(clip, SECONDS)
        old = old_way(model_dir, clip, args.device, args.runs)
        gc.collect()
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
        ours = vidscope_way(model_dir, clip, args.device, args.runs, args.batch, args.tokens)
    arch = "tiny Qwen2-VL (--small)" if args.small else "Qwen2-VL-2B architecture"
    print(f"command: python bench/bench_captions_gpu.py {' '.join(sys.argv[1:])}")
    print(
        f"{name}; {arch}, random weights, bfloat16; {SECONDS} s clip, one caption per second, "
        f"{args.tokens} new tokens each; best of {args.runs}; load excluded, decoding included"
    )
    print("| run | wall s | frames/s | RTF | peak GPU GiB |\n|---|---|---|---|---|")
    for label, r in (
        ("old: 1 frame/call, no KV cache, eager", old),
        (f"vidscope: batch {args.batch}, KV cache, SDPA", ours),
    ):
        print(
            f"| {label} | {r['wall_s']} | {r['frames_per_s']} | {r['rtf']} | {r['peak_gpu_gib']} |"
        )
    print(f"speed-up: {old['wall_s'] / ours['wall_s']:.1f}x; target RTF <= 0.05")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"device": name, "arch": arch, "tokens": args.tokens, "old": old, "vidscope": ours},
                indent=2,
            )
        )


if __name__ == "__main__":
    main()

"""Batches across videos on Ray: one VLM actor serving the videos in flight with shared model
calls (``ray.batch_across_videos``, on by default with ``--device cuda``) against the same
actor serving them one call at a time.

N copies of Megamind.avi (12 s, 4 shots) go through ``shots`` + ``shot_captions`` on a local
Ray with ``--videos-in-flight`` videos at once.  Each shot is one prompt and a video's shots are
asked together when it ends, so a video alone makes calls of 4 prompts; sharing lets the actor
merge the calls of the videos that end while the model is busy.  The model is the tests' tiny
Qwen2-VL generating exactly ``--tokens`` tokens per answer (random weights: this measures the
batching machinery and the per-call cost it saves, not caption quality).  Both settings run in
one Ray session, alternating, each after a warm-up video that loads its actor; the best of
``--runs`` is kept.

First, with nothing else running, the model alone: 16 shot prompts as four calls of 4 against
one call of 16 (what sharing turns the first into), best of ``--runs``.

    .venv/bin/python bench/bench_ray_batching.py [--copies 12] [--videos-in-flight 2] \
        [--tokens 32] [--runs 2] [--ray-cpus N] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_captions import build
from common import MEDIA, table

CLIP = MEDIA / "debian/Megamind.avi"


def model_alone(model: Path, device: str, tokens: int, runs: int) -> dict[str, float]:
    """Seconds for 16 prompts of Megamind's frames asked 4 at a time, and all at once."""
    import numpy as np

    from vidscope.media.stills import frames_at
    from vidscope.models.vlm import factory
    from vidscope.models.vlm.base import BackendConfig, VlmRequest
    from vidscope.models.vlm.prompts import shot_prompt

    frames = [f.to_ndarray(format="rgb24") for f in frames_at(CLIP, np.linspace(0, 11, 16))]
    requests = [
        VlmRequest.ask(shot_prompt(5, False, 3.0), [frames[(i + k) % 16] for k in range(5)])
        for i in range(16)
    ]
    config = BackendConfig(model=str(model), endpoint=None, max_pixels=200 * 200, device=device)
    backend = factory.acquire(config)
    try:
        backend.generate(requests[:4], max_new_tokens=tokens, batch_size=16)  # warm-up
        best = {"4 calls of 4": float("inf"), "1 call of 16": float("inf")}
        for _ in range(runs):
            for label, size in (("4 calls of 4", 4), ("1 call of 16", 16)):
                t0 = time.perf_counter()
                for i in range(0, 16, size):
                    backend.generate(requests[i : i + size], max_new_tokens=tokens, batch_size=16)
                best[label] = min(best[label], time.perf_counter() - t0)
        return best
    finally:
        factory.release(config)


def run(settings: Any, inputs: list[Path], out: Path) -> tuple[float, dict[str, Any]]:
    from vidscope.engine.ray.executor import RayExecutor

    with RayExecutor(settings) as executor:
        warm = list(executor.analyze_many([(CLIP, out / "warm")]))
        assert warm[0].error is None, warm[0].error
        first = executor.actor_stats()["shot_captions#0"]
        before = first["model"]
        t0 = time.perf_counter()
        done = list(executor.analyze_many([(p, out / p.stem) for p in inputs]))
        wall = time.perf_counter() - t0
        last = executor.actor_stats()["shot_captions#0"]
        after = last["model"]
    assert [d.error for d in done] == [None] * len(inputs), [d.error for d in done]
    calls = after["model_calls"] - before["model_calls"]
    requests = after["requests"] - before["requests"]
    merged = after["merged_calls"] - before["merged_calls"]
    prompts = after["items"] - before["items"]
    return wall, {
        "requests": requests,
        "model_calls": calls,
        "merged_calls": merged,
        "mean_batch": round(prompts / calls, 2),
        "actor_busy_s": round(last["busy_s"] - first["busy_s"], 2),
        "model_s": round(after["model_s"] - before["model_s"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=12)
    parser.add_argument("--videos-in-flight", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument(
        "--ray-cpus", type=int, default=None, help="logical CPUs of the local Ray (default: all)"
    )
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import ray

    from vidscope.analyzers.settings import load_settings
    from vidscope.engine.ray.cluster import NAMESPACE

    with tempfile.TemporaryDirectory(prefix="vidscope-bench-batching-") as tmp:
        root = Path(tmp)
        model = root / "tiny"
        build(model, args.tokens)
        inputs = []
        for i in range(args.copies):
            link = root / "inputs" / f"{i:02d}-{CLIP.name}"
            link.parent.mkdir(exist_ok=True)
            link.symlink_to(CLIP)
            inputs.append(link)
        alone = model_alone(model, args.device, args.tokens, args.runs)
        print(table(["model alone", "s"], [[k, f"{v:.2f}"] for k, v in alone.items()]))
        common = {
            "device": args.device,
            "analyzers": ["shots", "shot_captions"],
            "vlm.model": str(model),
            "vlm.max_pixels": 200 * 200,
            "vlm.max_new_tokens": args.tokens,
            "vlm.batch_size": 16,
            "ray.max_videos": args.videos_in_flight,
        }
        ray.init(
            num_cpus=args.ray_cpus,
            namespace=NAMESPACE,
            include_dashboard=False,
            log_to_driver=False,
        )
        best: dict[str, tuple[float, dict[str, Any]]] = {}
        try:
            for r in range(args.runs):
                for label, share in (("shared calls", True), ("one call at a time", False)):
                    settings = load_settings(
                        None, {**common, "ray.batch_across_videos": share}
                    ).settings
                    wall, stats = run(settings, inputs, root / f"{label}-{r}")
                    if label not in best or wall < best[label][0]:
                        best[label] = (wall, stats)
        finally:
            ray.shutdown()
    base = best["one call at a time"][0]
    rows = [
        [
            label,
            args.copies,
            s["requests"],
            s["model_calls"],
            s["merged_calls"],
            f"{s['mean_batch']:g}",
            f"{s['actor_busy_s']:.2f}",
            f"{s['model_s']:.2f}",
            f"{wall:.2f}",
            f"{base / wall:.2f}x",
        ]
        for label, (wall, s) in best.items()
    ]
    header = [
        "actor",
        "videos",
        "asks",
        "model calls",
        "shared",
        "mean batch",
        "actor busy s",
        "model s",
        "wall s",
        "speed",
    ]
    print(table(header, rows))
    print(json.dumps({"alone": alone, **{k: {"wall_s": w, **s} for k, (w, s) in best.items()}}))


if __name__ == "__main__":
    main()

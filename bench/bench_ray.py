"""The same batch of videos through the local executor and through Ray on this machine: the
overhead (or gain) Ray brings on one box.

N copies of the shared clips (symlinks, so nothing is cached between copies: every copy is
decoded and analyzed again) go through `vidscope analyze DIR -o OUT` with `--executor local`
and `--executor ray` (a local Ray started by the run), one after the other, as whole CLI runs
(start-up, Ray start and model loading included).  With `--ray-videos 2` a second Ray run lets
two videos share the cores.

    .venv/bin/python bench/bench_ray.py [--copies 4] [--analyzers a,b,...] [--ray-videos 1,2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from common import MEDIA, manifest, table, vidscope

CLIPS = [
    "debian/Megamind.avi",
    "faster-whisper/jfk.flac",
    "pyscenedetect/goldeneye-vfr-drop3.mp4",
    "pyscenedetect/counter.mp4",
    "pyscenedetect/testvideo.mp4",
]
ANALYZERS = "shots,visual_stats,shot_stats,audio_features,audio_class,speech,transcript,objects,ocr"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--analyzers", default=ANALYZERS)
    parser.add_argument("--ray-videos", default="1,2", help="videos in flight for Ray runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vidscope-bench-ray-") as tmp:
        inputs = Path(tmp) / "inputs"
        inputs.mkdir()
        for i in range(args.copies):
            for clip in CLIPS:
                src = MEDIA / clip
                (inputs / f"{i:02d}-{src.name}").symlink_to(src)
        files = sorted(inputs.iterdir())
        media_s = 0.0
        runs: list[tuple[str, str, list[str]]] = [("local", "local", ["--executor", "local"])]
        for n in args.ray_videos.split(","):
            flags = ["--executor", "ray", "--set", f"ray.max_videos={n}"]
            runs.append((f"ray, {n} video(s) in flight", f"ray-{n}", flags))
        rows = []
        walls: dict[str, float] = {}
        for label, name, flags in runs:
            out = Path(tmp) / name
            wall, _ = vidscope(
                "analyze", str(inputs), "-o", str(out), "-a", args.analyzers, "-q", *flags
            )
            bundles = [out / Path(f.name).stem for f in files]
            statuses = [manifest(b)["status"] for b in bundles]
            assert statuses == ["complete"] * len(files), statuses
            media_s = sum(manifest(b)["media"]["duration"] for b in bundles)
            walls[label] = wall
            rows.append(
                [label, len(files), f"{media_s:.0f}", f"{wall:.1f}", f"{wall / media_s:.3f}"]
            )
        base = walls["local"]
        for row in rows:
            row.append(f"{base / walls[row[0]]:.2f}x")
        print(table(["executor", "videos", "media s", "wall s", "RTF", "speed vs local"], rows))
        print(json.dumps({"walls": walls, "media_s": media_s}))


if __name__ == "__main__":
    main()

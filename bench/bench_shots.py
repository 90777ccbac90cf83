"""vidscope's `shots` against the `scenedetect` command line on the same clips.

Both use the same detector parameters (threshold 27, min-scene-len 15 frames: the CLI's own
default is 0.6 s, the library's 15 frames) and run as fresh processes (imports and setup
included), interleaved, best of N runs; cuts are compared by time.  vidscope's bytecode is
compiled first, as a wheel install does: an editable checkout run with PYTHONDONTWRITEBYTECODE
would otherwise recompile every changed module on every run.  Usage:

    .venv/bin/python bench/bench_shots.py [--runs 3]
"""

from __future__ import annotations

import argparse
import compileall
import csv
import json
import tempfile
from pathlib import Path

from common import BIN, MEDIA, ROOT, table, timed, vidscope

CLIPS = [
    "pyscenedetect/testvideo.mp4",
    "pyscenedetect/goldeneye-vfr-drop3.mp4",
    "pyscenedetect/counter.mp4",
    "pyscenedetect/fades.mp4",
    "debian/Megamind.avi",
]


def scenedetect_cuts(clip: Path, out: Path) -> tuple[float, list[float]]:
    wall, _ = timed(
        [str(BIN / "scenedetect"), "-i", str(clip), "-o", str(out), "-q",
         "detect-content", "--min-scene-len", "15", "list-scenes", "-s", "-f", "scenes.csv"]
    )  # fmt: skip
    with (out / "scenes.csv").open() as f:
        starts = [float(row["Start Time (seconds)"]) for row in csv.DictReader(f)]
    return wall, [round(s, 3) for s in starts[1:]]


def vidscope_cuts(clip: Path, out: Path) -> tuple[float, list[float]]:
    wall, _ = vidscope("analyze", str(clip), "-o", str(out), "-a", "shots", "-q", "--force")
    shots = [json.loads(x) for x in (out / "tracks" / "shots.jsonl").read_text().splitlines()]
    return wall, [round(s["start"], 3) for s in shots if s["transition_in"] == "cut"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "src" / "vidscope", quiet=1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in CLIPS:
            clip = MEDIA / name
            sd_times, vs_times = [], []
            for i in range(args.runs):
                sd_wall, sd_cuts = scenedetect_cuts(clip, Path(tmp) / f"sd{i}")
                vs_wall, vs_cuts = vidscope_cuts(clip, Path(tmp) / f"vs{i}")
                sd_times.append(sd_wall)
                vs_times.append(vs_wall)
            same = all(abs(a - b) < 0.002 for a, b in zip(sd_cuts, vs_cuts, strict=False)) and len(
                sd_cuts
            ) == len(vs_cuts)
            sd, vs = min(sd_times), min(vs_times)
            rows.append(
                [
                    name,
                    f"{sd:.2f}",
                    f"{vs:.2f}",
                    f"{sd / vs:.2f}x",
                    "yes" if same else f"no: {sd_cuts} vs {vs_cuts}",
                ]
            )
    print(table(["clip", "scenedetect s", "vidscope shots s", "speed-up", "same cuts"], rows))


if __name__ == "__main__":
    main()

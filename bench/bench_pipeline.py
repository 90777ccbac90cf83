"""The default pipeline with one shared decode against the same analyzers each decoding the
file themselves, one after another, each in its own process (what the old system did).

Both produce the same tracks in a bundle; the baseline runs `vidscope analyze -a X` once per
analyzer into the same bundle, so each run decodes the media again and loads its own models,
and derived analyzers reuse the tracks they depend on.

    .venv/bin/python bench/bench_pipeline.py [--minutes 1] [--runs 1] [--analyzers a,b,...]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from common import BIN, ROOT, manifest, table, vidscope
from loop_media import loop


def analyzers_here() -> list[str]:
    import subprocess

    rows = json.loads(
        subprocess.run(
            [str(BIN / "vidscope"), "analyzers", "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    return [r["name"] for r in rows if r["available"]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--src", type=Path, default=ROOT / "examples" / "Megamind.avi")
    parser.add_argument("--analyzers", help="comma-separated (default: every available one)")
    args = parser.parse_args()
    names = args.analyzers.split(",") if args.analyzers else analyzers_here()
    with tempfile.TemporaryDirectory() as tmp:
        media = Path(tmp) / "input.mkv"
        duration = loop(args.src, media, args.minutes)
        shared, separate = [], []
        alone: dict[str, dict] = {}
        for i in range(args.runs):
            out = Path(tmp) / f"shared{i}"
            wall, _ = vidscope("analyze", str(media), "-o", str(out), "-q", "-a", ",".join(names))
            shared.append(wall)
            assert manifest(out)["status"] == "complete"
            out = Path(tmp) / f"separate{i}"
            total = 0.0
            for name in names:
                wall, _ = vidscope("analyze", str(media), "-o", str(out), "-q", "-a", name)
                total += wall
                if i == 0:
                    stages = manifest(out)["report"]["stages"]
                    alone[name] = stages.get(name, {})
            separate.append(total)
            assert manifest(out)["status"] == "complete"
        s, p = min(shared), min(separate)
        report = manifest(Path(tmp) / "shared0")["report"]
    print(f"input: {duration:.1f} s ({args.src.name} looped); analyzers: {', '.join(names)}\n")
    print(
        table(
            ["pipeline", "wall s", "RTF", "speed-up"],
            [
                ["decode per analyzer, sequential", f"{p:.2f}", f"{p / duration:.3f}", "1.00x"],
                [
                    "vidscope: one decode, concurrent",
                    f"{s:.2f}",
                    f"{s / duration:.3f}",
                    f"{p / s:.2f}x",
                ],
            ],
        )
    )
    print("\neach analyzer alone (its own process and decode; busy seconds of its stage):")
    print(
        table(
            ["analyzer", "busy s", "RTF", "model setup s"],
            [[k, v.get("busy_s"), v.get("rtf"), v.get("setup_s")] for k, v in alone.items()],
        )
    )
    print("\nwhere the time goes in the shared run (busy seconds per stage):")
    print(
        table(
            ["stage", "busy s", "RTF", "share of wall"],
            [
                [k, v["busy_s"], v["rtf"], f"{100 * v['share_of_wall']:.0f}%"]
                for k, v in report["stages"].items()
            ],
        )
    )


if __name__ == "__main__":
    main()

"""Memory and speed must not depend on the length of the video.

Loops the bundled clip into a 1-minute and a 30-minute input (stream copy) and runs the whole
default pipeline on each in a fresh process; compares peak resident memory and RTF.

    .venv/bin/python bench/bench_long.py [--minutes 1 30] [--analyzers a,b]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import ROOT, manifest, table, vidscope
from loop_media import loop


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 30.0])
    parser.add_argument("--analyzers", default=None)
    parser.add_argument("--src", type=Path, default=ROOT / "examples" / "Megamind.avi")
    args = parser.parse_args()
    rows, results = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            media = Path(tmp) / f"loop-{minutes:g}min.mkv"
            duration = loop(args.src, media, minutes)
            out = Path(tmp) / f"out-{minutes:g}"
            extra = ["-a", args.analyzers] if args.analyzers else []
            wall, _ = vidscope("analyze", str(media), "-o", str(out), "-q", *extra)
            m = manifest(out)
            report = m["report"]
            results.append(report)
            rows.append(
                [
                    f"{duration / 60:.1f} min",
                    f"{wall:.1f}",
                    f"{report['rtf']:.3f}",
                    f"{report['peak_rss_mb']:.0f}",
                    ", ".join(sorted(m["tracks"])),
                    min(report["coverage"].values(), default=None),
                ]
            )
    print(table(["input", "wall s", "RTF", "peak RSS MB", "tracks", "min coverage"], rows))
    if len(results) >= 2:
        a, b = results[0], results[-1]
        print(
            f"\npeak memory ratio {b['peak_rss_mb'] / a['peak_rss_mb']:.2f}x, "
            f"RTF ratio {b['rtf'] / a['rtf']:.2f}x (longest / shortest)"
        )


if __name__ == "__main__":
    main()

"""Make a long input by looping a clip without re-encoding (PyAV stream copy into Matroska).

.venv/bin/python bench/loop_media.py SRC DST --minutes 30
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import av


def loop(src: Path, dst: Path, minutes: float) -> float:
    """Write ``dst`` with ``src`` repeated to last at least ``minutes``; return its duration."""
    with av.open(str(src)) as probe:
        clip = probe.duration / av.time_base
    copies = max(1, math.ceil(minutes * 60 / clip))
    with av.open(str(dst), "w", format="matroska") as out:
        with av.open(str(src)) as first:
            mapping = {
                s.index: out.add_stream_from_template(s)
                for s in (*first.streams.video[:1], *first.streams.audio[:1])
            }
        for k in range(copies):
            with av.open(str(src)) as inp:
                for packet in inp.demux(*[inp.streams[i] for i in mapping]):
                    if packet.dts is None and packet.pts is None:
                        continue
                    offset = round(k * clip / packet.time_base)
                    if packet.pts is not None:
                        packet.pts += offset
                    if packet.dts is not None:
                        packet.dts += offset
                    packet.stream = mapping[packet.stream.index]
                    out.mux(packet)
    return copies * clip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--minutes", type=float, default=1.0)
    args = parser.parse_args()
    print(f"{args.dst}: {loop(args.src, args.dst, args.minutes):.1f} s")


if __name__ == "__main__":
    main()

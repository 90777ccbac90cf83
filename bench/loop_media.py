"""Make a long input by looping a clip without re-encoding (PyAV stream copy into Matroska).

.venv/bin/python bench/loop_media.py SRC DST --minutes 30
"""

from __future__ import annotations

import argparse
import itertools
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import av


def clip_seconds(src: Path) -> float:
    """How long one copy of ``src`` lasts, its start offset included."""
    with av.open(str(src)) as probe:
        return ((probe.start_time or 0) + probe.duration) / av.time_base


def looped_packets(
    src: Path, kinds: Sequence[str], seconds: float
) -> Iterator[tuple[float, int, av.Packet]]:
    """``(time, k, packet)`` for the packets of ``src``'s first stream of each of ``kinds``
    (``k`` its position there), the clip repeated with shifted timestamps up to ``seconds``,
    in demuxing order."""
    clip = clip_seconds(src)
    for copy in itertools.count():
        with av.open(str(src)) as inp:
            streams = [getattr(inp.streams, kind)[0] for kind in kinds]
            position = {s.index: k for k, s in enumerate(streams)}
            for packet in inp.demux(*streams):
                if packet.dts is None and packet.pts is None:
                    continue
                offset = round(copy * clip / packet.time_base)
                if packet.pts is not None:
                    packet.pts += offset
                if packet.dts is not None:
                    packet.dts += offset
                ts = float(
                    (packet.dts if packet.dts is not None else packet.pts) * packet.time_base
                )
                if ts >= seconds:
                    return
                yield ts, position[packet.stream.index], packet


def loop(src: Path, dst: Path, minutes: float) -> float:
    """Write ``dst`` with ``src`` repeated (whole copies) to last at least ``minutes``; return
    its duration."""
    clip = clip_seconds(src)
    total = max(1, math.ceil(minutes * 60 / clip)) * clip
    with av.open(str(dst), "w", format="matroska") as out:
        with av.open(str(src)) as first:
            kinds = [kind for kind in ("video", "audio") if getattr(first.streams, kind)]
            outs = [out.add_stream_from_template(getattr(first.streams, k)[0]) for k in kinds]
        for _, k, packet in looped_packets(src, kinds, total):
            packet.stream = outs[k]
            out.mux(packet)
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--minutes", type=float, default=1.0)
    args = parser.parse_args()
    print(f"{args.dst}: {loop(args.src, args.dst, args.minutes):.1f} s")


if __name__ == "__main__":
    main()

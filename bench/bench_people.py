"""What the person gate costs: the people analyzers with ``gate`` on against ``gate`` off.

Gate off is the pipeline before the gate (the model's claim is the record).  Gate on adds, on
every frame where pose or segmentation claims a person, BlazeFace (short and full range) in the
sidecar, and NanoDet-m on the host for the claimed frames without a face where the claim is.
Two resident engines (one per setting, sidecars loaded once, one warm-up run each) analyse
each clip alternately, N times; the table gives each analyzer's median busy time (its
``process_batch`` and ``finish`` calls, from the run report) and the median wall time of the
run.  Usage:

    .venv/bin/python bench/bench_people.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from common import MEDIA, table
from vidscope.analyzers.settings import load_settings
from vidscope.engine.local import Engine

CLIPS = ["debian/Megamind.avi", "pyscenedetect/testvideo.mp4"]
ANALYZERS = ["faces", "pose", "segmentation"]
GATED = ("pose", "segmentation")


def engine(gate: bool) -> Engine:
    params = {name: {"gate": gate} for name in GATED}
    return Engine(load_settings(overrides={"analyzers": ANALYZERS, "analyzer": params}).settings)


def nanodet_frames(result) -> int:
    """Claimed frames without a face there: the frames the host ran NanoDet on."""
    seg = result.track("segmentation")
    pose = result.track("pose")
    return (
        sum(r["model_share"] > 0 and r["basis"] != "face" for r in seg)
        + sum(r["basis"] == "person" for r in pose)
        + sum(s["unconfirmed"] for s in result.track("shot_pose"))
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, engine(False) as off, engine(True) as on:
        for name in CLIPS:
            clip = MEDIA / name
            busy: dict[tuple[bool, str], list[float]] = {}
            walls: dict[bool, list[float]] = {False: [], True: []}
            extra = 0
            for i in range(args.runs + 1):
                for gate, eng in ((False, off), (True, on)):
                    result = eng.analyze(clip, Path(tmp) / f"{gate}-{i}", force=True)
                    if i == 0:  # warm-up: first frames, page cache, lazy imports
                        continue
                    report = result.report
                    walls[gate].append(report["wall_s"])
                    for a in ANALYZERS:
                        busy.setdefault((gate, a), []).append(report["stages"][a]["busy_s"])
                    if gate:
                        extra = nanodet_frames(result)
            for a in ANALYZERS:
                b_off = statistics.median(busy[False, a])
                b_on = statistics.median(busy[True, a])
                rows.append([name, a, f"{b_off:.2f}", f"{b_on:.2f}", f"{b_on / b_off:.2f}x"])
            w_off, w_on = statistics.median(walls[False]), statistics.median(walls[True])
            rows.append(
                [name, f"run wall (NanoDet on {extra} frames)", f"{w_off:.2f}", f"{w_on:.2f}",
                 f"{w_on / w_off:.2f}x"]
            )  # fmt: skip
    print(table(["clip", "analyzer", "gate off s", "gate on s", "on / off"], rows))


if __name__ == "__main__":
    main()

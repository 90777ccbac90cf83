"""What the person gate costs: the people analyzers with ``gate`` on against ``gate`` off.

Gate off is the pipeline before the gate (the model's claim is the record).  Gate on adds, on
every frame where pose or segmentation claims a person, BlazeFace (short and full range) in the
sidecar, and NanoDet-m on the host for the claimed frames without a face where the claim is.
Two resident engines (one per setting, sidecars loaded once, one warm-up run each) analyse
each clip alternately, N times; the table gives each analyzer's median busy time (its
``process_batch`` and ``finish`` calls, from the run report) and the median wall time of the
run.  Wall and busy times swing with the machine's load, so a second table gives CPU time
per sampled frame (2 fps, the analyzers' own widths), which load barely moves: each sidecar's
own CPU time (from /proc) with and without the face evidence, and NanoDet's on the host.
Usage:

    .venv/bin/python bench/bench_people.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from common import MEDIA, table
from vidscope.analyzers.people.gate import FACE_SCORE, PersonGate
from vidscope.analyzers.people.runtime import Sidecar
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


def frames(clip: Path, width: int, fps: float = 2.0) -> list[np.ndarray]:
    """RGB frames sampled at ``fps``, ``width`` pixels wide."""
    out, due = [], 0.0
    with av.open(str(clip)) as container:
        for frame in container.decode(container.streams.video[0]):
            if frame.time is not None and frame.time + 1e-6 >= due:
                height = round(frame.height * width / frame.width / 2) * 2
                out.append(frame.to_ndarray(format="rgb24", width=width, height=height))
                due += 1 / fps
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sidecar_ms(kind: str, config: dict, images: list[np.ndarray], runs: int) -> float:
    """The sidecar's CPU milliseconds per frame, best of ``runs`` passes over ``images``."""
    sidecar = Sidecar(kind, config)
    sidecar.start()
    try:
        sidecar.request(images[:2])  # warm-up
        best = float("inf")
        for _ in range(runs):
            before = cpu_seconds(sidecar._proc.pid)
            for k in range(0, len(images), 4):
                sidecar.request(images[k : k + 4])
            best = min(best, (cpu_seconds(sidecar._proc.pid) - before) / len(images))
        return best * 1000
    finally:
        sidecar.close()


def cpu_rows(runs: int) -> list[list[object]]:
    gate = PersonGate.load()
    rows: list[list[object]] = []
    for name in CLIPS:
        for kind, width, config in (("pose", 640, {"min_score": 0.5}), ("segmentation", 480, {})):
            images = frames(MEDIA / name, width)
            off = sidecar_ms(kind, config, images, runs)
            on = sidecar_ms(kind, {**config, "gate_faces": FACE_SCORE}, images, runs)
            rows.append([name, kind, len(images), f"{off:.1f}", f"{on:.1f}", f"{on / off:.2f}x"])
        images = frames(MEDIA / name, 640)
        gate.people(images[0])
        t0 = time.process_time()
        for image in images:
            gate.people(image)
        nanodet = (time.process_time() - t0) / len(images) * 1000
        rows.append([name, "NanoDet person (host)", len(images), "", f"{nanodet:.1f}", ""])
    return rows


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
                    report = result.run_report
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
    print()
    header = ["clip", "step", "frames", "gate off ms/frame", "gate on ms/frame", "on / off"]
    print(table(header, cpu_rows(args.runs)))


if __name__ == "__main__":
    main()

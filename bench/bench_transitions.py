"""The cost and recall of the shots analyzer's gradual transitions, mode beside mode.

Cost: the ``shots`` analyzer on three shared clips and on the mixed clip of eight dissolves
with ``transitions`` ``off``, ``auto`` and ``all``, interleaved, best of N runs each, in one
process (the engine as a library: decode and analyzer side by side). Three real-time factors
per run, over the media duration: the process's CPU time (decode and analyzer, every thread:
what the mode costs the machine, and the figure least moved by other load), the whole run's
wall time, and the ``shots`` stage's own busy time. Recall: dissolves, wipes and fades built
from real footage with known spans (``tests/transition_clips.py``: testvideo.mp4's shots
joined by 1 s transitions, and ``--mixed`` clips of 8 dissolves and wipes of 8 to 40 frames
between shots of three clips), found with the right type and span within three frames, in
``auto`` and ``all``; and the boundaries that overlap no transition. Usage:

    .venv/bin/python bench/bench_transitions.py [--runs 2] [--mixed 8] [--recall-only]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import vidscope
from common import MEDIA, ROOT, table

sys.path.insert(0, str(ROOT / "tests"))
from transition_clips import FPS, build, build_mixed  # the tests' clips: one home

CLIPS = [
    "pyscenedetect/goldeneye-vfr-drop3.mp4",
    "debian/Megamind.avi",
    "pyscenedetect/testvideo.mp4",
]
MODES = ("off", "auto", "all")
DISSOLVING = 8
"""The mixed clip whose eight transitions are all dissolves, timed too."""
TOLERANCE = 3 / FPS + 1e-6  # three frames, whatever the rounding of times


def run(clip: Path, mode: str, out: Path) -> tuple[dict, list[dict], float]:
    """The run report, the shots, and the process's CPU seconds for the run."""
    cpu = time.process_time()
    result = vidscope.analyze(
        clip, ["shots"], out, settings={"analyzer.shots.transitions": mode}, force=True
    )
    return result.run_report, result.track("shots"), time.process_time() - cpu


def cost(runs: int, work: Path, inputs: dict[str, Path]) -> list[list[object]]:
    rows = []
    for name, path in inputs.items():
        best: dict[str, tuple[float, float, float, int]] = {}
        for _ in range(runs):
            for mode in MODES:
                report, _, cpu = run(path, mode, work / mode)
                stage = report["stages"]["shots"]
                windows = stage.get("counters", {}).get("transition_windows", 0)
                duration = report["media_duration_s"]
                measured = (cpu / duration, report["rtf"], stage["busy_s"] / duration, windows)
                if mode not in best or measured < best[mode]:
                    best[mode] = measured
        off = best["off"][0]
        for mode in MODES:
            cpu_rtf, wall, busy, windows = best[mode]
            rows.append(
                [
                    name,
                    mode,
                    f"{cpu_rtf:.3f}",
                    f"{cpu_rtf - off:+.3f}",
                    f"{wall:.3f}",
                    f"{busy:.3f}",
                    windows,
                ]
            )
    return rows


def clips(work: Path, mixed: int) -> dict[str, list[tuple[Path, list]]]:
    """The built clips and their true transitions, by set."""
    video = MEDIA / "pyscenedetect/testvideo.mp4"
    sets: dict[str, list[tuple[Path, list]]] = {"testvideo, 1 s each": [], "mixed": []}
    for i, kinds in enumerate((("dissolve", "wipe", "fade"), ("wipe", "fade", "dissolve"))):
        clip = work / f"built{i}.mp4"
        sets["testvideo, 1 s each"].append((clip, build(video, clip, kinds)))
    for seed in range(1, mixed + 1):
        clip = work / f"mixed{seed}.mp4"
        sets["mixed"].append((clip, build_mixed(MEDIA, clip, seed)))
    return sets


def recall(work: Path, mixed: int) -> list[list[object]]:
    rows = []
    for name, built in clips(work, mixed).items():
        for mode in ("auto", "all"):
            found = total = extra = 0
            for clip, spans in built:
                _, shots, _ = run(clip, mode, work / f"recall-{mode}")
                got = [s["transition_in"] for s in shots[1:]]
                hits = [
                    t
                    for t in spans
                    if any(
                        g["type"] == t.kind
                        and abs(g["start"] - t.start) <= TOLERANCE
                        and abs(g["end"] - t.end) <= TOLERANCE
                        for g in got
                    )
                ]
                found, total = found + len(hits), total + len(spans)
                extra += sum(
                    not any(g["start"] < t.end and t.start < g["end"] for t in spans) for g in got
                )
            rows.append([name, mode, f"{found}/{total}", extra])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--mixed", type=int, default=8, help="mixed clips (seeds 1..N)")
    parser.add_argument("--recall-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        header = ["set", "mode", "found (type and span)", "boundaries off any transition"]
        print(table(header, recall(work, args.mixed)))
        print()
        if args.recall_only:
            return
        header = [
            "clip",
            "transitions",
            "CPU RTF",
            "added CPU RTF",
            "RTF (wall)",
            "RTF (shots busy)",
            "windows",
        ]
        inputs = {name: MEDIA / name for name in CLIPS}
        # Dissolve-heavy footage: a mixed clip of eight dissolves in 13 s (built by recall).
        inputs[f"mixed seed {DISSOLVING} (built: 8 dissolves in 13 s)"] = (
            work / f"mixed{DISSOLVING}.mp4"
        )
        print(table(header, cost(args.runs, work, inputs)))


if __name__ == "__main__":
    main()

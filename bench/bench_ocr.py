"""What timing text edges between samples costs the ``ocr`` analyzer, and what it buys.

The same engine settings run ``ocr`` (with the ``shots`` track it consumes) twice per input and
run, alternating which goes first: with the edge search (``edge_fps`` 10, the default) and
without it (``edge_fps`` 0: the same analyzer, spans on the 1-per-second samples).  Inputs:
PySceneDetect's ``testvideo.mp4`` (1280x720, 24 s, one burned-in line) and the tests' rendered
clips (640x360, 11 s, over Megamind.avi: four phrases; credits scrolling up, a title fading in
and out, a thin caption).  Reported: OCR busy seconds per video
second (median over runs; wall time inside the analyzer, so it moves with the load of a shared
machine), the same work as CPU seconds of the analyzer's thread alone (the analyzer driven
directly on the frames it asks for, with the shot records of the run, the modes alternating;
least of twice N runs: the figure to compare), the frames the edge search compared by pixels
and read, and on the rendered clips the phrase recall and the worst and mean span-edge error.

    .venv/bin/python bench/bench_ocr.py [--runs 3]

``--backgrounds`` instead renders both clips over PySceneDetect's footage that shows text of its
own (``testvideo.mp4``'s copyright line, ``goldeneye-vfr-drop3.mp4``'s computer screen,
``counter.mp4``'s frame counter) and over FFmpeg's generated testsrc2, colour bars and
mandelbrot, and reports, per clip, the phrase recall, the worst edge error,
the records that mix a phrase with the footage's text, and the frames read (one run each, the
default settings).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from common import MEDIA, ROOT, table

sys.path.insert(0, str(ROOT / "tests"))
from ocr_clips import CREDITS, PHRASES, STRAYS, generated, render, score, words  # the tests'
from vidscope.analyzers.base import Item, TrackRecord
from vidscope.analyzers.settings import load_settings
from vidscope.analyzers.vision.ocr import OcrAnalyzer, OcrParams
from vidscope.engine.local import Engine
from vidscope.media.decode import Decoder
from vidscope.media.probe import probe

MODES = {"edges (edge_fps 10)": 10.0, "no edges (edge_fps 0)": 0.0}


def run(engine: Engine, clip: Path, out: Path) -> dict:
    result = engine.analyze(clip, out)
    track = result.manifest["tracks"]["ocr"]
    assert track["status"] == "complete", track
    duration = result.manifest["media"]["duration"]
    return {
        "busy": track["timings"]["busy_s"] / duration,
        "counters": result.run_report["stages"]["ocr"]["counters"],
        "records": result.track("ocr"),
        "shots": result.track("shots"),
    }


def cpu_seconds(clip: Path, shots: list[dict], runs: int) -> dict[str, float]:
    """Least CPU seconds per video second of the analyzer's own thread over ``runs`` runs of
    each mode, the modes alternating (the least is the run the shared machine disturbed least:
    medians of runs minutes apart moved by 15 % here), after one unmeasured run each."""
    import time

    media = probe(clip)
    setups = {}
    for mode, edge_fps in MODES.items():
        ocr = OcrAnalyzer(OcrParams(edge_fps=edge_fps))
        ocr.setup()
        spec = ocr.requirements().frames
        assert spec is not None
        items: list[Item] = [TrackRecord("shots", r) for r in shots]
        items += [frame for _, frame in Decoder(media, [spec], want_audio=False)]
        setups[mode] = (ocr, items)

    def once(ocr: OcrAnalyzer, items: list[Item]) -> float:
        t0 = time.thread_time()
        state = ocr.start(media, frozenset({"shots"}))
        for i in range(0, len(items), 4):
            ocr.process_batch(state, items[i : i + 4])
        ocr.finish(state)
        return (time.thread_time() - t0) / media.duration

    costs: dict[str, list[float]] = {mode: [] for mode in MODES}
    for i in range(runs + 1):
        for mode in MODES if i % 2 else list(MODES)[::-1]:
            cost = once(*setups[mode])
            if i:
                costs[mode].append(cost)
    for ocr, _ in setups.values():
        ocr.teardown()
    return {mode: min(c) for mode, c in costs.items()}


BACKGROUNDS = (
    "testvideo.mp4",
    "goldeneye-vfr-drop3.mp4",
    "counter.mp4",
    "lavfi:testsrc2",
    "lavfi:smptehdbars",
    "lavfi:mandelbrot",
)
"""Shared clips with text of their own, and FFmpeg's generated footage (a running timecode,
colour bars, a zooming fractal)."""


def backgrounds() -> None:
    """Phrase recall, edges and mixed records over footage with text of its own."""
    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        Engine(load_settings(overrides={"analyzers": ["ocr"]}).settings) as engine,
    ):
        for n, name in enumerate(BACKGROUNDS):
            if name.startswith("lavfi:"):
                footage = generated(name.removeprefix("lavfi:"), Path(tmp) / f"footage{n}.mp4")
            else:
                footage = MEDIA / "pyscenedetect" / name
            for clip, phrases in (("phrases", PHRASES + STRAYS), ("credits", CREDITS)):
                path = render(Path(tmp) / f"{clip}.mp4", footage, phrases)
                got = run(engine, path, Path(tmp) / f"out{n}{clip}")
                truth = PHRASES if clip == "phrases" else CREDITS
                s = score(got["records"], truth)
                said = [words(p.text) for p in truth]
                mixed = [
                    r
                    for r in got["records"]
                    if any(w in words(r["text"]) for w in said) and words(r["text"]) not in said
                ]
                c = got["counters"]
                rows.append(
                    [
                        name,
                        clip,
                        f"{s.recall:.2f}",
                        f"{s.worst_edge:.2f}",
                        len(mixed),
                        c["frames_read"],
                        c["edge_frames_read"],
                    ]
                )
    print(
        table(
            [
                "footage",
                "clip",
                "phrase recall",
                "worst edge error s",
                "records mixing a phrase with other text",
                "frames read",
                "edge frames read",
            ],
            rows,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backgrounds", action="store_true", help=backgrounds.__doc__)
    args = parser.parse_args()
    if args.backgrounds:
        backgrounds()
        return
    with tempfile.TemporaryDirectory() as tmp:
        inputs = {
            "testvideo.mp4 (720p)": MEDIA / "pyscenedetect" / "testvideo.mp4",
            "rendered phrases (360p)": render(
                Path(tmp) / "phrases.mp4", MEDIA / "debian" / "Megamind.avi"
            ),
            "rendered credits (360p)": render(
                Path(tmp) / "credits.mp4", MEDIA / "debian" / "Megamind.avi", CREDITS
            ),
        }
        truth = {"rendered phrases (360p)": PHRASES, "rendered credits (360p)": CREDITS}
        engines = {
            mode: Engine(
                load_settings(
                    overrides={"analyzers": ["ocr"], "analyzer.ocr.edge_fps": fps}
                ).settings
            )
            for mode, fps in MODES.items()
        }
        found: dict[tuple[str, str], list[dict]] = {}
        n = 0
        for i in range(args.runs):
            order = list(MODES) if i % 2 == 0 else list(MODES)[::-1]
            for name, clip in inputs.items():
                for mode in order:
                    n += 1
                    found.setdefault((name, mode), []).append(
                        run(engines[mode], clip, Path(tmp) / f"out{n}")
                    )
        for engine in engines.values():
            engine.close()
        cpu = {}
        for name, clip in inputs.items():
            shots = found[(name, next(iter(MODES)))][0]["shots"]
            least = cpu_seconds(clip, shots, 2 * args.runs)
            cpu.update(((name, mode), c) for mode, c in least.items())
    rows = []
    for name in inputs:
        base = statistics.median(r["busy"] for r in found[(name, list(MODES)[1])])
        base_cpu = cpu[(name, list(MODES)[1])]
        for mode in MODES:
            runs = found[(name, mode)]
            busy = statistics.median(r["busy"] for r in runs)
            c = runs[0]["counters"]
            row = [
                name,
                mode,
                f"{busy:.3f}",
                f"{busy / base:.3f}",
                f"{cpu[(name, mode)]:.3f}",
                f"{cpu[(name, mode)] / base_cpu:.3f}",
                c["frames_read"],
                c["edge_frames_compared"],
                c["edge_frames_read"],
            ]
            if name in truth:
                s = score(runs[0]["records"], truth[name])
                mean = statistics.fmean(s.edge_errors) if s.edge_errors else float("nan")
                row += [f"{s.recall:.2f}", f"{s.worst_edge:.2f}", f"{mean:.3f}", len(s.unlisted)]
            else:
                row += ["", "", "", ""]
            rows.append(row)
    print(
        table(
            [
                "input",
                "mode",
                "OCR busy s / video s",
                "vs no edges",
                "OCR CPU s / video s",
                "vs no edges",
                "frames read",
                "edge frames compared",
                "edge frames read",
                "phrase recall",
                "worst edge error s",
                "mean edge error s",
                "unlisted texts",
            ],
            rows,
        )
    )
    print(f"\n{args.runs} runs per mode and input, alternating order; medians.")


if __name__ == "__main__":
    main()

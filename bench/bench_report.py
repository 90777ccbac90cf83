"""The HTML report of a 3-minute video: file size, build time, load time in headless Chromium
and the latency of a search keystroke.

The input is real media: Megamind.avi's picture looped to 3 minutes with faster-whisper's
60-second multilingual speech sample looped three times as its sound (stream copy into
Matroska, MPEG-4 Part 2 video: browsers cannot play it, so the report embeds a keyframe per
shot, the larger case).  vidscope analyses it once (a re-run reuses the finished tracks).  Its
real transcript has a few hundred words, so a copy of the bundle gets a synthetic transcript
of ``--words`` words as the worst case.

Load: navigation start to the page's ``load`` event, and to ``window.__vidscopeReady`` (every
lane built and laid out); median of ``--runs`` fresh pages.  Keystroke: time from an ``input``
event on the search box to the end of the next frame, per character typed and for clearing.

    .venv/bin/python bench/bench_report.py [--runs 5] [--words 5000]
"""

from __future__ import annotations

import argparse
import heapq
import json
import shutil
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import av
import orjson

from common import BIN, MEDIA, ROOT, table, timed, vidscope
from loop_media import looped_packets
from vidscope.report import write_report

ANALYZERS = [
    "shots", "transcript", "speech", "visual_stats", "audio_features", "audio_events",
    "audio_class", "faces", "pose", "segmentation",
]  # fmt: skip
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
QUERY = "the"

KEYSTROKES = """async (query) => {
  const box = document.getElementById("q");
  const frame = () => new Promise((done) => requestAnimationFrame(() => setTimeout(done)));
  const times = [];
  for (const value of [...[...query].map((_, i) => query.slice(0, i + 1)), ""]) {
    await frame();
    const t0 = performance.now();
    box.value = value;
    box.dispatchEvent(new Event("input"));
    await frame();
    times.push(performance.now() - t0);
  }
  return times;
}"""


def _tagged(k: int, src: Path, kind: str, seconds: float) -> Iterator[tuple[float, int, av.Packet]]:
    """``src``'s looped packets of one kind, tagged with the source's position ``k``."""
    for ts, _, packet in looped_packets(src, [kind], seconds):
        yield ts, k, packet


def make_input(dst: Path, seconds: float) -> None:
    """Megamind's picture and the multilingual speech sample, each looped to ``seconds``."""
    sources = [
        (MEDIA / "debian/Megamind.avi", "video"),
        (MEDIA / "faster-whisper/multilingual.mp3", "audio"),
    ]
    with av.open(str(dst), "w", format="matroska") as out:
        streams = []
        for src, kind in sources:
            with av.open(str(src)) as inp:
                streams.append(out.add_stream_from_template(getattr(inp.streams, kind)[0]))
        feeds = [_tagged(k, src, kind, seconds) for k, (src, kind) in enumerate(sources)]
        for _, k, packet in heapq.merge(*feeds, key=lambda item: item[0]):
            packet.stream = streams[k]
            out.mux(packet)


def inject_words(src: Path, dst: Path, words: int) -> None:
    """Copy a bundle, replacing its transcript with ``words`` words spread over the media in
    segments of 12, drawn from the real transcript's vocabulary."""
    shutil.copytree(src, dst, dirs_exist_ok=True)
    manifest = json.loads((src / "manifest.json").read_text())
    lines = (src / "tracks" / "transcript.jsonl").read_bytes().splitlines()
    vocabulary = [w["word"] for line in lines for w in orjson.loads(line).get("words") or []]
    vocabulary = vocabulary or [" word"]
    start = manifest["media"]["start"]
    step = manifest["media"]["duration"] / words
    records = []
    for first in range(0, words, 12):
        chunk = [
            {"word": vocabulary[k % len(vocabulary)], "start": round(start + k * step, 3),
             "end": round(start + (k + 0.8) * step, 3), "probability": 0.9}
            for k in range(first, min(words, first + 12))
        ]  # fmt: skip
        text = "".join(w["word"] for w in chunk).strip()
        records.append({"start": chunk[0]["start"], "end": chunk[-1]["end"], "text": text,
                        "language": "en", "words": chunk})  # fmt: skip
    (dst / "tracks" / "transcript.jsonl").write_bytes(
        b"".join(orjson.dumps(r) + b"\n" for r in records)
    )
    manifest["tracks"]["transcript"]["records"] = len(records)
    (dst / "manifest.json").write_text(json.dumps(manifest, indent=2))


def measure_build(bundle: Path, html: Path, runs: int) -> tuple[float, int, str | None]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        written = write_report(bundle, html)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), written.size, written.note


def measure_page(browser, html: Path, runs: int) -> dict[str, float]:
    loads, readies, keys = [], [], []
    for _ in range(runs):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(html.as_uri(), wait_until="load")
        page.wait_for_function("window.__vidscopeReady")
        loads.append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
        readies.append(page.evaluate("window.__vidscopeReady"))
        keys += page.evaluate(KEYSTROKES, QUERY)
        page.close()
    return {
        "load": statistics.median(loads),
        "ready": statistics.median(readies),
        "key": statistics.median(keys),
        "key_max": max(keys),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--words", type=int, default=5000)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--work", type=Path, default=ROOT / "out" / "bench-report")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.work.mkdir(parents=True, exist_ok=True)
    clip = args.work / "input.mkv"
    if not clip.exists():
        make_input(clip, args.minutes * 60)
    _, proc = timed([str(BIN / "vidscope"), "analyzers", "--json"])
    available = {a["name"] for a in json.loads(proc.stdout) if a["available"]}
    analyzers = [a for a in ANALYZERS if a in available]
    bundle = args.work / "bundle"
    wall, _ = vidscope("analyze", str(clip), "-o", str(bundle), "-a", ",".join(analyzers), "-q")
    manifest = json.loads((bundle / "manifest.json").read_text())
    real_words = sum(
        len(orjson.loads(line).get("words") or [])
        for line in (bundle / "tracks" / "transcript.jsonl").read_bytes().splitlines()
    )
    dense = args.work / "bundle-words"
    inject_words(bundle, dense, args.words)

    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for name, path, words in (
            ("real transcript", bundle, real_words),
            (f"{args.words} words injected", dense, args.words),
        ):
            html = args.work / f"{path.name}.html"
            build, size, note = measure_build(path, html, 3)
            page = measure_page(browser, html, args.runs)
            rows.append([
                name, words, manifest["tracks"]["shots"]["records"], f"{size / 1e6:.2f} MB",
                f"{build:.2f} s", f"{page['load']:.0f} ms", f"{page['ready']:.0f} ms",
                f"{page['key']:.1f} / {page['key_max']:.1f} ms",
            ])  # fmt: skip
        browser.close()
    duration = manifest["media"]["duration"]
    print(f"input: {duration:.0f} s ({clip.name}); analyzers: {', '.join(analyzers)} "
          f"(analysis wall {wall:.0f} s, finished tracks reused); picture: {note}\n")  # fmt: skip
    print(table(["bundle", "words", "shots", "HTML", "build (median of 3)", "load (median)",
                 "lanes ready (median)", f"keystroke '{QUERY}' median / max"], rows))  # fmt: skip
    print(f"\n.venv/bin/python bench/bench_report.py --runs {args.runs} --words {args.words}")


if __name__ == "__main__":
    main()

"""The search index at 1,000 bundles: its size, how fast bundles go in, how fast queries answer.

Real bundles of four shared clips (every default analyzer: Megamind.avi, testvideo.mp4,
jfk.flac, multilingual.mp3) are copied to ``--bundles`` bundles under new names (track files
hard-linked), indexed into a new file, then queried:

- single term: a word said in one clip (``relief``), a word on screen (``castellano``), a
  label (``objects:person``);
- phrase: ``"a relief to hear"``, ``"ask not what your country"``;
- cross-track: ``objects:person AND relief`` (same shot), ``audio:music AND judge --within 5s``.

Each query runs ``--runs`` times on one open index (20 hits, as ``vidscope search`` shows);
p50 and p95 are of those runs, in wall time and in the CPU time of the querying thread (what
a query costs a core of its own, when other work shares the machine).  A second ``index``
pass over the unchanged bundles measures the incremental check.  Source bundles are analysed
once into ``--sources`` and reused.

    .venv/bin/python bench/bench_search.py [--bundles 1000] [--runs 50] [--sources DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from common import MEDIA, table, vidscope
from vidscope.search import SearchIndex, parse_query, search
from vidscope.search.index import find_bundles

CLIPS = [
    "debian/Megamind.avi",
    "pyscenedetect/testvideo.mp4",
    "faster-whisper/jfk.flac",
    "faster-whisper/multilingual.mp3",
]
QUERIES = [
    ("single term", "relief", None),
    ("single term", "castellano", None),
    ("single term", "objects:person", None),
    ("phrase", '"a relief to hear"', None),
    ("phrase", '"ask not what your country"', None),
    ("cross-track", "objects:person AND relief", None),
    ("cross-track", "audio:music AND judge", 5.0),
]


def sources(folder: Path) -> list[Path]:
    out = []
    for clip in CLIPS:
        bundle = folder / Path(clip).stem
        if not (bundle / "manifest.json").exists():
            vidscope("analyze", str(MEDIA / clip), "-o", str(bundle), "-q")
        out.append(bundle)
    return out


def copies(originals: list[Path], n: int, into: Path) -> list[Path]:
    """``n`` bundles named anew, round-robin over ``originals`` (track files hard-linked)."""
    out = []
    for k in range(n):
        source = originals[k % len(originals)]
        target = into / f"{k:05d}-{source.name}"
        shutil.copytree(source, target, copy_function=os.link)
        out.append(target)
    return out


def ms(seconds: list[float], q: float) -> str:
    return f"{statistics.quantiles(seconds, n=100)[q - 1] * 1000:.1f}" if len(seconds) > 1 else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--sources", type=Path, default=Path("out/bench-search-sources"))
    args = parser.parse_args()
    originals = sources(args.sources)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "bundles"
        copies(originals, args.bundles, folder)
        path = Path(tmp) / "search.sqlite3"
        with SearchIndex(path) as ix:
            t0 = time.perf_counter()
            for bundle in find_bundles([folder]):
                ix.add(bundle)
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            for bundle in find_bundles([folder]):
                ix.add(bundle)
            again = time.perf_counter() - t0
            ix.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            stats = ix.stats()
            rows = []
            load = os.getloadavg()[0]
            for kind, text, within in QUERIES:
                query = parse_query(text)
                times, cpu, found = [], [], 0
                for _ in range(args.runs):
                    t, c = time.perf_counter(), time.thread_time()
                    page = search(ix.db, query, within=within, limit=20)
                    times.append(time.perf_counter() - t)
                    cpu.append(time.thread_time() - c)
                    found = len(page.hits)
                label = text + (f" (within {within:g} s)" if within else "")
                rows.append(
                    [
                        kind,
                        f"`{label}`",
                        found,
                        ms(times, 50),
                        ms(times, 95),
                        ms(cpu, 50),
                        ms(cpu, 95),
                    ]
                )
        cli, _ = vidscope("search", "relief", "--index", str(path), "--json")
    n = stats["bundles"]
    cores = os.cpu_count()
    print(f"{n} bundles ({len(originals)} clips), {stats['moments']} moments; {cores} cores")
    print(
        table(
            ["index size", "first indexing", "rate", "second pass (unchanged)"],
            [
                [
                    f"{stats['bytes'] / 1e6:.1f} MB ({stats['bytes'] / n / 1e3:.1f} kB a bundle)",
                    f"{first:.1f} s",
                    f"{n / first:.0f} bundles/s, {stats['moments'] / first:.0f} moments/s",
                    f"{again:.2f} s ({again / n * 1000:.2f} ms a bundle)",
                ]
            ],
        )
    )
    print()
    print(f"load average before the queries: {load:.1f}")
    header = ["query", "text", "hits (max 20)", "p50 ms", "p95 ms", "CPU p50 ms", "CPU p95 ms"]
    print(table(header, rows))
    print(f"\n`vidscope search relief --json`, whole command: {cli * 1000:.0f} ms")


if __name__ == "__main__":
    main()

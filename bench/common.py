"""Helpers shared by the benchmarks: media lookup, timed subprocesses, markdown tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("VIDSCOPE_TEST_MEDIA", ROOT.parent / "shared" / "media"))
BIN = Path(sys.executable).parent


def timed(cmd: list[str], **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    """Run a command to completion; return its wall time in seconds."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return wall, proc


def vidscope(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    return timed([str(BIN / "vidscope"), *args])


def manifest(bundle: Path) -> dict:
    return json.loads((bundle / "manifest.json").read_text())


def table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)

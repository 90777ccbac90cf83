"""Helpers several analyzers share, each with one home: the shot lookup and box IoU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vidscope.analyzers import boxes, pacing
from vidscope.analyzers.people import faces, worker
from vidscope.analyzers.shot_index import Shot, ShotIndex
from vidscope.analyzers.vision import ocr, text_spans


def _index(*spans: tuple[float, float]) -> ShotIndex:
    shots = ShotIndex()
    for i, (start, end) in enumerate(spans):
        shots.add({"start": start, "end": end, "index": i})
    return shots


def test_shot_lookup_by_time_and_by_window():
    shots = _index((0.0, 2.0), (2.0, 5.0), (5.0, 9.0))
    assert shots.find(2.0) == Shot(2.0, 5.0, 1)  # a shot starts at its cut
    assert shots.at(1.99) == 0
    assert shots.find(9.0) is None and shots.at(-1.0) is None
    assert [s.index for s in shots.between(1.0, 6.0)] == [0, 1, 2]
    assert [s.index for s in shots.between(2.0, 5.0)] == [1]  # touching is not sharing
    assert shots.overlapping(1.5, 4.0) == 1
    assert shots.until == 9.0


def test_shot_lookup_forgets_what_it_has_passed():
    shots = _index((0.0, 2.0), (2.0, 5.0), (5.0, 9.0))
    shots.prune(5.0)
    assert len(shots) == 1
    assert shots.at(1.0) is None and shots.at(6.0) == 2


def test_iou():
    assert boxes.iou((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)
    assert boxes.iou([0, 0, 1, 1], [0, 0, 1, 1]) == 1.0
    assert boxes.iou((0, 0, 1, 1), (1, 0, 2, 1)) == 0.0  # edges touch
    assert boxes.iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_one_home_for_iou_and_the_shot_lookup():
    assert text_spans.iou is boxes.iou and faces.iou is boxes.iou and worker.iou is boxes.iou
    assert ocr.ShotIndex is ShotIndex and pacing.ShotIndex is ShotIndex


def test_the_worker_run_by_path_loads_the_same_iou():
    """The people worker runs by path in an environment without vidscope (``-I``: no user
    site, no ``PYTHONPATH``), so it reads the box geometry from its file."""
    code = (
        "import runpy, sys\n"
        "found = runpy.run_path(sys.argv[1])\n"
        "iou = found['iou']\n"
        "print(iou.__code__.co_filename, iou((0, 0, 2, 2), (1, 1, 3, 3)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-c", code, worker.__file__],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(worker.__file__).parent,
    )
    assert proc.returncode == 0, proc.stderr
    filename, value = proc.stdout.split()
    assert Path(filename) == Path(boxes.__file__).resolve()
    assert float(value) == pytest.approx(1 / 7)

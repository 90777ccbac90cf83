"""Per-second picture statistics on known pictures and on a clip with fades through black."""

from __future__ import annotations

import numpy as np
import pytest

import vidscope
from vidscope.analyzers.visual_stats import frame_stats


def test_known_pictures():
    red = np.zeros((2, 30, 40, 3), np.uint8)
    red[..., 2], red[..., 1], red[..., 0] = 200, 40, 40  # BGR
    grey = np.full((1, 30, 40, 3), 128, np.uint8)
    rows, luma = frame_stats(np.concatenate([red, grey]), None, 0.15)
    # Flat red: rg = 160, yb = 0.5 * (200 + 40) - 40 = 80, no spread: M = 0.3 * |(160, 80)|.
    assert rows[0]["colourfulness"] == pytest.approx(0.3 * np.hypot(160, 80), rel=1e-5)
    assert rows[0]["brightness"] == pytest.approx((0.299 * 200 + 0.587 * 40 + 0.114 * 40) / 255)
    assert rows[0]["motion"] is None and rows[1]["motion"] == pytest.approx(0.0)
    assert rows[2]["colourfulness"] == pytest.approx(0.0)
    assert rows[2]["motion"] == pytest.approx(abs(128 / 255 - rows[0]["brightness"]), rel=1e-5)
    assert rows[2]["dark_share"] == 0.0 and luma.shape == (30, 40)


def test_a_frame_counts_the_same_alone_or_in_a_batch():
    frames = np.random.default_rng(3).integers(0, 256, (6, 24, 32, 3), dtype=np.uint8)
    together, _ = frame_stats(frames, None, 0.3)
    alone, previous = [], None
    for frame in frames:
        rows, previous = frame_stats(frame[None], previous, 0.3)
        alone += rows
    assert together == alone


def test_fades_through_black_are_the_darkest_seconds(media, tmp_path):
    result = vidscope.analyze(
        media("pyscenedetect/fades.mp4"), ["shots", "visual_stats"], tmp_path / "fades"
    )
    seconds = result.track("visual_stats")
    assert len(seconds) == 10
    # The clip fades in from black, and through black at its two shot boundaries.
    fades = {0} | {int(s["start"]) for s in result.track("shots")[1:]}
    assert fades == {0, 3, 6}
    darkest = sorted(range(10), key=lambda k: seconds[k]["brightness"])[:3]
    assert set(darkest) == fades
    for k, second in enumerate(seconds):
        assert (second["dark_share"] >= 0.5) == (k in fades)
        # A grey picture: hardly any colour.
        assert second["colourfulness"] < 2

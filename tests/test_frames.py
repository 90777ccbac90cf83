"""Decoded frames keep the stream's exact clock (PTS and time base), seconds are derived from
it, and the decoder's types live below the analyzers."""

from __future__ import annotations

import itertools
import pickle
import subprocess
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from synth import make_video
from vidscope.media.decode import Decoder
from vidscope.media.frames import Frame, FrameSpec
from vidscope.media.probe import probe


def test_frames_carry_the_containers_timestamps_on_a_variable_frame_rate(media):
    clip = media("pyscenedetect/goldeneye-vfr-drop3.mp4")
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        expected = [(f.pts, f.duration) for f in container.decode(stream)]
        time_base = stream.time_base
    frames = [f for _, f in Decoder(probe(clip), [FrameSpec(width=64)], False)]
    assert [(f.pts, f.duration_ticks) for f in frames] == expected
    assert {f.time_base for f in frames} == {time_base}
    # The dropped frames leave gaps: the exact times are not a multiple of one frame period.
    steps = {b.pts - a.pts for a, b in itertools.pairwise(frames)}
    assert len(steps) > 1
    for f in frames:
        assert f.time == round(float(f.pts * f.time_base), 6)
        assert f.duration == float(f.duration_ticks * f.time_base)
    # Frames cross to worker processes with their clock intact.
    again = pickle.loads(pickle.dumps(frames[-1]))
    assert (again.pts, again.duration_ticks, again.time_base) == (
        frames[-1].pts,
        frames[-1].duration_ticks,
        frames[-1].time_base,
    )
    assert again.time == frames[-1].time


def test_seconds_are_exact_on_many_hour_clocks():
    # 30 hours into an NTSC stream on a 90 kHz clock, and a frame-counted 29.97 clock: the
    # derived seconds are the exact rational time rounded once, however far from the start.
    image = np.zeros((2, 2), np.uint8)
    for time_base in (Fraction(1, 90000), Fraction(1001, 30000), Fraction(1, 1200000)):
        for pts in (0, 1, 3003 * 3_237_000 + 1501, 10**12 + 7, 2**33 - 1):
            frame = Frame(0, pts, 3003, time_base, image)
            assert frame.time == round(float(pts * time_base), 6)
            assert frame.duration == float(3003 * time_base)


def _raw_h264(path: Path, count: int, fps: int) -> None:
    """An H.264 elementary stream: its frames come out of the decoder with no PTS or DTS."""
    with av.open(str(path), "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


def test_frames_without_timestamps_follow_each_other(tmp_path):
    clip = tmp_path / "raw.h264"
    _raw_h264(clip, 50, 25)
    with av.open(str(clip)) as container:
        assert all(f.pts is None and f.dts is None for f in container.decode(video=0))
    # probe() cannot read a raw elementary stream (it cannot seek one), so the stream
    # description comes from the same picture size and rate in an MP4.
    make_video(tmp_path / "same.mp4", [2.0], fps=25, size=(64, 64))
    info = replace(probe(tmp_path / "same.mp4"), path=str(clip))
    frames = [f for _, f in Decoder(info, [FrameSpec()], False)]
    assert len(frames) == 50
    for k, f in enumerate(frames):
        assert f.pts * f.time_base == Fraction(k, 25)
        assert f.time == round(k / 25, 6)


def test_media_does_not_import_the_analyzers():
    code = (
        "import sys, vidscope.media.decode, vidscope.media.frames; "
        "print(sorted(m for m in sys.modules if m.startswith('vidscope.analyzers')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

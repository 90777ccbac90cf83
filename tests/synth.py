"""Synthetic media with known ground truth, written with PyAV inside the tests."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

PALETTE = [(200, 40, 40), (40, 180, 60), (30, 60, 200), (220, 200, 40), (150, 50, 170)]


def scene_frame(colour: tuple[int, int, int], i: int, w: int, h: int, seed: int) -> np.ndarray:
    """A textured frame: a coloured background with a moving square, distinct per scene."""
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = colour
    img += rng.integers(0, 20, size=(h, w, 1), dtype=np.uint8)
    s = max(4, h // 5)
    x = (i * 3) % max(1, w - s)
    img[h // 3 : h // 3 + s, x : x + s] = 255 - np.array(colour, np.uint8)
    return img


def h264_stream(out: Any, fps: int, size: tuple[int, int], crf: int = 23) -> Any:
    """A fast H.264 (yuv420p) video stream added to the open container ``out``."""
    stream = out.add_stream("libx264", rate=fps)
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    stream.options = {"preset": "ultrafast", "crf": str(crf)}
    return stream


def encode_frames(
    out: Any, stream: Any, images: Iterable[np.ndarray], fps: int, fmt: str = "rgb24"
) -> int:
    """Encode ``images`` at ``fps`` into ``stream`` of ``out`` and flush it; return the count."""
    n = 0
    for image in images:
        frame = av.VideoFrame.from_ndarray(image, format=fmt)
        frame.pts, frame.time_base = n, Fraction(1, fps)
        for packet in stream.encode(frame):
            out.mux(packet)
        n += 1
    for packet in stream.encode():
        out.mux(packet)
    return n


def make_video(
    path: Path,
    scene_seconds: list[float],
    *,
    fps: int = 25,
    size: tuple[int, int] = (320, 240),
    tone_hz: float | None = None,
    rotate: int = 0,
) -> list[float]:
    """Write an H.264 MP4 whose scenes change abruptly; return the cut times in seconds."""
    w, h = size
    counts = [round(seconds * fps) for seconds in scene_seconds]
    cuts = [sum(counts[:k]) / fps for k in range(1, len(counts))]
    images = (
        scene_frame(PALETTE[k % len(PALETTE)], n, w, h, k)
        for n, k in enumerate(k for k, count in enumerate(counts) for _ in range(count))
    )
    with av.open(str(path), "w") as out:
        vs = h264_stream(out, fps, size)
        if rotate:
            vs.metadata["rotate"] = str(rotate)
        a_stream = None
        if tone_hz is not None:
            a_stream = out.add_stream("aac", rate=44100)
            a_stream.layout = "mono"
        n = encode_frames(out, vs, images, fps)
        if a_stream is not None:
            total = n / fps
            t = np.arange(int(total * 44100)) / 44100
            pcm = (0.3 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
            for i in range(0, len(pcm), 1024):
                block = pcm[i : i + 1024].reshape(1, -1)
                af = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
                af.sample_rate = 44100
                af.pts = i
                af.time_base = Fraction(1, 44100)
                for packet in a_stream.encode(af):
                    out.mux(packet)
            for packet in a_stream.encode():
                out.mux(packet)
    return cuts


def make_audio(
    path: Path, samples: np.ndarray, rate: int = 16000, channels: int = 1, codec: str = "pcm_s16le"
) -> Path:
    """Write float samples (shape (n,) or (channels, n)) as 16-bit audio with ``codec``, in
    the container the file name says (``.wav``, ``.mp2``, ...)."""
    data = np.broadcast_to(np.atleast_2d(samples), (channels, np.shape(samples)[-1]))
    layout = {1: "mono", 2: "stereo", 6: "5.1"}[channels]
    with av.open(str(path), "w") as out:
        st = out.add_stream(codec, rate=rate)
        st.layout = layout
        pcm = (np.clip(data, -1, 1) * 32767).astype(np.int16)
        interleaved = np.ascontiguousarray(pcm.T).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout=layout)
        frame.sample_rate = rate
        for packet in st.encode(frame):
            out.mux(packet)
        for packet in st.encode():
            out.mux(packet)
    return path

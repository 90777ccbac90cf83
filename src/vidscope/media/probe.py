"""Probe a media file with PyAV: streams, duration, frame rate, VFR, rotation.

Probing also decodes the first frame of each stream, because a container that opens is not
yet a file that decodes (a truncated MP4 or a text file named ``.mp4`` must fail here, with a
clear message, before any analyzer starts).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from vidscope.errors import InputError


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    width: int
    height: int
    fps: float
    """Nominal frame rate (the stream's guessed/real base rate)."""
    average_fps: float
    time_base: str
    frames: int | None
    vfr: bool
    rotation: int
    pix_fmt: str | None


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int
    layout: str


@dataclass(frozen=True)
class MediaInfo:
    """What the engine and the manifest know about one input."""

    path: str
    format: str
    size: int
    start: float
    """Media start time in seconds, in the file's own time base (may be > 0)."""
    duration: float
    video: VideoInfo | None
    audio: AudioInfo | None
    fingerprint: str

    @property
    def end(self) -> float:
        return self.start + self.duration

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fingerprint(path: Path, block: int = 1 << 20) -> str:
    """A cheap content fingerprint: size plus SHA-256 of the first and last MiB.

    Hashing a multi-GB file on every run would cost seconds; size + head + tail tells apart
    every realistic pair of distinct media files while staying O(1).
    """
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with path.open("rb") as f:
        h.update(f.read(block))
        if size > block:
            f.seek(max(block, size - block))
            h.update(f.read(block))
    return h.hexdigest()[:32]


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _rotation(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    with contextlib.suppress(Exception):
        container.seek(0)
    try:
        for frame in container.decode(stream):
            return int(getattr(frame, "rotation", 0) or 0) % 360
    except av.error.FFmpegError as exc:
        raise InputError(f"cannot decode the video stream: {exc}") from None
    raise InputError("the video stream contains no decodable frames")


def _first_audio_frame(container: av.container.InputContainer, stream: Any) -> None:
    with contextlib.suppress(Exception):
        container.seek(0)
    errors = 0
    for packet in container.demux(stream):
        try:
            for _ in packet.decode():
                return
        except av.error.FFmpegError:
            # One damaged packet (e.g. a broken AC3 frame) is not a broken stream.
            errors += 1
            if errors > 50:
                break
    raise InputError("the audio stream contains no decodable samples")


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Read stream information; raise :class:`InputError` with a clear reason if unusable."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not a media file")
    size = p.stat().st_size
    if size == 0:
        raise InputError(f"{p}: empty file (0 bytes)")
    try:
        container = av.open(str(p))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{p}: not a readable media file ({exc})") from None
    with container:
        vstreams = list(container.streams.video)
        astreams = list(container.streams.audio)
        if not vstreams and not astreams:
            raise InputError(f"{p}: contains no video or audio stream")
        video = None
        starts: list[float] = []
        durations: list[float] = []
        if vstreams:
            vs = vstreams[0]
            cc = vs.codec_context
            nominal = vs.guessed_rate or vs.base_rate or vs.average_rate or Fraction(25)
            average = vs.average_rate or nominal
            tb = vs.time_base
            vfr = abs(float(average) - float(nominal)) > 0.01 * float(nominal)
            try:
                rotation = _rotation(container, vs)
            except InputError as exc:
                raise InputError(f"{p}: {exc}") from None
            video = VideoInfo(
                codec=cc.name,
                width=cc.width,
                height=cc.height,
                fps=float(nominal),
                average_fps=float(average),
                time_base=str(tb),
                frames=vs.frames or None,
                vfr=vfr,
                rotation=rotation,
                pix_fmt=cc.pix_fmt,
            )
            if (s := _seconds(vs.start_time, tb)) is not None:
                starts.append(s)
            if (d := _seconds(vs.duration, tb)) is not None:
                durations.append(d)
        audio = None
        if astreams:
            a = astreams[0]
            try:
                _first_audio_frame(container, a)
            except InputError as exc:
                if video is None:
                    raise InputError(f"{p}: {exc}") from None
            else:
                audio = AudioInfo(
                    codec=a.codec_context.name,
                    sample_rate=a.rate or 0,
                    channels=a.channels or 0,
                    layout=a.layout.name if a.layout else "",
                )
                if (s := _seconds(a.start_time, a.time_base)) is not None:
                    starts.append(s)
                if (d := _seconds(a.duration, a.time_base)) is not None:
                    durations.append(d)
        start = min(starts) if starts else 0.0
        if container.duration:
            duration = container.duration / av.time_base
        elif durations:
            duration = max(durations)
        else:
            duration = 0.0
        if duration <= 0:
            raise InputError(f"{p}: zero-length media (duration 0 s)")
        return MediaInfo(
            path=str(p),
            format=container.format.name,
            size=size,
            start=round(start, 6),
            duration=round(duration, 6),
            video=video,
            audio=audio,
            fingerprint=fingerprint(p),
        )

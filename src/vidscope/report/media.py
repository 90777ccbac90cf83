"""The report's picture: find the analysed file, decide whether a browser can play it, and
decode one small JPEG keyframe per shot (PyAV's MJPEG encoder, no imaging library)."""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import quote

import av
import numpy as np

from vidscope.media.decode import rotate, scaled_size
from vidscope.media.probe import fingerprint
from vidscope.media.stills import frames_at

KEYFRAME_WIDTH = 240

# What current Chromium and Firefox play: containers by PyAV format name, codecs by
# decoder name (PyAV reports decoders, e.g. mp3float for MP3).
_CONTAINERS = {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "mp3", "ogg", "flac", "wav"}
_VIDEO_CODECS = {"h264", "vp8", "vp9", "av1", "libdav1d", "libvpx", "libvpx-vp9"}
_AUDIO_CODECS = {"aac", "mp3", "mp3float", "opus", "libopus", "vorbis", "libvorbis", "flac"}


def locate(result_dir: Path, manifest: dict[str, Any]) -> Path | None:
    """The analysed file, if it is still where the bundle says (a relative path is tried from
    the working directory, the bundle and the bundle's parent) and unchanged (fingerprint)."""
    media = manifest.get("media", {})
    source = manifest.get("source", {})
    names = dict.fromkeys(p for p in (source.get("path"), media.get("path")) if p)
    for name in names:
        path = Path(name)
        bases = [Path()] if path.is_absolute() else [Path.cwd(), result_dir, result_dir.parent]
        for base in bases:
            candidate = base / path
            if candidate.is_file() and (
                not media.get("fingerprint") or fingerprint(candidate) == media["fingerprint"]
            ):
                return candidate.resolve()
    return None


def unplayable(media: dict[str, Any], path: Path) -> str | None:
    """Why browsers cannot play this file (None when they can)."""
    fmt = str(media.get("format", ""))
    video, audio = media.get("video"), media.get("audio")
    if fmt not in _CONTAINERS or (fmt == "matroska,webm" and path.suffix.lower() != ".webm"):
        return f"browsers do not play {path.suffix.lstrip('.').upper() or fmt} files"
    if video and video.get("codec") not in _VIDEO_CODECS:
        return f"browsers do not play {video.get('codec')} video"
    codec = audio.get("codec") if audio else None
    if codec and codec not in _AUDIO_CODECS and not (fmt == "wav" and codec.startswith("pcm_")):
        return f"browsers do not play {codec} audio"
    return None


def media_url(path: Path, html_dir: Path) -> str:
    """A URL for ``path`` relative to the report's folder, so the pair can be moved together;
    a file:// URL where no relative path exists (another drive)."""
    try:
        relative = os.path.relpath(path, html_dir.resolve())
    except ValueError:
        return path.as_uri()
    return quote(Path(relative).as_posix())


def _jpeg(frame: av.VideoFrame, width: int, rotation: int) -> bytes:
    w, h = scaled_size(frame.width, frame.height, width, rotation)
    if rotation % 360:
        rgb = rotate(frame.reformat(width=w, height=h, format="rgb24").to_ndarray(), rotation)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        w, h = frame.width, frame.height
    # MJPEG needs even dimensions in 4:2:0.
    w, h = w - w % 2, h - h % 2
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = w, h
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    encoder.options = {"qmin": "3", "qmax": "6"}
    image = frame.reformat(width=w, height=h, format="yuvj420p", interpolation="AREA")
    return b"".join(bytes(p) for p in (*encoder.encode(image), *encoder.encode(None)))


def keyframes(
    path: Path, times: Sequence[float], width: int = KEYFRAME_WIDTH, rotation: int = 0
) -> list[str]:
    """JPEG data URIs of the frames shown at ``times`` (ascending seconds, see
    :func:`~vidscope.media.stills.frames_at`); empty when no frame decodes.

    Raises:
        av.FFmpegError: the file cannot be read.
    """
    return [
        "data:image/jpeg;base64," + base64.b64encode(_jpeg(frame, width, rotation)).decode("ascii")
        for frame in frames_at(path, times)
    ]

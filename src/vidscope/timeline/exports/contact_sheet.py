"""Contact sheet: one thumbnail per shot in a grid, labelled with the shot's index and start
timecode, as PNG or JPEG.

Each thumbnail is the frame at the middle of its shot, decoded from the source media named
in the manifest (:func:`~vidscope.media.stills.frames_at`).  The grid is 4 columns wide,
wider for many shots so the sheet stays about square.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import IO

import av

from vidscope.errors import UsageError
from vidscope.media.stills import frames_at
from vidscope.timeline.exports.common import (
    finished_records,
    frame_rate,
    frame_spans,
    media_file,
    media_path,
    optional,
    timecode,
)
from vidscope.timeline.result import Result

THUMB_WIDTH = 320
COLUMNS = 4
PAD = 8
FONT_SIZE = 14
BACKGROUND = (24, 24, 24)
INK = (235, 235, 235)


def _pixel_aspect(path: str) -> float:
    """The video's sample aspect ratio (wider than 1 for anamorphic video), which also shows
    that the file opens before anything is written."""
    try:
        with av.open(path) as container:
            return float(container.streams.video[0].sample_aspect_ratio or 1)
    except (av.error.FFmpegError, IndexError) as exc:
        raise UsageError(f"{path}: cannot read its video for a contact sheet ({exc})") from None


def prepare(result: Result, track: str, fmt: str) -> Callable[[IO[bytes]], int]:
    """Check the track, Pillow and the media file; the writer decodes the thumbnails, draws
    the sheet and returns the number of thumbnails."""
    image_mod = optional("PIL.Image", fmt)
    draw_mod = optional("PIL.ImageDraw", fmt)
    font_mod = optional("PIL.ImageFont", fmt)
    rate = frame_rate(result.media)
    shots = [
        (first, end, r.get("index", i))
        for i, (first, end, r) in enumerate(frame_spans(finished_records(result, track), rate))
    ]
    video = result.media.get("video")
    if video is None:
        raise UsageError(f"{result.path}: the media has no video for a contact sheet")
    path = media_file(result)
    if path is None:
        raise UsageError(
            f"the contact sheet needs the source video, and {media_path(result) or 'none'} "
            "(the manifest's media.path) is not reachable from here"
        )
    if not shots:
        raise UsageError(f"{result.path}: track {track!r} has no records for a contact sheet")

    rotation = int(video.get("rotation") or 0) % 360
    width, height = round(int(video["width"]) * _pixel_aspect(str(path))), int(video["height"])
    if rotation in (90, 270):
        width, height = height, width
    thumb = (THUMB_WIDTH, max(1, round(height * THUMB_WIDTH / width)))
    font = font_mod.load_default(size=FONT_SIZE)
    label_height = FONT_SIZE + PAD
    columns = min(len(shots), max(COLUMNS, math.isqrt(len(shots) - 1) + 1))
    rows = math.ceil(len(shots) / columns)
    cell = (thumb[0] + PAD, thumb[1] + label_height + PAD)

    def write(out: IO[bytes]) -> int:
        sheet = image_mod.new("RGB", (columns * cell[0] + PAD, rows * cell[1] + PAD), BACKGROUND)
        draw = draw_mod.Draw(sheet)
        # Half a frame early: the frame nearest the middle, whatever float rounding does to a
        # middle that falls on a frame's start.
        times = [(first + end) / 2 / rate - 0.5 / rate for first, end, _ in shots]
        frames = frames_at(path, times)
        for n, (first, _, index) in enumerate(shots):
            vf = next(frames, None)
            if vf is None:
                raise UsageError(f"{path}: no video frame decodes for a contact sheet")
            image = vf.to_image()
            if rotation:
                # The display matrix turns counter-clockwise, as Image.rotate does.
                image = image.rotate(rotation, expand=True)
            x = PAD + (n % columns) * cell[0]
            y = PAD + (n // columns) * cell[1]
            sheet.paste(image.resize(thumb, image_mod.Resampling.LANCZOS), (x, y))
            draw.text((x, y + thumb[1] + PAD // 2), f"#{index}  {timecode(first, rate)}", INK, font)
        if fmt == "jpg":
            sheet.save(out, format="JPEG", quality=90)
        else:
            sheet.save(out, format="PNG")
        return len(shots)

    return write

"""CMX 3600 edit decision list of the cuts: one video event per shot.

Written here rather than through OpenTimelineIO: its CMX 3600 adapter left the core package
(a separate plugin since 0.16), and the format is a few fixed columns of text, so an EDL
needs no optional package.

Source and record timecodes are both the media's own clock (the record side reproduces the
original cut, gaps included), in whole frames at the media's frame rate and non-drop-frame
(``FCM: NON-DROP FRAME``): 23.976 and 29.97 media count 24 and 30 frames per timecode
second, the usual convention for NTSC-rate EDLs, so frame numbers match the media exactly
while the timecode runs 0.1 % behind the clock.  The reel is the media file's stem in the
8 characters CMX allows (letters, digits, ``_``), or ``AX`` for a name with none of them;
``* FROM CLIP NAME:`` and ``* SOURCE FILE:`` comments name the file itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import IO

from vidscope.timeline.exports.common import (
    finished_records,
    frame_rate,
    frame_spans,
    media_name,
    media_path,
    timecode,
)
from vidscope.timeline.result import Result

REEL_CHARS = 8


def reel_name(path: str | None) -> str:
    """A CMX reel name for the media file: its sanitised, upper-cased stem, else ``AX``."""
    stem = re.sub(r"[^A-Za-z0-9_]", "", Path(path).stem if path else "")
    return stem[:REEL_CHARS].upper() or "AX"


def prepare(result: Result, track: str, fmt: str = "edl") -> Callable[[IO[str]], int]:
    """Check the track and return the writer, which returns the number of events."""
    records = finished_records(result, track)
    rate = frame_rate(result.media)
    path = media_path(result)
    reel = reel_name(path)
    title = re.sub(r"\s+", " ", media_name(result)).strip() or "vidscope"
    clip_name = Path(path).name if path else title

    def write(out: IO[str]) -> int:
        out.write(f"TITLE: {title}\nFCM: NON-DROP FRAME\n\n")
        events = 0
        for events, (first, end, _) in enumerate(frame_spans(records, rate), 1):
            span = f"{timecode(first, rate)} {timecode(end, rate)}"
            out.write(f"{events:03d}  {reel:<{REEL_CHARS}} V     C        {span} {span}\n")
            out.write(f"* FROM CLIP NAME: {clip_name}\n")
            if path:
                out.write(f"* SOURCE FILE: {path}\n")
            out.write("\n")
        return events

    return write

"""What the export formats share: finished-track records, the media's frame clock and file,
and optional packages imported on demand."""

from __future__ import annotations

import importlib
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from vidscope.errors import UsageError
from vidscope.timeline.result import Result

Record = dict[str, Any]

DEFAULT_RATE = 25.0
"""Frame rate for media without video (an audio file has no frames to count)."""


def finished_records(result: Result, track: str) -> Generator[Record, None, None]:
    """The records of a finished track, or a :class:`UsageError` saying why there are none.

    The check runs at the call, not on the first ``next()``, so a request for a missing or
    failed track fails before anything is written."""
    entry = result.manifest.get("tracks", {}).get(track)
    if entry is None:
        known = ", ".join(result.tracks) or "none"
        raise UsageError(f"{result.path}: no track {track!r} (finished tracks: {known})")
    if entry.get("status") != "complete":
        why = f": {entry['error']}" if entry.get("error") else ""
        raise UsageError(
            f"{result.path}: track {track!r} did not finish ({entry.get('status')}{why})"
        )
    return result.iter_track(track)


def optional(module: str, fmt: str) -> ModuleType:
    """Import a package of the ``export`` extra, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise UsageError(f"{fmt} export needs {package}: pip install 'vidscope[export]'") from None


def frame_rate(media: dict[str, Any]) -> float:
    """The video's frame rate; NTSC rates stored rounded (23.976, 29.97, 59.94) become their
    exact ``N * 1000 / 1001`` so that frame numbers do not drift over a long file."""
    fps = float((media.get("video") or {}).get("fps") or 0.0)
    if fps <= 0:
        return DEFAULT_RATE
    ntsc = round(fps * 1.001) / 1.001
    return ntsc if abs(ntsc - fps) < 0.005 else fps


def frame(seconds: float, rate: float) -> int:
    """The frame that starts at (or nearest to) ``seconds``."""
    return round(float(seconds) * rate)


def frame_spans(records: Iterable[Record], rate: float) -> Iterator[tuple[int, int, Record]]:
    """``(first, end, record)`` per record in whole frames (``end`` exclusive), each starting
    where the previous one ended at the earliest; a record shorter than a frame is left out,
    since a cut list cannot hold it."""
    position = 0
    for record in records:
        first = max(position, frame(record["start"], rate))
        end = frame(record["end"], rate)
        if end > first:
            yield first, end, record
            position = end


def timecode(frames: int, rate: float) -> str:
    """Non-drop-frame ``HH:MM:SS:FF``: frames counted at the whole-number timecode rate, so
    23.976 and 29.97 media count 24 and 30 frames per timecode second (their timecode runs
    0.1 % behind the clock, as on any NTSC non-drop tape)."""
    base = max(1, round(rate))
    seconds, ff = divmod(max(0, frames), base)
    minutes, ss = divmod(seconds, 60)
    hh, mm = divmod(minutes, 60)
    return f"{hh:02d}:{mm:02d}:{ss:02d}:{ff:02d}"


def media_path(result: Result) -> str | None:
    """The source media's path as the manifest records it."""
    path = result.media.get("path") or (result.manifest.get("source") or {}).get("path")
    return str(path) if path else None


def media_file(result: Result) -> Path | None:
    """The source media file when it can be opened from here (relative paths count from the
    working directory, as they did when the bundle was made), else ``None``."""
    candidates = [result.media.get("path"), (result.manifest.get("source") or {}).get("path")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def media_name(result: Result) -> str:
    """A title for the export: the media file's stem, else the bundle's name."""
    path = media_path(result)
    return Path(path).stem if path else result.path.name

"""Exports of a result bundle's tracks to the formats other tools read.

Formats, with the track each exports unless told otherwise:

- ``srt``, ``vtt``, ``txt``: subtitles or lines of text from a track whose records carry
  ``text`` or ``caption`` (``transcript``);
- ``json``: every record of any track (``transcript``);
- ``otio``: an OpenTimelineIO timeline, the shots as clips and other tracks as markers
  (``shots``);
- ``edl``: a CMX 3600 edit decision list, one event per shot (``shots``);
- ``csv``, ``parquet``: any track as a table, nested fields as columns (``shots``);
- ``png``, ``jpg``: a contact sheet, one thumbnail per shot (``shots``).

``contact`` and ``sheet`` name the PNG contact sheet, ``jpeg`` the JPEG one.  Without a
format, the output file's suffix chooses, else ``srt``.  Every problem with a request (an
unknown format or track, a track without text for subtitles, an unreachable media file, a
missing optional package) raises :class:`~vidscope.errors.UsageError` before the first byte
is written.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from vidscope.errors import OutputError, UsageError
from vidscope.timeline.exports import contact_sheet, edl, otio, subtitles, tables
from vidscope.timeline.result import Result

Writer = Callable[[IO[Any]], int]


@dataclass(frozen=True)
class Format:
    """An export format: how to check a request and get its writer."""

    name: str
    binary: bool
    default_track: str
    prepare: Callable[[Result, str, str], Writer]
    """``prepare(result, track, format_name)``: raise :class:`UsageError` for a request that
    cannot be written, else return the writer, which returns how many entries it wrote."""


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("srt", False, "transcript", subtitles.prepare),
        Format("vtt", False, "transcript", subtitles.prepare),
        Format("txt", False, "transcript", subtitles.prepare),
        Format("json", False, "transcript", subtitles.prepare),
        Format("otio", False, "shots", otio.prepare),
        Format("edl", False, "shots", edl.prepare),
        Format("csv", False, "shots", tables.prepare),
        Format("parquet", True, "shots", tables.prepare),
        Format("png", True, "shots", contact_sheet.prepare),
        Format("jpg", True, "shots", contact_sheet.prepare),
    )
}
ALIASES = {"contact": "png", "sheet": "png", "jpeg": "jpg"}


def format_name(fmt: str | None, output: str | os.PathLike[str] | None = None) -> str:
    """The format to write: ``fmt`` (or an alias of one), else the output's suffix, else
    ``srt`` (a name without a suffix).  A suffix that names no format is refused rather than
    guessed: ``-o clip.mp4`` writing subtitles into a file named like a video helps nobody."""
    known = ", ".join([*FORMATS, *ALIASES])
    if fmt is None:
        suffix = Path(output).suffix.lstrip(".").lower() if output is not None else ""
        if suffix and suffix not in FORMATS and suffix not in ALIASES:
            raise UsageError(
                f"cannot tell the export format from {Path(str(output)).name!r}: "
                f"give --format or an output ending in one of: {known}"
            )
        fmt = suffix or "srt"
    name = ALIASES.get(fmt.lower(), fmt.lower())
    if name not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r} (formats: {known})")
    return name


@dataclass(frozen=True)
class Export:
    """A checked export request, ready to write."""

    format: Format
    track: str
    writer: Writer

    def write(self, out: str | os.PathLike[str] | IO[Any]) -> int:
        """Write to a file path or an open stream; returns the entries written.

        A path is written beside the target and renamed over it, so a failed export leaves
        neither a partial file nor the temporary one; a path the file system refuses (a
        missing directory, a full disk, no permission) raises
        :class:`~vidscope.errors.OutputError`.  A text stream given a binary format
        is written through its ``buffer`` (``sys.stdout``); a binary stream given a text
        format gets UTF-8."""
        if isinstance(out, str | os.PathLike):
            path = Path(out)
            tmp = path.with_name(path.name + ".tmp")
            try:
                mode: dict[str, Any] = (
                    {"mode": "wb"}
                    if self.format.binary
                    else {"mode": "w", "encoding": "utf-8", "newline": ""}
                )
                with tmp.open(**mode) as f:
                    count = self.writer(f)
                os.replace(tmp, path)
            except OSError as exc:
                raise OutputError.of(exc, path) from None
            finally:
                tmp.unlink(missing_ok=True)
            return count
        binary_stream = isinstance(out, io.RawIOBase | io.BufferedIOBase)
        if self.format.binary and not binary_stream:
            buffer = getattr(out, "buffer", None)
            if buffer is None:
                raise UsageError(f"{self.format.name} is a binary format: write it to a file")
            out.flush()
            count = self.writer(buffer)
            buffer.flush()
            return count
        if not self.format.binary and binary_stream:
            text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
            try:
                return self.writer(text)
            finally:
                text.detach()  # leaves ``out`` open for the caller
        return self.writer(out)


def prepare(result: Result, track: str | None, fmt: str | None) -> Export:
    """Check a request: ``track`` of ``result`` (``None``: the format's default track) as
    ``fmt`` (a format name or alias, see :data:`FORMATS` and :data:`ALIASES`; ``None``:
    ``srt``)."""
    spec = FORMATS[format_name(fmt)]
    name = track or spec.default_track
    return Export(spec, name, spec.prepare(result, name, spec.name))


def export(
    result: Result, track: str | None, fmt: str | None, out: str | os.PathLike[str] | IO[Any]
) -> int:
    """Write ``track`` of ``result`` (``None``: the format's default) as ``fmt`` to ``out``, a
    path or an open stream; returns the cues, records, clips or thumbnails written.  Without
    ``fmt``, a path's suffix chooses the format.

    Everything that can be wrong with the request is checked before the first byte is written.
    """
    path = out if isinstance(out, str | os.PathLike) else None
    return prepare(result, track, format_name(fmt, path)).write(out)

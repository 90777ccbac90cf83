"""``vidscope report`` and ``vidscope export``: a bundle as an HTML page or in another format.

No postponed annotations: typer reads every command's signature on every invocation (see
:mod:`vidscope.cli`).
"""

import sys
from pathlib import Path
from typing import Annotated

import typer

from vidscope.cli.console import err, fail
from vidscope.errors import VidscopeError


def report(
    bundle: Annotated[Path, typer.Argument(metavar="BUNDLE", help="a result bundle directory")],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            metavar="FILE",
            help="HTML file to write (default: BUNDLE/report.html)",
        ),
    ] = None,
    no_video: Annotated[
        bool,
        typer.Option(
            "--no-video", help="embed one keyframe per shot instead of linking the video file"
        ),
    ] = False,
) -> None:
    """Write one self-contained HTML page: player, timeline of every track, search, run report."""
    from vidscope.report import write_report

    try:
        written = write_report(bundle, output, video=not no_video)
    except VidscopeError as exc:
        raise fail(exc) from None
    err.print(f"wrote {written.path} ({written.size / 1e6:.1f} MB)", highlight=False)
    if written.note:
        err.print(f"note: {written.note}", highlight=False)


def export(
    bundle: Annotated[Path, typer.Argument(metavar="BUNDLE", help="a result bundle directory")],
    format_: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help="srt, vtt, txt, json, otio, edl, csv, parquet, png or jpg (contact sheet) "
            "(default: -o's suffix, else srt)",
        ),
    ] = None,
    track: Annotated[
        str | None,
        typer.Option(
            "--track",
            "-t",
            metavar="TRACK",
            help="track to export (default: transcript for srt/vtt/txt/json, else shots)",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", metavar="FILE", help="file to write (default: stdout)"),
    ] = None,
) -> None:
    """Export a track as subtitles, text, JSON, an OpenTimelineIO timeline, an EDL, a CSV or
    Parquet table, or a contact sheet of the shots."""
    from vidscope.timeline.exports import format_name, prepare
    from vidscope.timeline.result import Result

    try:
        job = prepare(Result(bundle), track, format_name(format_, output))
        # A file is written beside the target and renamed, so a failed export leaves no
        # partial file.
        count = job.write(output if output is not None else sys.stdout)
    except VidscopeError as exc:
        raise fail(exc) from None
    if output is not None:
        err.print(f"wrote {count} {job.format.name} entries of {job.track!r} to {output}")

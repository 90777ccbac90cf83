"""``vidscope compare``: the vision-language models of finished bundles side by side, one row
per model and video: the video's length, its shots, the time the model was busy and the
real-time factor (that time over the length).

A row gathers the caption tracks (``captions``, ``shot_captions``, ``summary``, and their
per-model variants ``NAME@MODEL``) of one bundle that name the same model; their busy times
add up.  Run the same videos once per model (``-o out/<model>``), then compare the folders.

No postponed annotations: typer reads every command's signature on every invocation (see
:mod:`vidscope.cli`).
"""

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from vidscope.cli.console import fail, out
from vidscope.errors import InputError, VidscopeError

CAPTION_ANALYZERS = ("captions", "shot_captions", "summary")
COLUMNS = ("model", "video", "length s", "shots", "captions", "VLM s", "RTF", "tracks")


@dataclass
class Row:
    """One model on one video."""

    model: str
    video: str
    length: float
    shots: int | None
    captions: int
    busy: float
    tracks: list[str]

    def cells(self) -> list[Any]:
        rtf = round(self.busy / self.length, 4) if self.length > 0 else None
        shots = "" if self.shots is None else self.shots
        return [
            self.model, self.video, round(self.length, 2), shots, self.captions,
            round(self.busy, 3), rtf, " ".join(self.tracks),
        ]  # fmt: skip


def model_label(track: dict[str, Any]) -> str:
    """The model a track names: a folder's name, or the id as given."""
    model = (track.get("model") or {}).get("id") or "unknown"
    path = Path(model)
    return path.name if path.is_absolute() or model.startswith((".", "~")) else model


def rows_of(manifest: dict[str, Any], where: Path) -> list[Row]:
    """The caption models of one bundle's manifest."""
    media = manifest.get("media") or {}
    video = Path(str(media.get("path") or where.name)).name
    length = float(media.get("duration") or 0.0)
    tracks = manifest.get("tracks") or {}
    shots = tracks.get("shots", {}).get("records")
    rows: dict[str, Row] = {}
    for name, track in sorted(tracks.items()):
        if str(track.get("analyzer", "")).partition("@")[0] not in CAPTION_ANALYZERS:
            continue
        if track.get("status") not in ("complete", "complete_with_gaps"):
            continue
        label = model_label(track)
        row = rows.setdefault(label, Row(label, video, length, shots, 0, 0.0, []))
        row.busy += float((track.get("timings") or {}).get("busy_s") or 0.0)
        if name.partition("@")[0] == "captions":
            row.captions += int(track.get("records") or 0)
        row.tracks.append(name)
    return list(rows.values())


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(c) for c in r.cells()) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def csv_text(rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(r.cells() for r in rows)
    return buffer.getvalue()


def compare(
    folders: Annotated[
        list[Path],
        typer.Argument(metavar="BUNDLE_OR_FOLDER", help="bundles, or folders holding bundles"),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", metavar="DIR", help="also write compare.md and compare.csv here"
        ),
    ] = None,
) -> None:
    """Compare the vision-language models of finished bundles: per model and video, the
    length, shots, captions, VLM busy time and real-time factor."""
    from vidscope.search.index import find_bundles
    from vidscope.timeline.result import Result

    try:
        rows: list[Row] = []
        for bundle in find_bundles(folders):
            rows += rows_of(Result(bundle).manifest, bundle)
        if not rows:
            raise InputError("no finished caption tracks (captions, shot_captions, summary) found")
        rows.sort(key=lambda r: (r.video, r.model))
        table = markdown(rows)
        if output is not None:
            output.mkdir(parents=True, exist_ok=True)
            (output / "compare.md").write_text(table)
            (output / "compare.csv").write_text(csv_text(rows))
    except (VidscopeError, OSError) as exc:
        raise fail(exc if isinstance(exc, VidscopeError) else InputError(str(exc))) from None
    out.print(table, end="", markup=False, highlight=False, soft_wrap=True)

"""``vidscope analyzers``, ``show`` and ``config``: what can run here, what a bundle holds, and
which settings apply.

No postponed annotations: typer reads every command's signature on every invocation (see
:mod:`vidscope.cli`).
"""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vidscope.cli.console import Table, fail, out
from vidscope.cli.overrides import ConfigOpt, SetOpt, overrides
from vidscope.errors import UsageError, VidscopeError

if TYPE_CHECKING:
    from vidscope.timeline.result import Result


def list_analyzers(
    json_out: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Every analyzer, whether it can run here with the current settings, and if not, why and
    how to fix it."""
    from vidscope.analyzers import registry
    from vidscope.analyzers.settings import load_settings, params_for

    try:
        settings = load_settings(config, overrides(set_)).settings
    except VidscopeError as exc:
        raise fail(exc) from None
    rows: list[dict[str, Any]] = []
    for name in registry.names():
        avail = registry.availability(name, params_for(settings, name))
        cls = registry.get(name) if avail.ok or registry.params_model(name) else None
        rows.append(
            {
                "name": name,
                "available": avail.ok,
                "tracks": list(cls.output_tracks()) if cls else [name],
                "description": cls.description if cls else "",
                "detail": avail.detail,
                "reason": avail.reason,
                "fix": avail.fix,
            }
        )
    if json_out:
        import json

        print(json.dumps(rows, indent=2))
        return
    from rich.markup import escape

    table = Table(show_edge=False)
    for col in ("analyzer", "status", "tracks", "what it does / how to enable"):
        table.add_column(col)
    for r in rows:
        status = "[green]available[/]" if r["available"] else "[red]unavailable[/]"
        info = f"{r['reason']} — fix: {r['fix']}"
        if r["available"]:
            info = "; ".join(filter(None, (r["description"], r["detail"])))
        # Plain text, not markup: fixes such as pip install 'vidscope[vlm]' carry brackets.
        table.add_row(r["name"], status, ", ".join(r["tracks"]), escape(info))
    out.print(table)


def show(
    bundle: Annotated[Path, typer.Argument(metavar="BUNDLE", help="a result bundle directory")],
    at: Annotated[
        float | None,
        typer.Option("--at", metavar="SECONDS", help="what every track says at that time"),
    ] = None,
    start: Annotated[float | None, typer.Option(metavar="SECONDS", help="range start")] = None,
    end: Annotated[float | None, typer.Option(metavar="SECONDS", help="range end")] = None,
    track: Annotated[
        list[str] | None,
        typer.Option("--track", "-t", metavar="TRACK", help="only this track (repeatable)"),
    ] = None,
    stats: Annotated[
        bool,
        typer.Option("--report", help="also the time each analyzer spent, from the run report"),
    ] = False,
) -> None:
    """Print what a bundle holds (shots, speech, languages, sounds, tracks), or the records at
    a time or in a time range (JSON)."""
    import json

    from vidscope.timeline.result import Result

    try:
        result = Result(bundle)
        if track:
            unknown = [t for t in track if t not in result.tracks]
            if unknown:
                raise UsageError(
                    f"no finished track {unknown[0]!r} (tracks: {', '.join(result.tracks)})"
                )
    except VidscopeError as exc:
        raise fail(exc) from None
    if at is not None:
        print(json.dumps({"time": at, "tracks": result.at(at, track)}, indent=2))
        return
    if start is not None or end is not None:
        lo = start if start is not None else float("-inf")
        hi = end if end is not None else float("inf")
        print(
            json.dumps({"start": lo, "end": hi, "tracks": result.between(lo, hi, track)}, indent=2)
        )
        return
    _print_summary(bundle, result, stats)


FORMATS = {
    "mov": "QuickTime", "mp4": "MP4", "m4a": "M4A", "3gp": "3GP", "3g2": "3G2",
    "mj2": "Motion JPEG 2000", "matroska": "Matroska", "webm": "WebM", "avi": "AVI",
    "mpegts": "MPEG-TS", "mpeg": "MPEG-PS", "flv": "FLV", "asf": "ASF/WMV", "wav": "WAV",
    "flac": "FLAC", "mp3": "MP3", "ogg": "Ogg", "aac": "AAC", "gif": "GIF",
}  # fmt: skip
"""Display names of FFmpeg's demuxers."""


def format_label(demuxers: str | None, path: str | None) -> str:
    """A container's common name: FFmpeg names one demuxer for a family of formats
    (``mov,mp4,m4a,3gp,3g2,mj2``), so the file's own suffix picks the member when it is one."""
    names = [n for n in (demuxers or "").split(",") if n]
    if not names:
        return "unknown format"
    suffix = Path(path or "").suffix.lower().lstrip(".")
    name = suffix if suffix in names else names[0]
    return FORMATS.get(name, name.upper())


def _print_summary(bundle: Path, result: "Result", stats: bool) -> None:
    """The terminal form of what the HTML report's header shows; with ``stats``, the time
    each stage of the run took."""
    from vidscope.cli.run_summary import found, print_stats, share
    from vidscope.timeline.summary import summarize

    s = summarize(result)
    m = result.manifest
    media = m.get("media", {})
    video, audio = media.get("video") or {}, media.get("audio") or {}
    minutes, seconds = divmod(s.duration, 60)
    streams = []
    if video:
        streams.append(
            f"{video['codec']} {video['width']}x{video['height']} at {video['fps']:.5g} fps"
        )
    if audio:
        streams.append(f"{audio.get('codec')} audio")
    out.print(
        f"[bold]{bundle}[/]: {s.status}, {int(minutes)}:{seconds:04.1f} of "
        f"{format_label(media.get('format'), media.get('path'))}"
        + (f" ({', '.join(streams)})" if streams else ""),
        highlight=False,
        soft_wrap=True,
    )
    out.print(found(result, s), highlight=False, soft_wrap=True)
    table = Table(show_edge=False)
    for col in ("track", "status", "records", "coverage"):
        table.add_column(col)
    for name, entry in m.get("tracks", {}).items():
        table.add_row(
            name, entry.get("status", ""), str(entry.get("records", "")),
            share(entry.get("coverage")),
        )  # fmt: skip
    out.print(table)
    for name, reason in m.get("skipped", {}).items():
        out.print(f"skipped {name}: {reason}", highlight=False, soft_wrap=True)
    if stats:
        print_stats(out, s)


def config(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Print the effective settings (as vidscope.toml would write them) and where each value
    came from."""
    from vidscope.analyzers.settings import load_settings

    try:
        effective = load_settings(config, overrides(set_), analyzer_defaults=True)
    except VidscopeError as exc:
        raise fail(exc) from None
    if json_out:
        import json

        rows = {
            k: {"value": v, "source": effective.sources[k]} for k, v in effective.values.items()
        }
        print(json.dumps(rows, indent=2, default=str))
        return
    table = Table(show_edge=False)
    for col in ("setting", "value", "source"):
        table.add_column(col)
    for key in sorted(effective.values):
        table.add_row(key, toml_value(effective.values[key]), effective.sources[key])
    out.print(table)


def toml_value(value: Any) -> str:
    """``value`` as it would be written in ``vidscope.toml``; a value TOML cannot write (None:
    not set) as ``(not set)``."""
    import json

    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    # TOML's basic strings escape as JSON's do.
    return json.dumps(str(value), ensure_ascii=False)


def _toml_key(key: str) -> str:
    import json
    import re

    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)

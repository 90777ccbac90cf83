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
                "reason": avail.reason,
                "fix": avail.fix,
            }
        )
    if json_out:
        import json

        print(json.dumps(rows, indent=2))
        return
    table = Table(show_edge=False)
    for col in ("analyzer", "status", "tracks", "what it does / how to enable"):
        table.add_column(col)
    for r in rows:
        status = "[green]available[/]" if r["available"] else "[red]unavailable[/]"
        info = r["description"] if r["available"] else f"{r['reason']} — fix: {r['fix']}"
        table.add_row(r["name"], status, ", ".join(r["tracks"]), info)
    out.print(table)


def show(
    bundle: Annotated[Path, typer.Argument(help="a result bundle directory")],
    at: Annotated[
        float | None, typer.Option("--at", help="what every track says at T seconds")
    ] = None,
    start: Annotated[float | None, typer.Option(help="range start (seconds)")] = None,
    end: Annotated[float | None, typer.Option(help="range end (seconds)")] = None,
    track: Annotated[
        list[str] | None, typer.Option("--track", "-t", help="only these tracks")
    ] = None,
) -> None:
    """Print a summary (shots, speech, languages, sounds, tracks, run report), or the records
    at a time or in a time range (JSON)."""
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
    _print_summary(bundle, result)


def _share(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.0f}%"


def _print_summary(bundle: Path, result: "Result") -> None:
    """The terminal form of what the HTML report's header shows."""
    from vidscope.timeline.summary import summarize

    s = summarize(result)
    m = result.manifest
    media = m.get("media", {})
    video = media.get("video") or {}
    minutes, seconds = divmod(s.duration, 60)
    picture = f", {video['width']}x{video['height']} at {video['fps']:.5g} fps" if video else ""
    facts = [
        f"{'no' if s.shots is None else s.shots} shots",
        "speech " + (_share(s.speech_share) or "not analysed"),
        "languages " + (", ".join(f"{k} {_share(v)}" for k, v in s.languages) or "none"),
        "top sounds " + (", ".join(f"{k} {v:.1f} s" for k, v in s.top_events) or "none"),
    ]
    out.print(
        f"[bold]{bundle}[/]: {s.status}, {int(minutes)}:{seconds:04.1f} of {media.get('format')}"
        + picture,
        highlight=False,
        soft_wrap=True,
    )
    out.print(" · ".join(facts), highlight=False, soft_wrap=True)
    table = Table(show_edge=False)
    for col in ("track", "status", "records", "coverage"):
        table.add_column(col)
    for name, entry in m.get("tracks", {}).items():
        table.add_row(
            name, entry.get("status", ""), str(entry.get("records", "")),
            _share(entry.get("coverage")),
        )  # fmt: skip
    out.print(table)
    for name, reason in m.get("skipped", {}).items():
        out.print(f"skipped {name}: {reason}")
    if not s.stages:
        return
    table = Table(title="run report", title_justify="left", show_edge=False)
    for col in ("stage", "busy s", "RTF", "share of wall", "coverage"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for row in s.stages:
        rtf = "" if row.rtf is None else f"{row.rtf:.3f}"
        table.add_row(
            row.name, f"{row.busy_s:.2f}", rtf, _share(row.share_of_wall), _share(row.coverage)
        )
    out.print(table)
    if s.wall_s is not None:
        out.print(
            f"wall {s.wall_s:.2f} s (RTF {s.rtf or 0:.3f}), "
            f"peak memory {s.peak_rss_mb or 0:.0f} MB",
            highlight=False,
        )


def config(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print the effective settings and where each value came from."""
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
        table.add_row(key, repr(effective.values[key]), effective.sources[key])
    out.print(table)

"""The ``vidscope`` command line (typer + rich)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.table import Table

from vidscope.errors import UsageError, VidscopeError

app = typer.Typer(
    name="vidscope",
    help="Decode a video once, run many analyzers, get one time-aligned result bundle.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

MEDIA_SUFFIXES = {
    ".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv",
    ".mp3", ".wav", ".flac", ".ogg", ".opus", ".m4a", ".aac",
}  # fmt: skip

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="settings file (default ./vidscope.toml)")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="override a setting: KEY=VALUE, e.g. analyzer.shots.threshold=30"),
]


def _fail(exc: VidscopeError) -> typer.Exit:
    err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(exc.exit_code)


def _overrides(pairs: list[str] | None, **flags: Any) -> dict[str, Any]:
    from vidscope.config import parse_value

    result: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects KEY=VALUE, got {pair!r}")
        result[key.strip()] = parse_value(value)
    result.update({k: v for k, v in flags.items() if v is not None})
    return result


def _is_url(text: str) -> bool:
    return urlsplit(text).scheme in ("http", "https")


def _expand(inputs: list[str]) -> tuple[list[str], bool]:
    """Inputs as given, directories expanded to their media files; and whether each input
    gets its own sub-folder of the output."""
    expanded: list[str] = []
    many = len(inputs) > 1
    for item in inputs:
        path = Path(item)
        if not _is_url(item) and path.is_dir():
            many = True
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in MEDIA_SUFFIXES)
            if not files:
                raise UsageError(f"{path}: no media files in this directory")
            expanded.extend(str(p) for p in files)
        else:
            expanded.append(item)
    return expanded, many


def _stem(item: str) -> str:
    name = Path(urlsplit(item).path).stem if _is_url(item) else Path(item).stem
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "input"


def _print_report(report: dict[str, Any]) -> None:
    table = Table(title="run report", title_justify="left", show_edge=False)
    for col in ("stage", "busy s", "items", "RTF", "share of wall"):
        table.add_column(col, justify="right" if col != "stage" else "left")
    for name, s in report["stages"].items():
        table.add_row(
            name, f"{s['busy_s']:.2f}", str(s["items"]), f"{s['rtf']:.3f}",
            f"{100 * (s['share_of_wall'] or 0):.0f}%",
        )  # fmt: skip
    err.print(table)
    cov = ", ".join(f"{k} {100 * v:.0f}%" for k, v in report["coverage"].items())
    err.print(
        f"wall {report['wall_s']:.2f} s for {report['media_duration_s']:.1f} s of media "
        f"(RTF {report['rtf']:.3f}; model setup {report['setup_s']:.2f} s), "
        f"peak memory {report['peak_rss_mb']:.0f} MB" + (f"; coverage: {cov}" if cov else "")
    )


@app.command()
def analyze(
    inputs: Annotated[list[str], typer.Argument(help="files, directories or http(s) URLs")],
    output: Annotated[Path, typer.Option("-o", "--output", help="bundle directory")] = Path("out"),
    analyzers: Annotated[
        str | None, typer.Option("--analyzers", "-a", help="comma-separated analyzer names")
    ] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:N")] = None,
    audio_channel: Annotated[str | None, typer.Option(help="mix, left or right")] = None,
    asr_model: Annotated[
        str | None,
        typer.Option(help="Whisper model for transcripts: tiny.en, base, large-v3 or a folder"),
    ] = None,
    vlm_model: Annotated[
        str | None,
        typer.Option(
            help="vision-language model for captions: a local Hugging Face folder, a hub id, "
            "or the model name on --vlm-endpoint"
        ),
    ] = None,
    vlm_endpoint: Annotated[
        str | None,
        typer.Option(help="OpenAI-compatible server for captions, e.g. http://localhost:8000/v1"),
    ] = None,
    force: Annotated[bool, typer.Option(help="recompute tracks a previous run finished")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress output")] = False,
    json_events: Annotated[
        bool, typer.Option("--json", help="progress as JSON lines on stdout")
    ] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Analyze videos, audio files or URLs into result bundles.

    One input: OUTPUT is its bundle.  Several inputs or a directory: each input gets
    OUTPUT/<name>/.  Models are loaded once for all inputs.
    """
    from vidscope.config import load_settings
    from vidscope.engine.engine import Engine
    from vidscope.engine.progress import make_sink

    try:
        names = [a.strip() for a in analyzers.split(",") if a.strip()] if analyzers else None
        overrides = _overrides(
            set_,
            analyzers=names,
            device=device,
            audio_channel=audio_channel,
            **{
                "analyzer.transcript.asr_model": asr_model,
                "vlm.model": vlm_model,
                "vlm.endpoint": vlm_endpoint,
            },
        )
        effective = load_settings(config, overrides)
        kind = "json" if json_events else effective.settings.progress
        sink = make_sink(kind, quiet=quiet)
        items, many = _expand(inputs)
        engine = Engine(effective.settings, sink=sink)
    except VidscopeError as exc:
        raise _fail(exc) from None
    failures: list[VidscopeError] = []
    used: set[str] = set()
    with engine:
        for n, item in enumerate(items):
            target = output
            if many:
                stem = _stem(item)
                name, i = stem, 2
                while name in used:
                    name, i = f"{stem}-{i}", i + 1
                used.add(name)
                target = output / name
            try:
                result = engine.analyze(item, target, force=force)
            except VidscopeError as exc:
                failures.append(exc)
                err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
                continue
            except KeyboardInterrupt:
                err.print("interrupted: the bundle is left incomplete")
                raise typer.Exit(130) from None
            if not quiet and not json_events:
                _print_report(result.report)
                err.print(
                    f"[green]{result.status}[/]: {target}"
                    + (f" ({n + 1}/{len(items)})" if many else "")
                )
    if failures:
        raise typer.Exit(max(f.exit_code for f in failures))


@app.command("analyzers")
def list_analyzers(
    json_out: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Every analyzer, whether it can run here with the current settings, and if not, why and
    how to fix it."""
    from vidscope.analyzers import registry
    from vidscope.config import load_settings

    try:
        settings = load_settings(config, _overrides(set_)).settings
    except VidscopeError as exc:
        raise _fail(exc) from None
    rows = []
    for name in registry.names():
        avail = registry.availability(name, settings.params_for(name))
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


@app.command()
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
    """Print the manifest summary, or the records at a time or in a time range (JSON)."""
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
        raise _fail(exc) from None
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
    m = result.manifest
    media = m.get("media", {})
    out.print(f"[bold]{bundle}[/]: {m.get('status')} — {media.get('duration', 0):.2f} s, "
              f"{media.get('format')}")  # fmt: skip
    table = Table(show_edge=False)
    for col in ("track", "status", "records", "coverage"):
        table.add_column(col)
    for name, entry in m.get("tracks", {}).items():
        cov = entry.get("coverage")
        table.add_row(
            name, entry.get("status", ""), str(entry.get("records", "")),
            "" if cov is None else f"{100 * cov:.0f}%",
        )  # fmt: skip
    out.print(table)
    for name, reason in m.get("skipped", {}).items():
        out.print(f"skipped {name}: {reason}")


@app.command()
def export(
    bundle: Annotated[Path, typer.Argument(help="a result bundle directory")],
    format_: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="srt, vtt, txt or json (default: -o's suffix, else srt)"
        ),
    ] = None,
    track: Annotated[str, typer.Option("--track", "-t", help="track to export")] = "transcript",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="file to write (default: stdout)")
    ] = None,
) -> None:
    """Export a text track (the transcript by default) as subtitles, plain text or JSON."""
    from vidscope.timeline.export import FORMATS
    from vidscope.timeline.export import export as write_export
    from vidscope.timeline.result import Result

    suffix = output.suffix.lstrip(".").lower() if output is not None else ""
    fmt = format_ or (suffix if suffix in FORMATS else "srt")
    try:
        result = Result(bundle)
        if output is None:
            write_export(result, track, fmt, sys.stdout)
            return
        # Written beside the target and renamed, so a failed export leaves no partial file.
        tmp = output.with_name(output.name + ".tmp")
        try:
            with tmp.open("w", encoding="utf-8") as f:
                count = write_export(result, track, fmt, f)
            os.replace(tmp, output)
        finally:
            tmp.unlink(missing_ok=True)
    except VidscopeError as exc:
        raise _fail(exc) from None
    err.print(f"wrote {count} {fmt} entries of {track!r} to {output}")


@app.command()
def config(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print the effective settings and where each value came from."""
    from vidscope.config import load_settings

    try:
        effective = load_settings(config, _overrides(set_), analyzer_defaults=True)
    except VidscopeError as exc:
        raise _fail(exc) from None
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


setup_app = typer.Typer(help="Prepare optional runtimes that cannot share vidscope's environment.")
app.add_typer(setup_app, name="setup")


@setup_app.command("people")
def setup_people(
    python: Annotated[
        str, typer.Option(help="interpreter the environment is based on (CPython 3.9-3.12)")
    ] = sys.executable,
    target: Annotated[
        Path | None, typer.Option(help="where to create it (default: the cache directory)")
    ] = None,
    force: Annotated[bool, typer.Option(help="recreate it even if it is complete")] = False,
) -> None:
    """Create the isolated environment the faces, pose and segmentation analyzers run in.

    MediaPipe 0.10.21, the last release whose wheel carries its models, needs numpy<2 and
    protobuf<5; it runs in its own virtual environment, driven from vidscope's process."""
    from vidscope.analyzers.people.runtime import create_environment

    try:
        interpreter = create_environment(
            target,
            python,
            force=force,
            progress=lambda line: err.print(line, markup=False, highlight=False),
        )
    except VidscopeError as exc:
        raise _fail(exc) from None
    err.print(f"[green]ready[/]: {interpreter}")


# The server's commands live with the server; importing them is cheap (no FastAPI yet).
from vidscope.server.cli import register as _register_server  # noqa: E402

_register_server(app)


def main() -> None:
    """Console-script entry point: user errors are one line, never a traceback."""
    try:
        app()
    except VidscopeError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("VIDSCOPE_DEBUG"):
            raise
        err.print(
            f"[red]internal error:[/] {type(exc).__name__}: {exc} "
            "(set VIDSCOPE_DEBUG=1 for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(70)


if __name__ == "__main__":
    main()

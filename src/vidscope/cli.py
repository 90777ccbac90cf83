"""The ``vidscope`` command line (typer + rich).

Annotations here are evaluated when defined (no ``from __future__ import annotations``): typer
reads every command's signature on every invocation, and resolving string annotations cost
each command 5 ms.
"""

import gc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer

from vidscope.errors import UsageError, VidscopeError

if TYPE_CHECKING:
    import rich.table
    from rich.console import Console

    from vidscope.timeline.result import Result

app = typer.Typer(
    name="vidscope",
    help="Decode a video once, run many analyzers, get one time-aligned result bundle.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class _LazyConsole:
    """A rich Console built on first use: importing rich is a tenth of a quiet run's start-up,
    and a quiet run that succeeds prints nothing."""

    def __init__(self, *, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return getattr(self._console, name)


def Table(*args: Any, **kwargs: Any) -> "rich.table.Table":
    """rich's Table, imported when a command first draws one (see :class:`_LazyConsole`)."""
    from rich.table import Table

    return Table(*args, **kwargs)


out = _LazyConsole()
err = _LazyConsole(stderr=True)

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


def _manifest_rows(path: Path) -> list[tuple[str, str | None]]:
    """``(input, name)`` rows of a CSV manifest: an ``input`` column (or ``path``/``url``, else
    the first column) and an optional ``name`` for the bundle folder; relative paths are
    relative to the manifest."""
    import csv

    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{path}: cannot read the manifest ({exc})") from None
    if not rows:
        raise UsageError(f"{path}: the manifest lists no inputs")
    columns = list(rows[0])
    column = next((c for c in ("input", "path", "url") if c in columns), columns[0])
    out: list[tuple[str, str | None]] = []
    for n, row in enumerate(rows, 2):
        item = (row.get(column) or "").strip()
        if not item:
            raise UsageError(f"{path}:{n}: no {column!r}")
        if not _is_url(item) and not Path(item).is_absolute():
            item = str(path.parent / item)
        out.append((item, (row.get("name") or "").strip() or None))
    return out


def _expand(inputs: list[str]) -> tuple[list[tuple[str, str | None]], bool]:
    """Inputs as given, directories expanded to their media files and CSV manifests to their
    rows, each with the bundle name it asks for; and whether each input gets its own
    sub-folder of the output."""
    expanded: list[tuple[str, str | None]] = []
    many = len(inputs) > 1
    for item in inputs:
        path = Path(item)
        if not _is_url(item) and path.is_dir():
            many = True
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in MEDIA_SUFFIXES)
            if not files:
                raise UsageError(f"{path}: no media files in this directory")
            expanded.extend((str(p), None) for p in files)
        elif not _is_url(item) and path.suffix.lower() == ".csv" and path.is_file():
            many = True
            expanded.extend(_manifest_rows(path))
        else:
            expanded.append((item, None))
    return expanded, many


def _jobs(items: list[tuple[str, str | None]], output: Path, many: bool) -> list[tuple[str, Path]]:
    """``(input, bundle)`` pairs: ``output`` itself for one input, else a distinct
    ``output/<name>`` per input."""
    if not many:
        return [(items[0][0], output)]
    used: set[str] = set()
    jobs: list[tuple[str, Path]] = []
    for item, wanted in items:
        stem = _safe_name(wanted) if wanted else _stem(item)
        name, i = stem, 2
        while name in used:
            name, i = f"{stem}-{i}", i + 1
        used.add(name)
        jobs.append((item, output / name))
    return jobs


def _stem(item: str) -> str:
    return _safe_name(Path(urlsplit(item).path).stem if _is_url(item) else Path(item).stem)


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "input"


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
    executor: Annotated[
        str | None, typer.Option(help="local (this process) or ray (actors on a Ray cluster)")
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(help="Ray cluster to join: auto, HOST:PORT or ray://HOST:10001"),
    ] = None,
    force: Annotated[bool, typer.Option(help="recompute tracks a previous run finished")] = False,
    wait: Annotated[
        bool, typer.Option(help="if another run is writing the bundle, wait for it to end")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress output")] = False,
    json_events: Annotated[
        bool, typer.Option("--json", help="progress as JSON lines on stdout")
    ] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Analyze videos, audio files or URLs into result bundles.

    One input: OUTPUT is its bundle.  Several inputs, a directory or a CSV manifest (an
    `input` column, optional `name`): each input gets OUTPUT/<name>/.  Models are loaded once
    for all inputs.  A re-run reuses the tracks that already finished.
    """
    from vidscope.config import load_settings
    from vidscope.engine.executor import make_executor
    from vidscope.engine.progress import make_sink
    from vidscope.run_summary import print_report, status_line
    from vidscope.timeline.bundle import Status

    try:
        names = [a.strip() for a in analyzers.split(",") if a.strip()] if analyzers else None
        overrides = _overrides(
            set_,
            analyzers=names,
            device=device,
            audio_channel=audio_channel,
            executor=executor or ("ray" if ray_address else None),
            wait_for_bundle=wait or None,
            **{
                "analyzer.transcript.asr_model": asr_model,
                "vlm.model": vlm_model,
                "vlm.endpoint": vlm_endpoint,
                "ray.address": ray_address,
            },
        )
        effective = load_settings(config, overrides)
        kind = "json" if json_events else effective.settings.progress
        sink = make_sink(kind, quiet=quiet)
        items, many = _expand(inputs)
        jobs = _jobs(items, output, many)
        runner = make_executor(effective.settings, sink)
    except VidscopeError as exc:
        raise _fail(exc) from None
    failures: list[VidscopeError] = []
    with runner:
        try:
            for n, outcome in enumerate(runner.analyze_many(jobs, force=force), 1):
                if outcome.error is not None:
                    failures.append(outcome.error)
                    err.print(f"[red]error:[/] {outcome.error}", highlight=False, soft_wrap=True)
                    continue
                assert outcome.result is not None
                loud = not quiet and not json_events
                if loud:
                    print_report(err, outcome.result.report)
                # Gaps are a warning, said even by a quiet run.
                if loud or outcome.result.status == Status.COMPLETE_WITH_GAPS:
                    where = f"{outcome.output}" + (f" ({n}/{len(jobs)})" if many else "")
                    err.print(status_line(outcome.result, where), highlight=False, soft_wrap=True)
        except KeyboardInterrupt:
            err.print("interrupted: run the same command again to resume")
            raise typer.Exit(130) from None
        actors = getattr(runner, "last_report", {}).get("actors")
        if actors and not quiet and not json_events:
            from vidscope.engine.ray.actors_table import actors_table

            err.print(actors_table(actors))
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


@app.command()
def report(
    bundle: Annotated[Path, typer.Argument(help="a result bundle directory")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="HTML file to write (default: BUNDLE/report.html)"),
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
        raise _fail(exc) from None
    err.print(f"wrote {written.path} ({written.size / 1e6:.1f} MB)", highlight=False)
    if written.note:
        err.print(f"note: {written.note}", highlight=False)


@app.command()
def export(
    bundle: Annotated[Path, typer.Argument(help="a result bundle directory")],
    format_: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="srt, vtt, txt, json, otio, edl, csv, parquet, png or jpg (contact sheet) "
            "(default: -o's suffix, else srt)",
        ),
    ] = None,
    track: Annotated[
        str | None,
        typer.Option(
            "--track",
            "-t",
            help="track to export (default: transcript for srt/vtt/txt/json, else shots)",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="file to write (default: stdout)")
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
        raise _fail(exc) from None
    if output is not None:
        err.print(f"wrote {count} {job.format.name} entries of {job.track!r} to {output}")


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
    # Nearly everything a run allocates lives until exit (modules, pydantic schemas, analyzers)
    # and per-frame garbage goes by reference counting, so the cyclic collector mostly walks
    # the same heap again and again: a tenth of a second of a short clip's run goes to young
    # collections during start-up and full ones at exit.  Collect young objects less often,
    # and leave the heap to process exit.
    gc.set_threshold(10_000)
    # NumPy is not loaded yet, so its BLAS reads this when it is: the engine's one-thread BLAS
    # limit (see Engine) then costs nothing instead of a scan of every loaded library.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # vidscope's settings and parameter models use no pydantic plugins; looking for them
    # scans every installed distribution's entry points (10 ms of every command).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from vidscope.exit_codes import run

    try:
        run(app, err)
    finally:
        gc.freeze()


if __name__ == "__main__":
    main()

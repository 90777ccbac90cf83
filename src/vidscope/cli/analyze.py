"""``vidscope analyze``: inputs in, one result bundle each.

No postponed annotations: typer reads every command's signature on every invocation (see
:mod:`vidscope.cli`).
"""

from pathlib import Path
from typing import Annotated

import typer

from vidscope.cli.console import err, fail
from vidscope.cli.exit_codes import interrupted_code
from vidscope.cli.inputs import bundle_jobs, expand
from vidscope.cli.overrides import ConfigOpt, SetOpt, overrides
from vidscope.errors import UsageError, VidscopeError

DEFAULT_ROOT = Path("out")
"""Where bundles go without ``-o``: ``out/<input name>``."""


def vlm_choices(models: list[str] | None, endpoints: list[str] | None) -> dict[str, object]:
    """The ``vlm`` settings of ``--vlm-model`` and ``--vlm-endpoint``: one model, or several
    compared in one run (each with its own endpoint, or all on one)."""
    models, endpoints = models or [], endpoints or []
    if len(endpoints) > 1 and len(endpoints) != len(models):
        raise UsageError(
            f"{len(endpoints)} --vlm-endpoint values for {len(models)} --vlm-model values: "
            "give one endpoint for every model, in the same order, or one for all"
        )
    return {
        "vlm.model": models[0] if len(models) == 1 else None,
        "vlm.models": models if len(models) > 1 else None,
        "vlm.endpoint": endpoints[0] if len(endpoints) == 1 else None,
        "vlm.endpoints": endpoints if len(endpoints) > 1 else None,
    }


def analyze(
    inputs: Annotated[
        list[str],
        typer.Argument(metavar="INPUT", help="files, directories, CSV manifests or URLs"),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            metavar="DIR",
            help="the bundle's directory; for several inputs, the directory of their bundles "
            f"(default: {DEFAULT_ROOT}/<input name>)",
        ),
    ] = None,
    analyzers: Annotated[
        str | None,
        typer.Option(
            "--analyzers",
            "-a",
            metavar="NAME[,NAME...]",
            help="the analyzers to run (default: every one available here; see vidscope analyzers)",
        ),
    ] = None,
    device: Annotated[str | None, typer.Option(metavar="DEVICE", help="cpu, cuda, cuda:N")] = None,
    audio_channel: Annotated[
        str | None, typer.Option(metavar="CHANNEL", help="mix, left or right")
    ] = None,
    asr_model: Annotated[
        str | None,
        typer.Option(
            metavar="MODEL",
            help="Whisper model for transcripts: tiny.en, base, large-v3 or a folder",
        ),
    ] = None,
    vlm_model: Annotated[
        list[str] | None,
        typer.Option(
            metavar="MODEL",
            help="vision-language model for captions: a local Hugging Face folder, a hub id, "
            "or the model name on --vlm-endpoint; repeat it to compare models in one run "
            "(captions, shot_captions and summary run once per model, as NAME@LABEL)",
        ),
    ] = None,
    vlm_endpoint: Annotated[
        list[str] | None,
        typer.Option(
            metavar="URL",
            help="OpenAI-compatible server for captions, e.g. http://localhost:8000/v1; with "
            "several --vlm-model, one for all of them or one per model in the same order",
        ),
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(
            metavar="EXECUTOR", help="local (this process) or ray (actors on a Ray cluster)"
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS", help="Ray cluster to join: auto, HOST:PORT or ray://HOST:10001"
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="recompute tracks a previous run finished")
    ] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="if another run is writing the bundle, wait for it to end"),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress output")] = False,
    json_events: Annotated[
        bool, typer.Option("--json", help="progress as JSON lines on stdout")
    ] = False,
    stats: Annotated[
        bool, typer.Option("--stats", help="also the time each analyzer spent, per input")
    ] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Analyze videos, audio files or URLs into result bundles.

    \b
    Examples:
      vidscope analyze clip.mp4                       # bundle in out/clip
      vidscope analyze clip.mp4 -a shots,transcript   # these analyzers only
      vidscope analyze a.mp4 b.mkv videos/ -o runs    # runs/a, runs/b, runs/<each video>
      vidscope analyze https://example.com/talk.mp4 --asr-model tiny.en

    Without -o, each input's bundle is out/<input name>.  With -o, one input's bundle is DIR
    itself; several inputs, a directory or a CSV manifest (an "input" column, optional "name")
    give each input DIR/<name>.  Models are loaded once for all inputs.  A re-run reuses the
    tracks that already finished.  Ends with what was found and the commands to look at it.
    """
    from rich.markup import escape

    from vidscope.analyzers.settings import load_settings
    from vidscope.cli.run_summary import print_next, print_outcome, print_stats, status_line
    from vidscope.cli.search import add_to_index
    from vidscope.engine.factory import make_executor
    from vidscope.engine.progress import make_sink
    from vidscope.timeline.bundle import Status
    from vidscope.timeline.summary import summarize

    try:
        names = [a.strip() for a in analyzers.split(",") if a.strip()] if analyzers else None
        changes = overrides(
            set_,
            analyzers=names,
            device=device,
            audio_channel=audio_channel,
            executor=executor or ("ray" if ray_address else None),
            wait_for_bundle=wait or None,
            **{
                "analyzer.transcript.asr_model": asr_model,
                **vlm_choices(vlm_model, vlm_endpoint),
                "ray.address": ray_address,
            },
        )
        effective = load_settings(config, changes)
        kind = "json" if json_events else effective.settings.progress
        sink = make_sink(kind, quiet=quiet)
        items, many = expand(inputs)
        # Without -o every input gets its own folder, so one run never replaces another's.
        jobs = bundle_jobs(items, output or DEFAULT_ROOT, many or output is None)
        runner = make_executor(effective.settings, sink)
    except VidscopeError as exc:
        raise fail(exc) from None
    failures: list[VidscopeError] = []
    loud = not quiet and not json_events
    first: tuple[Path, list[str]] | None = None
    with runner:
        try:
            for n, outcome in enumerate(runner.analyze_many(jobs, force=force), 1):
                if outcome.error is not None:
                    failures.append(outcome.error)
                    err.print(
                        f"[red]error:[/] {escape(str(outcome.error))}",
                        highlight=False,
                        soft_wrap=True,
                    )
                    continue
                assert outcome.result is not None
                if effective.settings.search.index is not None:
                    add_to_index(effective.settings.search.index, outcome.result.path)
                where = f"{outcome.output}" + (f" ({n}/{len(jobs)})" if many else "")
                if loud:
                    if stats:
                        print_stats(err, summarize(outcome.result))
                    print_outcome(err, outcome.result, where)
                    first = first or (outcome.output, outcome.result.tracks)
                elif outcome.result.status == Status.COMPLETE_WITH_GAPS:
                    # Gaps are a warning, said even by a quiet run.
                    err.print(status_line(outcome.result, where), highlight=False, soft_wrap=True)
        except KeyboardInterrupt as exc:
            err.print("interrupted: run the same command again to resume")
            raise typer.Exit(interrupted_code(exc)) from None
        actors = getattr(runner, "last_report", {}).get("actors")
        if actors and not quiet and not json_events:
            from vidscope.engine.ray.actors_table import actors_table

            err.print(actors_table(actors))
    if first is not None:
        print_next(err, *first)
    if failures:
        raise typer.Exit(max(f.exit_code for f in failures))

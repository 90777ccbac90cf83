"""The ``vidscope`` command line (typer + rich): this package builds the app from one module
per group of commands.

Annotations in the command modules are evaluated when defined (no ``from __future__ import
annotations``): typer reads every command's signature on every invocation, and resolving
string annotations cost each command 5 ms.
"""

import gc
import os
from collections.abc import Callable
from typing import Annotated

import typer

from vidscope.cli.analyze import analyze
from vidscope.cli.compare import compare
from vidscope.cli.console import err
from vidscope.cli.export import export, report
from vidscope.cli.help import Command
from vidscope.cli.inspect import config, list_analyzers, show
from vidscope.cli.search import index, search
from vidscope.cli.serve import keys_app, metrics, serve
from vidscope.cli.setup import setup_app

app = typer.Typer(
    name="vidscope",
    help="Decode a video once, run many analyzers, get one time-aligned result bundle.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help, as click writes it: options with their metavars (no Python types, no
    # boxes), paragraphs rewrapped to the terminal, \b blocks (examples) kept as written.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _print_version(value: bool) -> None:
    if value:
        from vidscope.cli.console import versions

        typer.echo(versions())
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "-V",
            "--version",
            callback=_print_version,
            is_eager=True,
            help="the version of vidscope, Python and the libraries it runs on",
        ),
    ] = False,
) -> None:
    """Decode a video once, run many analyzers, get one time-aligned result bundle."""


COMMANDS: dict[str, tuple[Callable[..., None], str]] = {
    "analyze": (analyze, "Analyze videos, audio files or URLs into result bundles."),
    "analyzers": (list_analyzers, "What can run here, and how to enable what cannot."),
    "show": (show, "What a bundle holds, or its records at a time (JSON)."),
    "report": (report, "Write a bundle as one self-contained HTML page."),
    "export": (export, "Export a track: subtitles, text, JSON, timelines, tables."),
    "config": (config, "The effective settings and where each value came from."),
    "compare": (compare, "Compare vision-language models across finished bundles."),
    "index": (index, "Add result bundles to the search index."),
    "search": (search, "Find moments across every indexed bundle."),
    "serve": (serve, "Run the HTTP service."),
    "metrics": (metrics, "Server-wide figures, in the Prometheus text format."),
}
"""Each command with the line ``vidscope -h`` lists it by (its docstring's first sentence,
cut to fit, would end in "...")."""

for _name, (_function, _line) in COMMANDS.items():
    app.command(_name, cls=Command, short_help=_line)(_function)
app.add_typer(
    setup_app, name="setup", short_help="Prepare runtimes that cannot share vidscope's environment."
)
app.add_typer(keys_app, name="keys")


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
    from vidscope.cli.exit_codes import run, stop_on_sigterm

    stop_on_sigterm()
    try:
        run(app, err)
    finally:
        gc.freeze()

"""The ``vidscope`` command line (typer + rich): this package builds the app from one module
per group of commands.

Annotations in the command modules are evaluated when defined (no ``from __future__ import
annotations``): typer reads every command's signature on every invocation, and resolving
string annotations cost each command 5 ms.
"""

import gc
import os
from typing import Annotated

import typer

from vidscope.cli.analyze import analyze
from vidscope.cli.compare import compare
from vidscope.cli.console import err
from vidscope.cli.export import export, report
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
    context_settings={"help_option_names": ["-h", "--help"]},
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


app.command()(analyze)
app.command("analyzers")(list_analyzers)
app.command()(show)
app.command()(report)
app.command()(export)
app.command()(config)
app.command()(compare)
app.command()(index)
app.command()(search)
app.add_typer(setup_app, name="setup")
app.command()(serve)
app.command()(metrics)
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

"""``vidscope setup``: optional runtimes that cannot share vidscope's environment.

No postponed annotations: typer reads every command's signature on every invocation (see
:mod:`vidscope.cli`).
"""

import sys
from pathlib import Path
from typing import Annotated

import typer

from vidscope.cli.console import err, fail
from vidscope.cli.help import Command
from vidscope.errors import VidscopeError

setup_app = typer.Typer(help="Prepare optional runtimes that cannot share vidscope's environment.")


@setup_app.command(
    "people", cls=Command, short_help="Create the environment of faces, pose and segmentation."
)
def setup_people(
    python: Annotated[
        str,
        typer.Option(
            metavar="PYTHON",
            help="interpreter the environment is based on (CPython 3.9-3.12)",
            show_default=False,
        ),
    ] = sys.executable,
    target: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="where to create it (default: the cache directory)"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="recreate it even if it is complete")
    ] = False,
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
        raise fail(exc) from None
    err.print(f"[green]ready[/]: {interpreter}")

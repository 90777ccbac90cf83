"""The settings options every command that loads settings shares: ``--config`` and ``--set``,
and the overrides they and a command's own flags make."""

from pathlib import Path
from typing import Annotated, Any

import typer

from vidscope.errors import UsageError

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", metavar="FILE", help="settings file (default ./vidscope.toml)"),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="override a setting, e.g. analyzer.shots.threshold=30; repeatable",
    ),
]


def overrides(pairs: list[str] | None, **flags: Any) -> dict[str, Any]:
    """Settings overrides from ``--set KEY=VALUE`` pairs, then the flags that were given
    (``None`` means not given), which win."""
    from vidscope.config import parse_value

    result: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects KEY=VALUE, got {pair!r}")
        result[key.strip()] = parse_value(value)
    result.update({k: v for k, v in flags.items() if v is not None})
    return result

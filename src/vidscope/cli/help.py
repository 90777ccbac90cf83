"""How a command's help reads: click's plain layout (the app turns typer's rich panels off),
each argument and option named by its metavar.

The context, formatter and parameters are typed ``Any``: typer 0.29 carries its own copy of
click, and earlier versions use click itself.
"""

from typing import Any

from typer.core import TyperCommand


def _argument(param: Any) -> str:
    """``INPUT...``: an argument as usage lines name it."""
    name = param.metavar or (param.name or "").upper()
    return name + "..." if param.nargs != 1 else name


class Command(TyperCommand):
    """A command whose help names its arguments as click does (``INPUT...``, ``[NAME]``):
    typer's own help adds their Python types (``INPUT... <list[str]>``) and writes required
    ones in braces."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                pieces.append(_argument(param) if param.required else f"[{_argument(param)}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments: list[tuple[str, str]] = []
        options: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((_argument(param), record[1]))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

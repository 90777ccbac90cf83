"""What ``vidscope analyze`` prints once an input is done: the run report, then a last line with
the bundle's status, which names the gaps of a ``complete_with_gaps`` bundle."""

from __future__ import annotations

from typing import Any

from vidscope.timeline.bundle import Status
from vidscope.timeline.result import Result


def print_report(console: Any, report: dict[str, Any]) -> None:
    """The run report: each stage's busy time, then wall time, memory and coverage."""
    from rich.table import Table

    table = Table(title="run report", title_justify="left", show_edge=False)
    for col in ("stage", "busy s", "items", "RTF", "share of wall"):
        table.add_column(col, justify="right" if col != "stage" else "left")
    for name, s in report["stages"].items():
        table.add_row(
            name, f"{s['busy_s']:.2f}", str(s["items"]), f"{s['rtf']:.3f}",
            f"{100 * (s['share_of_wall'] or 0):.0f}%",
        )  # fmt: skip
    console.print(table)
    cov = ", ".join(f"{k} {100 * v:.0f}%" for k, v in report["coverage"].items())
    console.print(
        f"wall {report['wall_s']:.2f} s for {report['media_duration_s']:.1f} s of media "
        f"(RTF {report['rtf']:.3f}; model setup {report['setup_s']:.2f} s), "
        f"peak memory {report['peak_rss_mb']:.0f} MB" + (f"; coverage: {cov}" if cov else "")
    )


def status_line(result: Result, where: str) -> str:
    """``complete: out``, or ``complete_with_gaps: out: visual_stats covers 39% of the
    media; ...`` (rich markup) for the bundle ``result`` written to ``where``."""
    if result.status == Status.COMPLETE_WITH_GAPS:
        return f"[yellow]{result.status}[/]: {where}: {'; '.join(result.gaps)}"
    return f"[green]{result.status}[/]: {where}"

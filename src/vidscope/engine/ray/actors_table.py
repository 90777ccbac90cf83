"""The model actors of a Ray run as a terminal table: where the time went, across every input."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def actors_table(actors: dict[str, dict[str, Any]]) -> Table:
    """One row per model actor pool of ``RayExecutor.last_report["actors"]``."""
    table = Table(title="model actors", title_justify="left", show_edge=False)
    columns = ("actor", "videos", "items", "setup s", "busy s", "idle s", "batches")
    for col in columns:
        table.add_column(col, justify="left" if col == "actor" else "right", no_wrap=True)
    for name, a in actors.items():
        if "error" in a:
            table.add_row(name, *[""] * (len(columns) - 2), a["error"])
            continue
        model = a.get("model") or {}
        # Model calls x their mean size, and how many served several videos at once.
        batches = (
            f"{model['model_calls']}x{model['mean_batch']:g}, {model['merged_calls']} shared"
            if model.get("model_calls")
            else ""
        )
        table.add_row(
            name + (" (restarted)" if a["restarted"] else ""), str(a["videos"]), str(a["items"]),
            f"{a['setup_s']:.2f}", f"{a['busy_s']:.2f}", f"{a['idle_s']:.2f}", batches,
        )  # fmt: skip
    return table

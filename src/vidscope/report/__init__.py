"""One self-contained HTML page per result bundle: a player, a zoomable timeline with a lane
per track, search over what is said and shown, and the run report (``vidscope report``)."""

from vidscope.report.html import Written, build_page, render, write_report

__all__ = ["Written", "build_page", "render", "write_report"]

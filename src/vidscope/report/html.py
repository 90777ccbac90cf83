"""Render the report: the page template with its CSS, JavaScript and data inlined, so the one
file works offline and can be mailed or archived as it is."""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import orjson

from vidscope._version import __version__
from vidscope.errors import OutputError
from vidscope.report.data import build
from vidscope.timeline.result import Result

_SLOT = re.compile(r"\{\{(\w+)\}\}")


def _asset(name: str) -> str:
    return (files("vidscope.report") / "assets" / name).read_text(encoding="utf-8")


def render(data: dict[str, Any]) -> str:
    """The report page for ``data`` (from :func:`vidscope.report.data.build`)."""
    # Inside <script> only "</script" or "<!--" could end or derail the block; escaping every
    # "<" keeps the JSON valid and rules both out.
    blob = orjson.dumps(data).replace(b"<", b"\\u003c").decode("utf-8")
    slots = {
        "title": html.escape(str(data.get("title", ""))),
        "version": __version__,
        "css": _asset("report.css"),
        "js": _asset("report.js"),
        "data": blob,
    }
    # One pass, so text inserted into one slot is never read as another slot.
    return _SLOT.sub(lambda m: slots[m.group(1)], _asset("report.html"))


@dataclass(frozen=True)
class Written:
    """What :func:`write_report` wrote."""

    path: Path
    size: int
    note: str | None
    """Why the report shows keyframes or no picture, when it does."""


def write_report(
    bundle: str | Path, output: str | Path | None = None, *, video: bool = True
) -> Written:
    """Write the HTML report of a result bundle (default ``BUNDLE/report.html``).

    ``video=False`` embeds keyframes instead of linking the analysed file.  The page is
    written beside the target and renamed, so a failed run leaves no partial file.

    Raises:
        InputError: ``bundle`` is not a result bundle.
        OutputError: the report cannot be written.
    """
    result = Result(bundle)
    target = Path(output) if output is not None else result.path / "report.html"
    page, note = build_page(result, target.parent, video=video)
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_bytes(page)
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError.of(exc, target) from None
    finally:
        tmp.unlink(missing_ok=True)
    return Written(target, len(page), note)


def build_page(
    result: Result, html_dir: Path, *, video: bool = True, source: str | None = None
) -> tuple[bytes, str | None]:
    """The report page of ``result`` for a file in ``html_dir`` (UTF-8), and why it shows
    keyframes or no picture, when it does.  ``source`` names the analysed media in place of
    the bundle's record of it: the HTTP service names a job's upload or URL, not the file it
    keeps."""
    data = build(result, html_dir, video=video)
    if source is not None:
        data["title"], data["source"] = Path(source).name or source, source
    return render(data).encode("utf-8"), data["media"]["note"]

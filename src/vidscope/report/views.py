"""Which lanes a bundle's tracks get: the views their analyzers declare, else a default one.

Each track in a bundle's manifest names the analyzer that wrote it; that analyzer's
:attr:`~vidscope.analyzers.base.Analyzer.views` say how its tracks read.  A track whose
analyzer declares nothing (``views`` is ``None``) or is not installed here still shows, as a
spans lane named by its records' ``label``, ``text`` or ``name``, as long as its records have
``start`` and ``end``: a new analyzer appears in the report without code outside its module.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from itertools import islice
from typing import Any

from vidscope.analyzers import registry
from vidscope.analyzers.base import TrackView
from vidscope.timeline.result import Result

Record = dict[str, Any]

_FORMATTER = string.Formatter()


def _fields(template: str) -> list[str]:
    """The record keys a template reads (``{a.b}`` and ``{a[0]}`` read ``a``)."""
    names = [field for _, field, _, _ in _FORMATTER.parse(template) if field]
    return [name.split(".", 1)[0].split("[", 1)[0] for name in names]


def labeller(label: str | tuple[str, ...]) -> Callable[[Record], str]:
    """The text of a record under a view's ``label`` templates: the first whose fields are all
    present and non-empty, else the last with missing fields empty."""
    templates = (label,) if isinstance(label, str) else label
    plan = [(t, _fields(t)) for t in templates]

    def text(record: Record) -> str:
        for template, fields in plan[:-1]:
            if all(record.get(f) not in (None, "") for f in fields):
                return template.format_map(record)
        template, fields = plan[-1]
        present = {k: v for k, v in record.items() if v is not None}
        return template.format_map({**dict.fromkeys(fields, ""), **present})

    return text


def _declared(analyzer: str | None) -> tuple[TrackView, ...] | None:
    if analyzer is None or not registry.is_known(analyzer):
        return None
    try:
        return registry.get(analyzer).views
    except Exception:  # a plugin that fails to import here still has its tracks shown
        return None


def _timed(result: Result, track: str) -> bool:
    first = next(islice(result.iter_track(track), 1), None)
    return first is None or ("start" in first and "end" in first)


def views(result: Result) -> list[TrackView]:
    """The views of ``result``'s finished tracks, in the manifest's order."""
    entries = result.manifest.get("tracks", {})
    out: list[TrackView] = []
    for track in result.tracks:
        # Bundles written before the manifest named analyzers fall back to today's producer.
        analyzer = entries[track].get("analyzer") or registry.producers().get(track)
        declared = _declared(analyzer)
        if declared is not None:
            out += [view for view in declared if view.track == track]
        elif _timed(result, track):
            out.append(TrackView(track))
    return out

"""What of a bundle goes into the index: one :class:`Row` per text-bearing record or labelled
span, read from its tracks by field name.

Fields are read by name and defensively (``text``, ``caption``, ``label``, ``speaker``,
``lines``, ``words``): a record that lacks one, or a track whose records change shape, gives
fewer rows instead of an error, and a track of an analyzer this module does not know still
gives rows when its records carry a ``text``, ``caption`` or ``label``.

A model's own track (``captions@LABEL``, ``summary@LABEL``: one vision-language model of
several in a run) is read as its base track is, and its rows keep the label
(``chapters@LABEL``), so a search finds them under the base name and under the label.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import orjson

from vidscope.errors import InputError
from vidscope.timeline.result import Result, track_file

TEXT, LABEL = "text", "label"
GAP_S = 1.0
"""People counts of records closer than this (same count, same shot) make one span."""


@dataclass(frozen=True)
class Row:
    """One searchable moment of a bundle."""

    track: str
    """The search track: a bundle track's name, or ``chapters``, ``people`` (with the
    bundle track's ``@LABEL``, if it has one)."""
    kind: str
    """``text`` (said, written, captioned: plain words find it) or ``label``."""
    start: float
    end: float
    text: str
    """What a hit shows."""
    body: str = ""
    """What is indexed, when it is more than ``text`` (a label's synonyms)."""
    shot: int | None = None
    speaker: str | None = None
    words: tuple[tuple[str, float, float], ...] = ()
    """A transcript segment's words and their times."""

    @property
    def family(self) -> str:
        """The track without a model's label: what a ``name:`` without one searches."""
        return self.track.partition("@")[0]


def _span(record: dict[str, Any]) -> tuple[float, float] | None:
    try:
        start, end = float(record["start"]), float(record["end"])
    except (KeyError, TypeError, ValueError):
        return None
    return (start, end) if end >= start else None


def _shot(record: dict[str, Any]) -> int | None:
    shot = record.get("shot")
    return shot if isinstance(shot, int) and not isinstance(shot, bool) else None


def _str(record: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = record.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _lines(record: dict[str, Any]) -> str | None:
    """An on-screen phrase given as ``lines`` (strings, or records with ``text``)."""
    lines = record.get("lines")
    if not isinstance(lines, list):
        return None
    texts = [line if isinstance(line, str) else _str(line, "text") for line in lines]
    joined = " ".join(t.strip() for t in texts if isinstance(t, str) and t.strip())
    return joined or None


def _transcript(records: Iterable[dict[str, Any]]) -> Iterator[Row]:
    for record in records:
        span = _span(record)
        words = tuple(
            (w["word"].strip(), float(w["start"]), float(w["end"]))
            for w in record.get("words") or ()
            if isinstance(w, dict) and isinstance(w.get("word"), str) and _span(w)
        )
        text = _str(record, "text") or " ".join(w for w, _, _ in words)
        if span is None or not text:
            continue
        speaker = record.get("speaker")
        yield Row(
            "transcript",
            TEXT,
            *span,
            text,
            shot=_shot(record),
            speaker=str(speaker) if isinstance(speaker, str | int) else None,
            words=words,
        )


def _summary(records: Iterable[dict[str, Any]]) -> Iterator[Row]:
    for record in records:
        span, text = _span(record), _str(record, "summary")
        if span is not None and text:
            yield Row("summary", TEXT, *span, text)
        for chapter in record.get("chapters") or ():
            if isinstance(chapter, dict):
                span, title = _span(chapter), _str(chapter, "title")
                if span is not None and title:
                    yield Row("chapters", TEXT, *span, title)


def _count_spans(
    track: str, records: Iterable[dict[str, Any]], field: str, nouns: tuple[str, str]
) -> Iterator[Row]:
    """Runs of records with the same number of ``field`` items: ``2 people`` from 0.5 s to
    3.0 s, instead of one row per sampled frame."""
    run: list[Any] = []  # [start, end, count, shot]

    def row() -> Row:
        start, end, count, shot = run
        noun = nouns[0] if count == 1 else nouns[1]
        return Row(track, LABEL, start, end, f"{count} {noun}", f"{count} {' '.join(nouns)}", shot)

    for record in records:
        span, items = _span(record), record.get(field)
        count = len(items) if isinstance(items, list) else None
        if span is None or not count:
            continue
        shot = _shot(record)
        if run and run[2] == count and run[3] == shot and span[0] - run[1] <= GAP_S:
            run[1] = max(run[1], span[1])
            continue
        if run:
            yield row()
        run = [span[0], span[1], count, shot]
    if run:
        yield row()


def _labelled(track: str) -> Callable[[Iterable[dict[str, Any]]], Iterator[Row]]:
    def rows(records: Iterable[dict[str, Any]]) -> Iterator[Row]:
        for record in records:
            span, label = _span(record), _str(record, "label")
            if span is None or not label:
                continue
            family = _str(record, "family")
            body = f"{label} {family}" if family and family != label else label
            yield Row(track, LABEL, *span, label, body, _shot(record))

    return rows


def _generic(track: str) -> Callable[[Iterable[dict[str, Any]]], Iterator[Row]]:
    def rows(records: Iterable[dict[str, Any]]) -> Iterator[Row]:
        for record in records:
            span = _span(record)
            if span is None:
                continue
            text = _str(record, "text", "caption") or _lines(record)
            if text:
                yield Row(track, TEXT, *span, text, shot=_shot(record))
            elif label := _str(record, "label"):
                yield Row(track, LABEL, *span, label, shot=_shot(record))

    return rows


def _transition(record: dict[str, Any], name: str) -> str | None:
    """The type of a shot's ``transition_in`` or ``transition_out``: an object with a
    ``type`` (a string in bundles of shots version 1)."""
    way = record.get(name)
    return _str(way, "type") if isinstance(way, dict) else _str(record, name)


def _shots(records: Iterable[dict[str, Any]]) -> Iterator[Row]:
    for n, record in enumerate(records):
        span = _span(record)
        if span is None:
            continue
        index = record.get("index", n)
        ways = [_transition(record, name) for name in ("transition_in", "transition_out")]
        text = f"shot {index}"
        if any(ways):
            text += f": {ways[0] or '?'} to {ways[1] or '?'}"
        yield Row("shots", LABEL, *span, text, shot=_shot({"shot": index}))


READERS: dict[str, Callable[[Iterable[dict[str, Any]]], Iterator[Row]]] = {
    "transcript": _transcript,
    "summary": _summary,
    "shots": _shots,
    "objects": _labelled("objects"),
    "audio_events": _labelled("audio_events"),
    "audio_class": _labelled("audio_class"),
    "pose": lambda records: _count_spans("people", records, "people", ("person", "people")),
    "faces": lambda records: _count_spans("faces", records, "faces", ("face", "faces")),
}
"""How each known track becomes rows; any other track is read by :func:`_generic`."""


def shot_spans(result: Result) -> list[tuple[int, float, float]]:
    """The bundle's shots as ``(index, start, end)``, in time order."""
    if "shots" not in result.tracks:
        return []
    return sorted(
        (row.shot, row.start, row.end)
        for row in _shots(result.iter_track("shots"))
        if row.shot is not None
    )


def shot_at(shots: list[tuple[int, float, float]], time: float) -> int | None:
    """The shot playing at ``time`` (the last one starting at or before it)."""
    k = bisect.bisect_right([s[1] for s in shots], time) - 1
    return shots[k][0] if k >= 0 and time < shots[k][2] + 1e-6 else None


def _reader(track: str) -> Callable[[Iterable[dict[str, Any]]], Iterator[Row]]:
    """How ``track`` becomes rows: a known track's reader (a model's own track, ``name@LABEL``,
    read as ``name`` is, each row's track labelled too), else :func:`_generic`."""
    base, _, label = track.partition("@")
    read = READERS.get(base)
    if read is None:
        return _generic(track)
    if not label:
        return read
    return lambda records: (replace(r, track=f"{r.track}@{label}") for r in read(records))


def bundle_rows(result: Result) -> Iterator[Row]:
    """Every row of the bundle's finished tracks; a record without its own shot gets the one
    playing at its start."""
    shots = shot_spans(result)
    for track in result.tracks:
        for row in _reader(track)(result.iter_track(track)):
            if row.shot is None and shots:
                shot = shot_at(shots, row.start)
                if shot is not None:
                    row = replace(row, shot=shot)
            yield row


def digest(result: Result) -> str:
    """What changes when the bundle's searchable content may have: every finished track's
    manifest entry and its file's size and modification time."""
    h = hashlib.sha256()
    entries = result.manifest.get("tracks", {})
    for name in sorted(result.tracks):
        entry = entries[name]
        try:
            stat = track_file(result.path, entry).stat()
        except (InputError, OSError):
            continue
        h.update(orjson.dumps([name, entry, stat.st_size, stat.st_mtime_ns], default=str))
    return h.hexdigest()

"""The report's data: one JSON document built from a result bundle by streaming its tracks.

Lanes come in two kinds.  ``spans`` lanes hold items ``[start, end, text]`` (plus a row
number in lanes whose items overlap), sorted by start: shots, transcript words, captions,
on-screen text, objects, speech, audio classes and events.  ``lines`` lanes hold series, either
regular (``t0``, ``step``, ``values``, null for a gap) or per span (``spans: [[start, end,
value]]``): shot attributes, loudness, motion, and the per-frame people tracks reduced to one
value per bucket.  Which track gets which lane, titled and labelled how, is declared by the
analyzer that wrote it (``Analyzer.views``, read in :mod:`vidscope.report.views`); the
transcript's words, the chapters, the faces/people counts and the shot attributes are
composite lanes built here.

Size budget: per-frame tracks (faces, pose, segmentation) and per-second tracks become series
of at most ``MAX_POINTS`` buckets (one per second up to an hour), text items are kept whole
and compact, and at most ``MAX_KEYFRAMES`` keyframes of ``KEYFRAME_WIDTH`` pixels (about
8 KB each) are embedded; the whole report of a 3-minute video stays under 5 MB.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import av

from vidscope.analyzers.base import TrackView
from vidscope.report.media import keyframes, locate, media_url, unplayable
from vidscope.report.views import labeller, views
from vidscope.timeline.result import Result
from vidscope.timeline.summary import summarize

MAX_POINTS = 3600
MAX_ROWS = 4
MAX_KEYFRAMES = 300
# Without a shot track, keyframes stand for windows of this many seconds.
FRAME_WINDOW = 10.0

Record = dict[str, Any]
Lane = dict[str, Any]

# Where the composite lanes the report builds itself sit among the declared ones (see
# ``TrackView.order``): they read several fields or tracks at once, beyond what a view says.
COMPOSITE_ORDER = {"chapters": 25, "transcript": 30, "people": 60, "shot_attributes": 120}


def _t(value: Any) -> float:
    return round(float(value), 3)


def _how_many(key: str) -> Callable[[Record], float]:
    """How many entries a record lists under ``key``."""
    return lambda r: float(len(r.get(key) or []))


def _spans(
    records: Iterable[Record], text: Callable[[Record], str], *, rows: bool = False
) -> list[list[Any]]:
    """Items sorted by start; with ``rows``, each gets the first row free at its start (the
    last rows are shared once ``MAX_ROWS`` are busy)."""
    items: list[list[Any]] = [[_t(r["start"]), _t(r["end"]), text(r)] for r in records]
    items.sort(key=lambda i: i[0])
    if rows:
        ends: list[float] = []
        for item in items:
            free = next((k for k, end in enumerate(ends) if end <= item[0]), None)
            if free is None and len(ends) < MAX_ROWS:
                ends.append(0.0)
                free = len(ends) - 1
            elif free is None:
                free = ends.index(min(ends))
            ends[free] = max(ends[free], item[1])
            item.append(free)
    return items


class _Buckets:
    """Values reduced into fixed time buckets (max or mean); an empty bucket is null."""

    def __init__(self, start: float, duration: float, step: float, reduce: str) -> None:
        self.start, self.step, self.reduce = start, step, reduce
        n = max(1, math.ceil(duration / step))
        self.total = [0.0] * n
        self.count = [0] * n

    def add(self, time: float, value: float | None) -> None:
        if value is None:
            return
        k = min(len(self.total) - 1, max(0, int((time - self.start) / self.step)))
        if self.reduce == "max":
            self.total[k] = max(self.total[k], value) if self.count[k] else value
        else:
            self.total[k] += value
        self.count[k] += 1

    def series(self, name: str) -> dict[str, Any]:
        values = [
            None if not c else round(v if self.reduce == "max" else v / c, 4)
            for v, c in zip(self.total, self.count, strict=True)
        ]
        return {"name": name, "t0": self.start, "step": self.step, "values": values}


class _Builder:
    """Lanes of one bundle; a lane appears only when its track finished."""

    def __init__(self, result: Result) -> None:
        self.result = result
        media = result.media
        self.start = float(media.get("start") or 0.0)
        self.duration = float(media.get("duration") or 0.0)
        self.step = max(1.0, self.duration / MAX_POINTS)

    def has(self, name: str) -> bool:
        return name in self.result.tracks

    def iter(self, name: str) -> Iterator[Record]:
        return self.result.iter_track(name) if self.has(name) else iter(())

    def buckets(self, name: str, value: Callable[[Record], float | None], reduce: str) -> _Buckets:
        b = _Buckets(self.start, self.duration, self.step, reduce)
        for r in self.iter(name):
            b.add((float(r["start"]) + float(r["end"])) / 2, value(r))
        return b

    def view_lane(self, view: TrackView) -> Lane:
        """The lane a track's declared (or default) view describes."""
        if view.kind == "line":
            return self.line(view)
        items = _spans(self.iter(view.track), labeller(view.label), rows=view.rows)
        flags = {k: True for k in ("tint", "search") if getattr(view, k)}
        return {"id": view.track, "label": view.heading, "kind": "spans", "items": items, **flags}

    def transcript(self) -> Lane | None:
        """Words (a segment without words stands as one item), each with its segment."""
        if not self.has("transcript"):
            return None
        segments: list[list[Any]] = []
        items: list[list[Any]] = []
        for r in self.iter("transcript"):
            index = len(segments)
            segments.append([_t(r["start"]), _t(r["end"]), str(r.get("text", "")).strip()])
            words = r.get("words") or [
                {"word": r.get("text", ""), "start": r["start"], "end": r["end"]}
            ]
            items += [[_t(w["start"]), _t(w["end"]), str(w["word"]).strip(), index] for w in words]
        items.sort(key=lambda i: i[0])
        return {
            "id": "transcript",
            "label": "transcript",
            "kind": "spans",
            "items": [i[:3] for i in items],
            "segment": [i[3] for i in items],
            "segments": segments,
            "search": True,
        }

    def per_model(self, base: str) -> list[tuple[str, str]]:
        """The tracks named ``base`` or ``base@LABEL`` (one per model of a comparison run),
        with the suffix that tells their lanes apart (``""``, ``"@LABEL"``)."""
        return [
            (track, track[len(base) :])
            for track in self.result.tracks
            if track == base or track.startswith(base + "@")
        ]

    def shot_attributes(self, track: str, at: str) -> Lane | None:
        series: dict[str, list[list[float]]] = {}
        for r in self.iter(track):
            for key, value in (r.get("fused") or r.get("attributes") or {}).items():
                if value is not None:
                    series.setdefault(key, []).append([_t(r["start"]), _t(r["end"]), value])
        if not series:
            return None
        return {
            "id": "shot_attributes" + at,
            "label": "shot attributes" + _model(at),
            "kind": "lines",
            "lo": 0.0,
            "hi": 1.0,
            "series": [{"name": k, "spans": v} for k, v in series.items()],
        }

    def counts(self) -> Lane | None:
        """Faces and people (pose) per bucket: the most seen in one sampled frame."""
        series = [
            self.buckets(track, _how_many(key), "max").series(label)
            for track, key, label in (("faces", "faces", "faces"), ("pose", "people", "people"))
            if self.has(track)
        ]
        if not series:
            return None
        top = max((v for s in series for v in s["values"] if v is not None), default=0.0)
        return {
            "id": "people",
            "label": "faces / people",
            "kind": "lines",
            "lo": 0.0,
            "hi": max(1.0, top),
            "series": series,
        }

    def line(self, view: TrackView) -> Lane:
        key = view.value
        series = self.buckets(view.track, lambda r: r.get(key), "mean").series(key)
        top = max((v for v in series["values"] if v is not None), default=0.0)
        return {
            "id": view.track,
            "label": view.heading,
            "kind": "lines",
            "lo": view.lo,
            "hi": view.hi if view.hi is not None else max(top, 1e-3),
            "unit": view.unit,
            "series": [series],
        }

    def chapters(self, track: str, at: str) -> Lane | None:
        chapters = [c for r in self.iter(track) for c in r.get("chapters") or []]
        if not chapters:
            return None
        items = _spans(chapters, lambda c: str(c["title"]))
        return {
            "id": "chapters" + at,
            "label": "chapters" + _model(at),
            "kind": "spans",
            "items": items,
        }

    def lanes(self) -> list[Lane]:
        """Every lane this bundle has, top to bottom: the tracks' views and the composite
        lanes, by order (ties keep the manifest's order).  The models of a comparison run
        get lanes side by side, one per model."""
        placed = [(view.order, self.view_lane(view)) for view in views(self.result)]
        composite = [
            *(self.chapters(t, at) for t, at in self.per_model("summary")),
            self.transcript(),
            self.counts(),
            *(self.shot_attributes(t, at) for t, at in self.per_model("shot_captions")),
        ]
        placed += [
            (COMPOSITE_ORDER[lane["id"].partition("@")[0]], lane)
            for lane in composite
            if lane is not None
        ]
        placed.sort(key=lambda p: p[0])
        return [lane for _, lane in placed]

    def frame_spans(self, shots: Lane | None) -> list[tuple[float, float]]:
        if shots is not None:
            return [(i[0], i[1]) for i in shots["items"]]
        n = min(MAX_KEYFRAMES, max(1, math.ceil(self.duration / FRAME_WINDOW)))
        width = self.duration / n
        return [(self.start + k * width, self.start + (k + 1) * width) for k in range(n)]


def _model(at: str) -> str:
    """A per-model lane's title suffix: `` (LABEL)`` for ``@LABEL``."""
    return f" ({at[1:]})" if at else ""


def _thin(n: int, keep: int) -> list[int]:
    """``keep`` evenly spread indices out of ``n`` (all of them when ``n <= keep``)."""
    if n <= keep:
        return list(range(n))
    return sorted({round(k * (n - 1) / (keep - 1)) for k in range(keep)})


def build(result: Result, html_dir: Path, *, video: bool = True) -> dict[str, Any]:
    """The report's data for ``result``; the media URL is relative to ``html_dir``, where the
    report is written.  ``video=False`` shows keyframes even where the file would play."""
    builder = _Builder(result)
    lanes = builder.lanes()
    manifest = result.manifest
    media = result.media
    path = locate(result.path, manifest)
    shown: dict[str, Any] = {"kind": "none", "src": None, "note": None}
    frames: list[list[Any]] = []
    if path is None:
        shown["note"] = "the analysed file was not found: no picture"
    else:
        reason = unplayable(media, path)
        if video and reason is None:
            kind = "video" if media.get("video") else "audio"
            shown.update(kind=kind, src=media_url(path, html_dir))
        elif media.get("video"):
            shown.update(kind="frames", note=f"{reason}: keyframes instead" if reason else None)
        else:
            shown["note"] = reason
    shots = next((lane for lane in lanes if lane["id"] == "shots"), None)
    if path is not None and media.get("video"):
        spans = builder.frame_spans(shots)
        chosen = _thin(len(spans), MAX_KEYFRAMES)
        rotation = int(media["video"].get("rotation") or 0)
        try:
            # The middle of a shot shows it better than its first frame (fades, motion blur).
            images = keyframes(path, [sum(spans[k]) / 2 for k in chosen], rotation=rotation)
        except (av.FFmpegError, OSError) as exc:
            images = []
            shown["note"] = f"keyframes could not be decoded ({exc})"
        frames = [[*spans[k], image] for k, image in zip(chosen, images, strict=False)]
        if shots is not None and frames:
            thumb = {k: n for n, k in enumerate(chosen[: len(frames)])}
            shots["thumbs"] = [thumb.get(k) for k in range(len(spans))]
    # A comparison run has a summary per model; the first one stands as the abstract.
    summary_text = next(
        (r.get("summary") for t, _ in builder.per_model("summary") for r in builder.iter(t)), None
    )
    source = manifest.get("source", {})
    name = source.get("url") or source.get("input") or media.get("path") or str(result.path)
    return {
        "version": 1,
        "title": Path(str(name)).name or str(name),
        "source": str(name),
        "start": builder.start,
        "duration": builder.duration,
        "media": shown,
        "summary": summarize(result).to_dict(),
        "abstract": summary_text,
        "lanes": lanes,
        "frames": frames,
    }

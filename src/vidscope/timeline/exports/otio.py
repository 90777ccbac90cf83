"""OpenTimelineIO export: the shots as clips of a video track, the other tracks as markers.

Timeline time is the media's own clock: the video track starts at zero and a gap stands in
for any time before the first shot or between shots, so a clip's place on the timeline and
its ``source_range`` (whole frames at the media's frame rate) agree, and markers line up
with both.  Each clip points at the source media (an ``ExternalReference``) when the
manifest knows its path, and carries its record in ``metadata["vidscope"]``.

Markers are kept to tracks whose records name something, by ``text``, ``caption``,
``summary`` or ``label``: ``transcript``, ``captions``, ``shot_captions``, ``ocr``,
``audio_class``, ``audio_events``, ``objects``, ``shot_objects``, ``summary``.  Dense
per-frame or per-second measurements (``faces``, ``pose``, ``segmentation``,
``visual_stats``, ``audio_features``, ...) are left out: thousands of unnamed markers help no
editor, and their numbers export better as ``csv`` or ``parquet``.  Each marker is placed on
the timeline's stack over its record's exact span, named by its text, and carries
``metadata["vidscope"] = {"track": name, "record": record}``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import IO, Any

from vidscope.timeline.exports.common import (
    Record,
    finished_records,
    frame,
    frame_rate,
    frame_spans,
    media_file,
    media_name,
    media_path,
    optional,
)
from vidscope.timeline.result import Result

MARKER_FIELDS = ("text", "caption", "summary", "label")
"""A record field that names a marker; a track whose first record has none gets no markers."""
COLORS = ("GREEN", "CYAN", "YELLOW", "ORANGE", "MAGENTA", "PURPLE", "PINK", "BLUE", "WHITE")
"""Marker colours, one per marker track in turn (red stays free for an editor's notes)."""


def _marker_name(record: Record, track: str) -> str:
    for field in MARKER_FIELDS:
        if record.get(field):
            return " ".join(str(record[field]).split())
    return track


def build_timeline(result: Result, track: str = "shots") -> Any:
    """The timeline of ``result``: the records of ``track`` as clips, markers from the others
    (see the module notes).  Raises :class:`UsageError` for a missing or failed track or
    when OpenTimelineIO is not installed."""
    otio = optional("opentimelineio", "otio")
    rt, tr = otio.opentime.RationalTime, otio.opentime.TimeRange
    records = finished_records(result, track)
    rate = frame_rate(result.media)
    media_start = float(result.media.get("start") or 0.0)
    local = media_file(result)
    target = local.resolve().as_uri() if local else media_path(result)

    def reference() -> Any:
        if target is None:
            return otio.schema.MissingReference()
        return otio.schema.ExternalReference(
            target_url=target,
            available_range=tr(
                rt(frame(media_start, rate), rate),
                rt(frame(float(result.media.get("duration") or 0.0), rate), rate),
            ),
        )

    video = otio.schema.Track(name=track, kind=otio.schema.TrackKind.Video)
    position = 0
    for i, (first, end, record) in enumerate(frame_spans(records, rate)):
        if first > position:
            video.append(otio.schema.Gap(source_range=tr(rt(0, rate), rt(first - position, rate))))
        video.append(
            otio.schema.Clip(
                name=f"{'shot' if track == 'shots' else track} {record.get('index', i)}",
                media_reference=reference(),
                source_range=tr(rt(first, rate), rt(end - first, rate)),
                metadata={"vidscope": {"track": track, "record": record}},
            )
        )
        position = end

    timeline = otio.schema.Timeline(
        name=media_name(result),
        global_start_time=rt(0, rate),
        metadata={"vidscope": {"media": result.media}},
    )
    timeline.tracks.append(video)
    colors = itertools.cycle(COLORS)
    for name in result.tracks:
        if name == track:
            continue
        marks = finished_records(result, name)
        head = next(marks, None)
        if head is None or not any(field in head for field in MARKER_FIELDS):
            marks.close()
            continue
        color = getattr(otio.schema.MarkerColor, next(colors))
        for record in itertools.chain([head], marks):
            start, stop = float(record["start"]), float(record["end"])
            timeline.tracks.markers.append(
                otio.schema.Marker(
                    name=_marker_name(record, name),
                    marked_range=tr(rt(start * rate, rate), rt((stop - start) * rate, rate)),
                    color=color,
                    metadata={"vidscope": {"track": name, "record": record}},
                )
            )
    return timeline


def prepare(result: Result, track: str, fmt: str = "otio") -> Callable[[IO[str]], int]:
    """Build the timeline now (so every error comes before writing) and return its writer,
    which returns the number of clips."""
    otio = optional("opentimelineio", fmt)
    timeline = build_timeline(result, track)
    clips = len(list(timeline.find_clips()))

    def write(out: IO[str]) -> int:
        out.write(otio.adapters.write_to_string(timeline, "otio_json"))
        return clips

    return write

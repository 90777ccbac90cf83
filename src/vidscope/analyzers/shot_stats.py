"""One record per shot joining what the other tracks measured inside it: picture statistics,
loudness and tempo, the share of speech, the audio classes and the dominant sound events.

Shots arrive as soon as the shot detector closes them, but the other tracks run on other
threads.  A shot is finalised once every connected per-second track (one record per second,
in order) has passed its end.  Span tracks (speech, audio classes, sound events) close a span
only when it ends, so they are waited for only up to ``span_lag`` seconds behind the
per-second tracks: that bounds what is held in memory (the seconds and spans after the oldest
open shot) whatever the length of the video, at the price that a span still open
``span_lag`` seconds after a shot ended is not counted in that shot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from pydantic import Field

from vidscope.analyzers.base import Analyzer, Item, Params, Record, Requirements, TrackRecord
from vidscope.media.probe import MediaInfo

_ROWS = ("visual_stats", "audio_features")
_SPANS = ("audio_class", "speech", "audio_events")
_VISUAL = ("brightness", "darkness", "dark_share", "colourfulness", "motion")
_AUDIO = ("rms_db", "spectral_centroid", "zero_crossing_rate", "tempo")


class ShotStatsParams(Params):
    client_settable = frozenset({"top_events"})

    span_lag: float = Field(30.0, ge=0, description="how long to wait for open spans (s)")
    top_events: int = Field(3, ge=1, le=50, description="dominant sound events kept per shot")


@dataclass
class _State:
    media: MediaInfo
    rows: dict[str, list[Record]]
    progress: dict[str, float]
    shots: list[Record] = field(default_factory=list)
    closed_until: float = float("-inf")


def _overlap(r: Record, lo: float, hi: float) -> float:
    return max(0.0, min(float(r["end"]), hi) - max(float(r["start"]), lo))


def _weighted(rows: list[Record], key: str, lo: float, hi: float) -> float | None:
    """Mean of ``key`` over records weighted by their overlap with ``[lo, hi)``."""
    total = weight_sum = 0.0
    for r in rows:
        value, w = r.get(key), _overlap(r, lo, hi)
        if value is not None and w > 0:
            total += float(value) * w
            weight_sum += w
    return total / weight_sum if weight_sum else None


def _shares(spans: list[Record], lo: float, hi: float, top: int | None = None) -> dict[str, float]:
    """Share of ``[lo, hi)`` covered by each label, largest first."""
    shares: dict[str, float] = {}
    for r in spans:
        w = _overlap(r, lo, hi)
        if w > 0:
            shares[r["label"]] = shares.get(r["label"], 0.0) + w
    ranked = sorted(shares.items(), key=lambda kv: -kv[1])[:top]
    return {k: round(min(1.0, v / (hi - lo)), 3) for k, v in ranked}


def shot_record(shot: Record, rows: dict[str, list[Record]], top_events: int) -> Record:
    """Pure: the per-shot summary from the records overlapping the shot."""
    lo, hi = float(shot["start"]), float(shot["end"])
    out: Record = {
        "start": shot["start"],
        "end": shot["end"],
        "shot": shot["index"],
        "duration": round(hi - lo, 3),
    }
    visual = rows.get("visual_stats", [])
    for key in _VISUAL:
        v = _weighted(visual, key, lo, hi)
        out[key] = None if v is None else round(v, 4)
    peaks = [
        r["motion_max"] for r in visual if r.get("motion_max") is not None and _overlap(r, lo, hi)
    ]
    out["motion_max"] = round(float(np.max(peaks)), 4) if peaks else None
    audio = rows.get("audio_features", [])
    for key in _AUDIO:
        v = _weighted(audio, key, lo, hi)
        out[key] = None if v is None else round(v, 3)
    if "speech" in rows:
        speech = sum(_overlap(r, lo, hi) for r in rows["speech"])
        out["speech_share"] = round(min(1.0, speech / (hi - lo)), 3)
    out["audio_classes"] = _shares(rows.get("audio_class", []), lo, hi)
    if "audio_events" in rows:
        out["events"] = _shares(rows["audio_events"], lo, hi, top_events)
    return out


class ShotStatsAnalyzer(Analyzer[ShotStatsParams]):
    """Per-shot statistics assembled from the shot list and the other tracks."""

    name = "shot_stats"
    version = "2"
    description = "per-shot picture, loudness, speech share, audio classes and sound events"
    needs_video = True
    # No lane of its own: shot statistics sum up other lanes per shot.
    views = ()
    Params = ShotStatsParams

    def requirements(self) -> Requirements:
        return Requirements(tracks=("shots",), optional_tracks=_ROWS + _SPANS)

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> _State:
        connected = [t for t in _ROWS + _SPANS if t in inputs]
        return _State(
            media, rows={t: [] for t in connected}, progress=dict.fromkeys(connected, media.start)
        )

    def _ready(self, state: _State, final: bool) -> list[Record]:
        p = self.params
        rows_at = min((v for t, v in state.progress.items() if t in _ROWS), default=float("inf"))
        out = []
        while state.shots:
            end = float(state.shots[0]["end"])
            spans_done = all(
                v >= end or rows_at >= end + p.span_lag
                for t, v in state.progress.items()
                if t in _SPANS
            )
            if not (final or (rows_at >= end and spans_done)):
                break
            shot = state.shots.pop(0)
            state.closed_until = end
            out.append(shot_record(shot, state.rows, p.top_events))
        oldest = float(state.shots[0]["start"]) if state.shots else state.closed_until
        for track, rows in state.rows.items():
            state.rows[track] = [r for r in rows if float(r["end"]) > oldest]
        return out

    def process_batch(self, state: _State, items: Sequence[Item]) -> Iterable[Record]:
        for item in items:
            assert isinstance(item, TrackRecord)
            if item.track == "shots":
                state.shots.append(item.record)
            elif item.track in state.rows:
                state.rows[item.track].append(item.record)
                state.progress[item.track] = max(state.progress[item.track], item.time)
        return self._ready(state, final=False)

    def finish(self, state: _State) -> Iterable[Record]:
        return self._ready(state, final=True)

"""One record per shot joining what the other tracks measured inside it: picture statistics,
sound, the audio classes, and the shot's pace.

Shots arrive as soon as the shot detector closes them, but the per-second tracks run on
other threads; a shot is finalised once every connected per-second track has passed its end
(or at the end of the media).  Only the seconds after the oldest open shot are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from vidscope.analyzers.base import Analyzer, Item, Record, Requirements, TrackRecord
from vidscope.media.probe import MediaInfo

_PER_SECOND = ("visual_stats", "audio_features", "audio_class")
_VISUAL = ("brightness", "darkness", "dark_share", "colourfulness", "motion")
_AUDIO = ("rms_db", "spectral_centroid", "zero_crossing_rate", "tempo")


@dataclass
class _State:
    media: MediaInfo
    inputs: frozenset[str]
    shots: list[Record] = field(default_factory=list)
    rows: dict[str, list[Record]] = field(default_factory=dict)
    progress: dict[str, float] = field(default_factory=dict)
    closed_until: float = float("-inf")


def _weighted(rows: list[Record], key: str, lo: float, hi: float) -> float | None:
    """Mean of ``key`` over records weighted by their overlap with ``[lo, hi)``."""
    total = weight_sum = 0.0
    for r in rows:
        value = r.get(key)
        w = min(float(r["end"]), hi) - max(float(r["start"]), lo)
        if value is None or w <= 0:
            continue
        total += float(value) * w
        weight_sum += w
    return total / weight_sum if weight_sum else None


def _class_shares(rows: list[Record], lo: float, hi: float) -> dict[str, float]:
    shares: dict[str, float] = {}
    for r in rows:
        w = min(float(r["end"]), hi) - max(float(r["start"]), lo)
        if w > 0:
            shares[r["label"]] = shares.get(r["label"], 0.0) + w
    span = hi - lo
    return {k: round(v / span, 3) for k, v in sorted(shares.items(), key=lambda kv: -kv[1])}


def shot_record(shot: Record, rows: dict[str, list[Record]]) -> Record:
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
    motions = [
        r["motion_max"]
        for r in visual
        if r.get("motion_max") is not None and float(r["start"]) < hi and float(r["end"]) > lo
    ]
    out["motion_max"] = round(float(np.max(motions)), 4) if motions else None
    audio = rows.get("audio_features", [])
    for key in _AUDIO:
        v = _weighted(audio, key, lo, hi)
        out[key] = None if v is None else round(v, 3)
    out["audio_classes"] = _class_shares(rows.get("audio_class", []), lo, hi)
    return out


class ShotStatsAnalyzer(Analyzer):
    """Per-shot statistics assembled from the shot list and the per-second tracks."""

    name = "shot_stats"
    version = "1"
    description = "per-shot picture, sound and pace statistics"
    needs_video = True

    def requirements(self) -> Requirements:
        return Requirements(tracks=("shots",), optional_tracks=_PER_SECOND)

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> _State:
        waits = frozenset(t for t in _PER_SECOND if t in inputs)
        return _State(media, waits, rows={t: [] for t in waits}, progress=dict.fromkeys(waits, 0.0))

    def _ready(self, state: _State, final: bool) -> list[Record]:
        horizon = min(state.progress.values(), default=float("inf"))
        out = []
        while state.shots and (final or float(state.shots[0]["end"]) <= horizon):
            shot = state.shots.pop(0)
            state.closed_until = float(shot["end"])
            out.append(shot_record(shot, state.rows))
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
                # audio_class spans may end long after the shot; coverage is what matters.
                state.progress[item.track] = max(state.progress[item.track], item.time)
        return self._ready(state, final=False)

    def finish(self, state: _State) -> Iterable[Record]:
        return self._ready(state, final=True)

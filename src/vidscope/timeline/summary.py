"""What a result bundle says at a glance: shots, speech, languages, sounds, and the run report.

One computation for ``vidscope show`` and the header of the HTML report.  Tracks are streamed,
so summarising a long video does not load its tracks into memory.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from vidscope.timeline.coverage import Coverage
from vidscope.timeline.result import Result

TOP_EVENTS = 5


@dataclass(frozen=True)
class StageRow:
    """One stage of the run report: the decoder or an analyzer."""

    name: str
    busy_s: float
    rtf: float | None
    share_of_wall: float | None
    coverage: float | None
    """Analyzed coverage (frame analyzers), else the time coverage of its track, else None."""


@dataclass(frozen=True)
class Summary:
    """The figures both the terminal and the HTML report lead with."""

    status: str
    duration: float
    shots: int | None
    """None when the bundle has no shot track."""
    speech_share: float | None
    """Share of the media's time with speech (VAD, else transcript segments); None: no track."""
    languages: list[tuple[str, float]]
    """Transcript languages with their share of transcribed time, largest first."""
    top_events: list[tuple[str, float]]
    """Sound events with their total seconds, longest first."""
    stages: list[StageRow]
    wall_s: float | None
    rtf: float | None
    peak_rss_mb: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tuples become lists)."""
        return asdict(self)


def _speech_share(result: Result, lo: float, hi: float) -> float | None:
    for name in ("speech", "transcript"):
        if name in result.tracks:
            covered = Coverage()
            for r in result.iter_track(name):
                covered.add(float(r["start"]), float(r["end"]))
            return covered.fraction(lo, hi)
    return None


def _languages(result: Result) -> list[tuple[str, float]]:
    if "transcript" not in result.tracks:
        return []
    seconds: defaultdict[str, float] = defaultdict(float)
    for r in result.iter_track("transcript"):
        if r.get("language"):
            seconds[str(r["language"])] += max(0.0, float(r["end"]) - float(r["start"]))
    total = sum(seconds.values())
    return [(lang, s / total if total else 0.0) for lang, s in _largest_first(seconds)]


def _top_events(result: Result) -> list[tuple[str, float]]:
    if "audio_events" not in result.tracks:
        return []
    seconds: defaultdict[str, float] = defaultdict(float)
    for r in result.iter_track("audio_events"):
        seconds[str(r.get("label"))] += max(0.0, float(r["end"]) - float(r["start"]))
    return _largest_first(seconds)[:TOP_EVENTS]


def _largest_first(seconds: dict[str, float]) -> list[tuple[str, float]]:
    """Labels by their seconds, largest first, ties in first-seen order (as Counter's
    ``most_common``, which is typed for counts, not seconds)."""
    return sorted(seconds.items(), key=lambda item: item[1], reverse=True)


def _stages(report: dict[str, Any]) -> list[StageRow]:
    coverage = report.get("coverage", {})
    return [
        StageRow(
            name=name,
            busy_s=float(s.get("busy_s", 0.0)),
            rtf=s.get("rtf"),
            share_of_wall=s.get("share_of_wall"),
            coverage=s.get("analyzed_coverage", coverage.get(name)),
        )
        for name, s in report.get("stages", {}).items()
    ]


def summarize(result: Result) -> Summary:
    """Summarise a bundle: shot count, speech share, languages, top sound events, run report."""
    media = result.media
    start = float(media.get("start") or 0.0)
    duration = float(media.get("duration") or 0.0)
    entry = result.manifest.get("tracks", {}).get("shots", {})
    report = result.run_report
    return Summary(
        status=result.status,
        duration=duration,
        shots=int(entry.get("records", 0)) if "shots" in result.tracks else None,
        speech_share=_speech_share(result, start, start + duration),
        languages=_languages(result),
        top_events=_top_events(result),
        stages=_stages(report),
        wall_s=report.get("wall_s"),
        rtf=report.get("rtf"),
        peak_rss_mb=report.get("peak_rss_mb"),
    )

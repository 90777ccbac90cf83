"""What ``vidscope analyze`` prints once an input is done: what was found, the tracks that
cover less than all of the media, warnings and the bundle's status; after the run, the commands
that show or export the result.  The table of each stage's busy time is for ``--stats`` and
``vidscope show --report``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidscope.timeline.bundle import Status
from vidscope.timeline.result import Result
from vidscope.timeline.summary import Summary, summarize

COUNTED = {
    "ocr": ("text span", "text spans"),
    "objects": ("object track", "object tracks"),
    "faces": ("frame with faces", "frames with faces"),
    "pose": ("frame with a pose", "frames with a pose"),
    "captions": ("caption", "captions"),
    "shot_captions": ("shot caption", "shot captions"),
    "audio_class": ("audio class span", "audio class spans"),
}
"""Tracks whose record count says what was found, with what one record is and what more are."""

TOP_SOUNDS = 3


def share(value: float | None) -> str:
    """``0.862`` as ``86 %``; empty for None."""
    return "" if value is None else f"{100 * value:.0f} %"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _speakers(result: Result) -> int:
    return len({r.get("speaker") for r in result.iter_track("speakers")} - {None})


def found(result: Result, summary: Summary | None = None) -> str:
    """One line of what the bundle holds: ``4 shots · speech 86 % (en) · 12 text spans ·
    2 speakers · sounds Music, Speech · also visual_stats``."""
    s = summary or summarize(result)
    tracks = result.manifest.get("tracks", {})
    facts: list[str] = []
    if s.shots is not None:
        facts.append(_count(s.shots, "shot", "shots"))
    if s.speech_share is not None:
        langs = ", ".join(
            lang if len(s.languages) == 1 else f"{lang} {share(v)}" for lang, v in s.languages
        )
        facts.append(f"speech {share(s.speech_share)}" + (f" ({langs})" if langs else ""))
    if "speakers" in result.tracks:
        facts.append(_count(_speakers(result), "speaker", "speakers"))
    for track, (one, many) in COUNTED.items():
        if track in result.tracks:
            facts.append(_count(int(tracks[track].get("records", 0)), one, many))
    if s.top_events:
        facts.append("sounds " + ", ".join(label for label, _ in s.top_events[:TOP_SOUNDS]))
    described = {"shots", "speech", "transcript", "speakers", "audio_events", *COUNTED}
    rest = [t for t in result.tracks if t not in described]
    if rest:
        facts.append("also " + ", ".join(rest))
    return " · ".join(facts) or "no tracks"


def short_coverage(report: dict[str, Any]) -> str:
    """``visual_stats 97 %, audio_features 99 %``: the tracks that cover less than all of the
    media (as rounded to a whole percent); empty when every one covers it all."""
    return ", ".join(
        f"{track} {share(v)}" for track, v in report.get("coverage", {}).items() if v < 0.995
    )


def print_outcome(console: Any, result: Result, where: str) -> None:
    """What an input's run found, its coverage below 100 %, its warnings, and its status."""
    console.print(found(result), highlight=False, soft_wrap=True)
    low = short_coverage(result.manifest.get("report", {}))
    if low:
        console.print(f"coverage: {low}", highlight=False, soft_wrap=True)
    for warning in result.manifest.get("warnings", []):
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    console.print(status_line(result, where), highlight=False, soft_wrap=True)


def print_next(console: Any, bundle: Path, tracks: list[str]) -> None:
    """The commands that show or export ``bundle`` (the first input's, for a run of many)."""
    name = bundle.resolve().name or "bundle"
    target = f"{name}.srt" if "transcript" in tracks else f"{name}.csv"
    console.print(
        f"next: vidscope report {bundle}    (an HTML page with player and timeline)\n"
        f"      vidscope export {bundle} -o {target}\n"
        f"      vidscope show {bundle} --report    (time spent per analyzer)",
        highlight=False,
        soft_wrap=True,
    )


def print_stats(console: Any, summary: Summary) -> None:
    """Each stage's busy time, its share of the run's wall time, RTF and coverage.  Stages
    run side by side, so those shares overlap: the table says so."""
    from rich.table import Table

    if not summary.stages:
        console.print("no run report in this bundle", highlight=False)
        return
    table = Table(title="time per stage", title_justify="left", show_edge=False)
    for col in ("stage", "busy s", "busy / wall", "RTF", "coverage"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for row in summary.stages:
        rtf = "" if row.rtf is None else f"{row.rtf:.3f}"
        table.add_row(
            row.name, f"{row.busy_s:.2f}", share(row.share_of_wall), rtf, share(row.coverage)
        )
    console.print(table)
    if summary.wall_s is not None:
        console.print(
            f"wall {summary.wall_s:.2f} s for {summary.duration:.1f} s of media "
            f"(RTF {summary.rtf or 0:.3f}), peak memory {summary.peak_rss_mb or 0:.0f} MB\n"
            "busy / wall: the share of the run's wall time a stage spent working; stages run "
            "side by side, so these shares overlap and do not add up to 100 %",
            highlight=False,
            soft_wrap=True,
        )


def status_line(result: Result, where: str) -> str:
    """``complete: out``, or ``complete_with_gaps: out: visual_stats covers 39% of the
    media; ...`` (rich markup) for the bundle ``result`` written to ``where``."""
    if result.status == Status.COMPLETE_WITH_GAPS:
        return f"[yellow]{result.status}[/]: {where}: {'; '.join(result.gaps)}"
    return f"[green]{result.status}[/]: {where}"

"""The track files of one run: which finished tracks of an earlier run it takes as they are, and
how each new track is closed and entered in the manifest when its analyzer ends."""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from vidscope.analyzers.base import Analyzer
from vidscope.engine.progress import ProgressSink
from vidscope.engine.report import StageStats
from vidscope.engine.scheduler import STOPPED
from vidscope.errors import InputError, OutputError
from vidscope.media.probe import MediaInfo
from vidscope.timeline.bundle import BundleWriter, Status, TrackWriter, read_manifest
from vidscope.timeline.result import track_file


def track_identity(analyzer: Analyzer) -> dict[str, Any]:
    """What makes a track the same as an earlier one: analyzer, version, parameters, model."""
    model = analyzer.model_info()
    return {
        "analyzer": analyzer.name,
        "version": analyzer.version,
        "params": analyzer.params.model_dump(mode="json"),
        "model": None if model is None else {k: v for k, v in vars(model).items() if v},
    }


def consumed_tracks(analyzer: Analyzer, available: Collection[str]) -> list[str]:
    """The tracks ``analyzer`` reads when ``available`` tracks exist."""
    req = analyzer.requirements()
    return [t for t in (*req.tracks, *req.optional_tracks) if t in available]


def _inside(root: Path, entry: dict[str, Any]) -> bool:
    """Whether a track entry's file exists inside the bundle ``root`` (see ``track_file``)."""
    try:
        return track_file(root, entry).exists()
    except InputError:
        return False


def earlier_tracks(
    output: Path, media: MediaInfo, analyzers: Mapping[str, Analyzer], force: bool
) -> dict[str, dict]:
    """Finished tracks of an earlier run on the same media that this run takes as they are.

    A track of one of ``analyzers`` (those this run would compute) is reused when its version,
    parameters, model and input tracks are unchanged (and not ``force``); tracks of other
    analyzers stay in the bundle.  Either way only while every track they were derived from is
    taken too: a track computed from a track this run recomputes is dropped.
    """
    previous = read_manifest(output)
    if not previous or previous.get("media", {}).get("fingerprint") != media.fingerprint:
        return {}
    earlier = {
        t: e
        for t, e in previous.get("tracks", {}).items()
        if e.get("status") == Status.COMPLETE and "inputs" in e and _inside(output, e)
    }
    owner = {t: n for n, a in analyzers.items() for t in a.output_tracks()}
    available = set(owner) | set(earlier)

    def same(track: str, entry: dict) -> bool:
        analyzer = analyzers[owner[track]]
        identity = track_identity(analyzer)
        return all(entry.get(k) == v for k, v in identity.items()) and sorted(
            entry["inputs"]
        ) == sorted(consumed_tracks(analyzer, available))

    taken = {t: e for t, e in earlier.items() if t not in owner or (not force and same(t, e))}
    while True:
        drop = {t for t, e in taken.items() if any(i not in taken for i in e["inputs"])}
        # An analyzer's tracks are reused together or recomputed together.
        drop |= {
            t
            for t in taken
            if t in owner and any(o not in taken for o in analyzers[owner[t]].output_tracks())
        }
        if not drop:
            break
        for t in drop:
            del taken[t]
    # The flags say what this run did with a track, not what an earlier run did.
    return {
        t: {
            **{k: v for k, v in e.items() if k not in ("reused", "kept")},
            "reused" if t in owner else "kept": True,
        }
        for t, e in taken.items()
    }


class TrackCloser:
    """Called as each analyzer ends (on its thread): closes its track files and enters in the
    manifest how each ended, with its timings, record count and coverage."""

    def __init__(
        self,
        bundle: BundleWriter,
        media: MediaInfo,
        writers: Mapping[str, Mapping[str, TrackWriter]],
        per_second: Collection[str],
        sink: ProgressSink,
    ) -> None:
        """``writers`` maps analyzer -> track -> open file; ``per_second`` names the tracks
        whose coverage of the media is reported."""
        self.bundle = bundle
        self.media = media
        self.writers = writers
        self.per_second = per_second
        self.sink = sink

    def __call__(self, name: str, error: str | None, stats: StageStats) -> None:
        if error is None:
            status, label = Status.COMPLETE, "done"
        elif error == STOPPED:
            status, label = Status.INTERRUPTED, Status.INTERRUPTED.value
        else:
            status, label = Status.FAILED, f"failed: {error}"
        media = self.media
        for track, writer in self.writers[name].items():
            fields: dict[str, Any] = {
                "status": status,
                "timings": {
                    "busy_s": round(stats.busy, 3),
                    "items": stats.items,
                    "rtf": round(stats.busy / media.duration, 4),
                },
            }
            if status == Status.FAILED:
                fields["error"] = error
            try:
                writer.close()
            except OutputError as exc:
                fields.update(status=Status.FAILED, error=str(exc))
            fields["records"] = writer.records
            if track in self.per_second:
                fields["coverage"] = round(writer.coverage.fraction(media.start, media.end), 4)
            # This runs on an analyzer's thread, with nobody to raise to: a manifest the disk
            # refuses is kept as ``bundle.failure`` and ends the run.
            with contextlib.suppress(OutputError):
                self.bundle.update_track(track, **fields)
        self.sink("track_done", analyzer=name, status=label)

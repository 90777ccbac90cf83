"""Reading a result bundle back: tracks, time ranges, the manifest."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from vidscope.errors import InputError
from vidscope.timeline.bundle import read_manifest


def overlaps(record: dict[str, Any], start: float, end: float) -> bool:
    """Half-open overlap of a record's ``[start, end)`` with ``[start, end)``; an instant
    (``start == end``) counts when it lies inside the range."""
    rs, re = float(record["start"]), float(record["end"])
    if rs == re:
        return start <= rs < end
    return rs < end and re > start


class Result:
    """A finished (or partial) analysis on disk.

    Tracks are read lazily from their JSON-lines files, so a 5-hour result can be queried by
    time range without loading every track into memory.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        manifest = read_manifest(self.path)
        if manifest is None:
            raise InputError(f"{self.path}: not a vidscope result (no readable manifest.json)")
        self.manifest: dict[str, Any] = manifest

    def __repr__(self) -> str:
        return f"Result({str(self.path)!r}, status={self.status!r}, tracks={self.tracks})"

    @property
    def status(self) -> str:
        return str(self.manifest.get("status"))

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    @property
    def media(self) -> dict[str, Any]:
        return self.manifest.get("media", {})

    @property
    def report(self) -> dict[str, Any]:
        return self.manifest.get("report", {})

    @property
    def tracks(self) -> list[str]:
        return [
            n for n, t in self.manifest.get("tracks", {}).items() if t.get("status") == "complete"
        ]

    def iter_track(self, name: str) -> Iterator[dict[str, Any]]:
        """Stream the records of a track."""
        entry = self.manifest.get("tracks", {}).get(name)
        if entry is None:
            raise KeyError(f"no track {name!r} in {self.path} (tracks: {', '.join(self.tracks)})")
        with (self.path / entry["path"]).open("rb") as f:
            for line in f:
                if line.strip():
                    yield orjson.loads(line)

    def track(self, name: str) -> list[dict[str, Any]]:
        """All records of a track, in the order they were written."""
        return list(self.iter_track(name))

    def between(
        self, start: float, end: float, tracks: Iterable[str] | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """Records of every (or the given) track overlapping ``[start, end)``."""
        names = list(tracks) if tracks is not None else self.tracks
        return {n: [r for r in self.iter_track(n) if overlaps(r, start, end)] for n in names}

    def at(
        self, time: float, tracks: Iterable[str] | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """What every track says at ``time`` seconds."""
        names = list(tracks) if tracks is not None else self.tracks
        out: dict[str, list[dict[str, Any]]] = {}
        for n in names:
            out[n] = [
                r
                for r in self.iter_track(n)
                if float(r["start"]) <= time < float(r["end"])
                or float(r["start"]) == float(r["end"]) == time
            ]
        return out

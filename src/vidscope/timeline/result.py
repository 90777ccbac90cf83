"""Reading a result bundle back: tracks, time ranges, the manifest."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from vidscope.errors import InputError
from vidscope.timeline.bundle import Status, read_manifest
from vidscope.timeline.lock import is_locked


def overlaps(record: dict[str, Any], start: float, end: float) -> bool:
    """Half-open overlap of a record's ``[start, end)`` with ``[start, end)``; an instant
    (``start == end``) counts when it lies inside the range."""
    rs, re = float(record["start"]), float(record["end"])
    if rs == re:
        return start <= rs < end
    return rs < end and re > start


def track_file(root: Path, entry: dict[str, Any]) -> Path:
    """The file a manifest's track ``entry`` names inside the bundle ``root``.

    A bundle is just files that may come from anywhere, so a path leading outside it
    (``../../etc/passwd``, an absolute path, a symbolic link out) raises
    :class:`~vidscope.errors.InputError` instead of being read.
    """
    name = entry.get("path")
    base = root.resolve()
    path = (base / name).resolve() if isinstance(name, str) else base
    if path == base or not path.is_relative_to(base):
        raise InputError(f"{root}: track path {name!r} leads outside the bundle")
    return path


def track_lines(path: Path) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """Each non-blank line of a track file with the record it holds; a line that is not a
    JSON object raises :class:`~vidscope.errors.InputError` naming the file and line."""
    try:
        f = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the track ({exc.strerror})") from None
    with f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: corrupt track line ({exc})") from None
            if not isinstance(record, dict):
                raise InputError(f"{path}:{number}: corrupt track line (not a JSON object)")
            yield line, record


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
        """The manifest's ``status`` (see :class:`~vidscope.timeline.bundle.Status`)."""
        status = str(self.manifest.get("status"))
        # A run killed outright (SIGKILL, power loss) had no chance to say so; the lock it
        # held went with it.
        if status == Status.RUNNING and not is_locked(self.path):
            return Status.INTERRUPTED.value
        return status

    @property
    def complete(self) -> bool:
        """Whether every requested track finished, gaps in the input or not."""
        return self.status in (Status.COMPLETE, Status.COMPLETE_WITH_GAPS)

    @property
    def gaps(self) -> list[str]:
        """What a ``complete_with_gaps`` run could not analyse (see ``timeline.gaps``)."""
        return list(self.manifest.get("gaps") or [])

    @property
    def media(self) -> dict[str, Any]:
        return self.manifest.get("media", {})

    @property
    def run_report(self) -> dict[str, Any]:
        """How the run went: per analyzer busy time, items and RTF, wall time, peak memory,
        coverage per track, reused and kept tracks (the manifest's ``report``)."""
        return self.manifest.get("report", {})

    @property
    def tracks(self) -> list[str]:
        return [
            n
            for n, t in self.manifest.get("tracks", {}).items()
            if t.get("status") == Status.COMPLETE
        ]

    def iter_track(self, name: str) -> Generator[dict[str, Any], None, None]:
        """Stream the records of a track."""
        entry = self.manifest.get("tracks", {}).get(name)
        if entry is None:
            raise KeyError(f"no track {name!r} in {self.path} (tracks: {', '.join(self.tracks)})")
        for _, record in track_lines(track_file(self.path, entry)):
            yield record

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

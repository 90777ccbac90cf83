"""The search index of many bundles: add a bundle (again, after a re-run), remove it, list
what it holds.

A bundle is keyed by a name its caller chooses (its absolute path on the command line, its
job on the server) and carries a digest of its finished tracks: adding a bundle whose digest
is unchanged writes nothing, and adding a re-analysed one replaces all its rows in one
transaction, so no row of the earlier run survives it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from types import TracebackType

import orjson

from vidscope.config import Settings, default_data_dir
from vidscope.errors import InputError
from vidscope.search.rows import bundle_rows, digest, shot_spans
from vidscope.search.schema import connect
from vidscope.search.text import tokens
from vidscope.timeline.bundle import MANIFEST
from vidscope.timeline.result import Result

INDEX_FILE = "search.sqlite3"


def index_path(settings: Settings) -> Path:
    """The index ``settings`` name (``search.index``), else ``search.sqlite3`` in the data
    directory."""
    return settings.search.index or default_data_dir() / INDEX_FILE


def bundle_key(path: Path) -> str:
    """How the command line names a bundle in the index: its absolute path."""
    return str(path.resolve())


def _words(words: tuple[tuple[str, float, float], ...]) -> str | None:
    """A segment's words as stored: each one's folded tokens and its times, so that a search
    places a hit at its words without folding them again."""
    if not words:
        return None
    return orjson.dumps([(" ".join(tokens(w)), start, end) for w, start, end in words]).decode()


def find_bundles(roots: Iterable[Path]) -> Iterator[Path]:
    """Each bundle at or under ``roots``; a bundle's own folders are not searched further."""
    for root in roots:
        if not root.is_dir():
            raise InputError(f"{root}: not a directory")
        for folder, dirs, files in os.walk(root):
            if MANIFEST in files:
                dirs.clear()
                yield Path(folder)
            else:
                dirs.sort()


class Change(StrEnum):
    """What :meth:`SearchIndex.add` did."""

    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class SearchIndex:
    """One index file, open for reading and writing (safe beside other processes doing the
    same: see :mod:`vidscope.search.schema`)."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self.db = connect(path, create=create)

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    def add(self, bundle: Path, key: str | None = None, owner: str | None = None) -> Change:
        """Index the finished tracks of ``bundle`` under ``key`` (default: its absolute path)
        for ``owner``; :class:`~vidscope.errors.InputError` when it is not a bundle."""
        result = Result(bundle)
        key = key or bundle_key(bundle)
        stamp = digest(result)
        known = self._known(key)
        if known == (stamp, owner):
            return Change.UNCHANGED
        # Reading the tracks is the slow part: done before the write lock is taken.
        rows = list(bundle_rows(result))
        shots = shot_spans(result)
        duration = result.media.get("duration")
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            # Another writer may have indexed the same run meanwhile.
            known = self._known(key)
            if known == (stamp, owner):
                db.execute("COMMIT")
                return Change.UNCHANGED
            found = db.execute("SELECT bid FROM bundles WHERE key = ?", (key,)).fetchone()
            if found is None:
                bid = db.execute(
                    "INSERT INTO bundles (key, owner, digest, duration, indexed)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (key, owner, stamp, duration, time.time()),
                ).lastrowid
            else:
                bid = found["bid"]
                self._clear(bid)
                db.execute(
                    "UPDATE bundles SET owner = ?, digest = ?, duration = ?, indexed = ?"
                    " WHERE bid = ?",
                    (owner, stamp, duration, time.time(), bid),
                )
            db.executemany(
                "INSERT INTO shots (bid, shot, start, end) VALUES (?, ?, ?, ?)",
                [(bid, *shot) for shot in dict((s[0], s) for s in shots).values()],
            )
            db.executemany(
                "INSERT INTO moments (bid, track, family, kind, start, end, shot, speaker, text,"
                " body, words) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        bid,
                        r.track,
                        r.family,
                        r.kind,
                        r.start,
                        r.end,
                        r.shot,
                        r.speaker,
                        r.text,
                        r.body or r.text,
                        _words(r.words),
                    )
                    for r in rows
                ],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return Change.ADDED if found is None else Change.UPDATED

    def remove(self, keys: Iterable[str]) -> int:
        """Drop the bundles ``keys`` and their rows; how many were indexed."""
        removed = 0
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for key in keys:
                found = self.db.execute("SELECT bid FROM bundles WHERE key = ?", (key,)).fetchone()
                if found is not None:
                    self._clear(found["bid"])
                    self.db.execute("DELETE FROM bundles WHERE bid = ?", (found["bid"],))
                    removed += 1
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return removed

    def keys(self, owner: str | None = None, under: Path | None = None) -> set[str]:
        """The keys of the bundles of ``owner`` (every bundle when None), or of those at or
        under the folder ``under``."""
        sql, args = "SELECT key FROM bundles", []
        if owner is not None:
            sql, args = sql + " WHERE owner = ?", [owner]
        found = {row["key"] for row in self.db.execute(sql, args)}
        if under is None:
            return found
        root = bundle_key(under)
        return {k for k in found if k == root or k.startswith(root.rstrip(os.sep) + os.sep)}

    def stats(self) -> dict[str, int]:
        """How many bundles and moments the index holds, and its size on disk in bytes."""
        one = self.db.execute
        size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        return {
            "bundles": one("SELECT count(*) FROM bundles").fetchone()[0],
            "moments": one("SELECT count(*) FROM moments").fetchone()[0],
            "bytes": size,
        }

    def _known(self, key: str) -> tuple[str, str | None] | None:
        row = self.db.execute("SELECT digest, owner FROM bundles WHERE key = ?", (key,)).fetchone()
        return None if row is None else (row["digest"], row["owner"])

    def _clear(self, bid: int) -> None:
        self.db.execute("DELETE FROM moments WHERE bid = ?", (bid,))
        self.db.execute("DELETE FROM shots WHERE bid = ?", (bid,))

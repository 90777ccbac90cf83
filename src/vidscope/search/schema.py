"""The index file: its tables, its schema version, and how every connection to it is opened.

Several writers may share one file (two ``vidscope index`` runs, a server and a command):
WAL lets readers go on while one writes, the busy timeout makes a second writer wait for the
first instead of failing, and each bundle is written in one ``BEGIN IMMEDIATE`` transaction,
so a reader never sees half a bundle and two writers never interleave one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from vidscope.errors import UsageError

SCHEMA_VERSION = 2
"""Bumped whenever the tables or the rows made of a bundle change.  An index of an earlier
version is rebuilt empty when opened for writing (its rows are of an older reading: every
bundle is indexed again), and refused when opened to search only; a later one is refused."""
BUSY_TIMEOUT_MS = 60_000

# ``moments`` holds what a hit shows; ``fts`` indexes each moment's ``body`` (the text, or a
# label with its synonyms) and reads the rest from ``moments`` (external content), so the
# text is stored once.  The triggers keep the two in step, including on delete.
_DDL = (
    """CREATE TABLE bundles (
        bid INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        owner TEXT,
        digest TEXT NOT NULL,
        duration REAL,
        indexed REAL NOT NULL
    )""",
    "CREATE INDEX bundles_by_owner ON bundles (owner)",
    """CREATE TABLE shots (
        bid INTEGER NOT NULL REFERENCES bundles (bid) ON DELETE CASCADE,
        shot INTEGER NOT NULL,
        start REAL NOT NULL,
        end REAL NOT NULL,
        PRIMARY KEY (bid, shot)
    ) WITHOUT ROWID""",
    """CREATE TABLE moments (
        id INTEGER PRIMARY KEY,
        bid INTEGER NOT NULL REFERENCES bundles (bid) ON DELETE CASCADE,
        track TEXT NOT NULL,
        family TEXT NOT NULL,
        kind TEXT NOT NULL,
        start REAL NOT NULL,
        end REAL NOT NULL,
        shot INTEGER,
        speaker TEXT,
        text TEXT NOT NULL,
        body TEXT NOT NULL,
        words TEXT
    )""",
    "CREATE INDEX moments_by_bundle ON moments (bid, track)",
    "CREATE INDEX moments_by_speaker ON moments (speaker COLLATE NOCASE) WHERE speaker IS NOT NULL",
    """CREATE VIRTUAL TABLE fts USING fts5(
        body, content='moments', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER moments_added AFTER INSERT ON moments BEGIN
        INSERT INTO fts (rowid, body) VALUES (new.id, new.body);
    END""",
    """CREATE TRIGGER moments_removed AFTER DELETE ON moments BEGIN
        INSERT INTO fts (fts, rowid, body) VALUES ('delete', old.id, old.body);
    END""",
)
_TABLES = ("fts", "moments", "shots", "bundles")
"""Every table of every version, dropped (with their indexes and triggers) to rebuild."""


def connect(path: Path, *, create: bool = True) -> sqlite3.Connection:
    """A connection to the index at ``path``, created (with its tables) when ``create`` and
    missing, rebuilt empty when ``create`` and of an earlier schema version;
    :class:`~vidscope.errors.UsageError` for a file that is not an index of this version."""
    if not create and not path.is_file():
        raise UsageError(f"{path}: no search index here (run vidscope index DIR first)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise UsageError(f"{path}: cannot open the search index ({exc})") from None
    try:
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        _ensure_schema(db, path, create)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise UsageError(f"{path}: not a search index ({exc})") from None
    except UsageError:
        db.close()
        raise
    return db


def _ensure_schema(db: sqlite3.Connection, path: Path, create: bool) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise UsageError(
            f"{path}: search index of schema {version}, made by a later vidscope; this one "
            f"reads schema {SCHEMA_VERSION}: remove the file and run vidscope index again"
        )
    if version and not create:
        raise UsageError(
            f"{path}: search index of schema {version}, made by an earlier vidscope: run "
            "vidscope index again to rebuild it"
        )
    # Two processes may find the file new (or old) at once: the second waits here for the
    # first's transaction and then sees the version it wrote.
    db.execute("BEGIN IMMEDIATE")
    try:
        found = db.execute("PRAGMA user_version").fetchone()[0]
        if found < SCHEMA_VERSION:
            if not found and db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise UsageError(f"{path}: an SQLite file, but not a vidscope search index")
            # One statement at a time: executescript would commit the open transaction.
            for table in _TABLES:
                db.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in _DDL:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise

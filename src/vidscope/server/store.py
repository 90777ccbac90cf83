"""The job store: every job, its state and where its result lives, in SQLite.

SQLite in WAL mode survives ``kill -9`` with every committed change intact, which is the whole
point: a restarted server finds queued jobs, re-queues interrupted ones and still knows every
finished result.  One connection behind a lock serves all threads; every statement is short
(no I/O but SQLite's own), so the lock is never held for long.
"""

from __future__ import annotations

import fcntl
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from vidscope.errors import UsageError

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]
STATUSES: tuple[Status, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    source_kind TEXT NOT NULL,
    source TEXT NOT NULL,
    input TEXT NOT NULL,
    result_dir TEXT NOT NULL,
    settings TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    progress TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, created);
CREATE TABLE IF NOT EXISTS stage_busy (
    stage TEXT PRIMARY KEY,
    seconds REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Job:
    """One row of the store.  Paths are relative to the data directory."""

    id: str
    owner: str
    status: Status
    source_kind: Literal["upload", "url"]
    source: str
    """The URL, or the uploaded file's (sanitised) name; for display only."""
    input: str
    """Where the input file is (or will be, for a URL not yet fetched)."""
    result_dir: str
    settings: dict[str, Any]
    """The job's engine settings, resolved at submission so that a resumed run matches."""
    created: float
    started: float | None = None
    finished: float | None = None
    attempts: int = 0
    cancel_requested: bool = False
    error: str | None = None
    progress: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class Recovery:
    """What :meth:`JobStore.recover` did."""

    requeued: int
    failed: list[str]
    """Jobs interrupted too often, now failed."""
    ids: set[str]
    """Every job the store still has: a job directory of any other name is an orphan."""


def _given_up(attempts: int) -> str:
    times = {1: "once", 2: "twice"}.get(attempts, f"{attempts} times")
    return f"interrupted {times} (the server stopped or crashed while running it); not retried"


def new_job_id() -> str:
    """Server-generated, so that no client text ever names a directory."""
    return str(uuid.uuid4())


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        owner=row["owner"],
        status=row["status"],
        source_kind=row["source_kind"],
        source=row["source"],
        input=row["input"],
        result_dir=row["result_dir"],
        settings=orjson.loads(row["settings"]),
        created=row["created"],
        started=row["started"],
        finished=row["finished"],
        attempts=row["attempts"],
        cancel_requested=bool(row["cancel_requested"]),
        error=row["error"],
        progress=orjson.loads(row["progress"]) if row["progress"] else None,
    )


def lock_data_dir(data_dir: Path) -> IO[bytes]:
    """Take the data directory for this process (released when the returned file closes).

    :meth:`JobStore.recover` re-queues every running job, which is right only if no other
    server is running them: two servers on one data directory would run jobs twice."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # uploads and results are private
    handle = (data_dir / "server.lock").open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UsageError(f"another vidscope server is using {data_dir}") from None
    return handle


class JobStore:
    """Thread-safe access to the jobs database."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode; multi-statement changes take an explicit write transaction.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode loses at most the last commits on power loss, never on a crash
            # of the process, which is the failure this store is about.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def add(self, job: Job, max_queued: int) -> bool:
        """Insert ``job`` unless its owner already has ``max_queued`` queued jobs."""
        with self._write() as db:
            (queued,) = db.execute(
                "SELECT count(*) FROM jobs WHERE owner = ? AND status = 'queued' AND NOT deleted",
                (job.owner,),
            ).fetchone()
            if queued >= max_queued:
                return False
            db.execute(
                "INSERT INTO jobs (id, owner, status, source_kind, source, input, result_dir,"
                " settings, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id, job.owner, job.status, job.source_kind, job.source, job.input,
                    job.result_dir, orjson.dumps(job.settings).decode(), job.created,
                ),
            )  # fmt: skip
        return True

    def queued_count(self, owner: str) -> int:
        row = self._one(
            "SELECT count(*) FROM jobs WHERE owner = ? AND status = 'queued' AND NOT deleted", owner
        )
        return int(row[0]) if row else 0

    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        """The job, if it exists, is not deleted and (when ``owner`` is given) is theirs."""
        row = self._one("SELECT * FROM jobs WHERE id = ? AND NOT deleted", job_id)
        if row is None or (owner is not None and row["owner"] != owner):
            return None
        return _job(row)

    def list(self, owner: str, *, status: str | None, limit: int, offset: int) -> list[Job]:
        """An owner's jobs, newest first."""
        sql = "SELECT * FROM jobs WHERE owner = ? AND NOT deleted"
        args: list[Any] = [owner]
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        sql += " ORDER BY created DESC, id LIMIT ? OFFSET ?"
        with self._lock:
            rows = self._db.execute(sql, (*args, limit, offset)).fetchall()
        return [_job(r) for r in rows]

    def claim(self) -> Job | None:
        """Move the oldest queued job to running and return it (None when the queue is empty)."""
        with self._write() as db:
            row = db.execute(
                "SELECT id FROM jobs WHERE status = 'queued' AND NOT deleted"
                " ORDER BY created, id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET status = 'running', started = ?, attempts = attempts + 1,"
                " error = NULL WHERE id = ?",
                (time.time(), row["id"]),
            )
            return _job(db.execute("SELECT * FROM jobs WHERE id = ?", (row["id"],)).fetchone())

    def finish(
        self,
        job_id: str,
        status: Status,
        *,
        error: str | None = None,
        progress: dict[str, Any] | None = None,
        busy: dict[str, float] | None = None,
    ) -> None:
        """Record how a run ended, and add its stages' busy time to the server's totals."""
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET status = ?, finished = ?, error = ?, progress = ? WHERE id = ?",
                (
                    status,
                    time.time(),
                    error,
                    orjson.dumps(progress).decode() if progress else None,
                    job_id,
                ),
            )
            for stage, seconds in (busy or {}).items():
                db.execute(
                    "INSERT INTO stage_busy (stage, seconds) VALUES (?, ?)"
                    " ON CONFLICT (stage) DO UPDATE SET seconds = seconds + excluded.seconds",
                    (stage, seconds),
                )

    def set_input(self, job_id: str, path: str) -> None:
        """Record where a URL job's download landed, once it is complete."""
        with self._lock:
            self._db.execute("UPDATE jobs SET input = ? WHERE id = ?", (path, job_id))

    def requeue(self, job_id: str) -> None:
        """Put an interrupted job back in the queue (server shutdown)."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status = 'queued', started = NULL WHERE id = ?", (job_id,)
            )

    def request_cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job at once; flag a running one for its worker to stop."""
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET status = 'cancelled', finished = ?"
                " WHERE id = ? AND status = 'queued'",
                (time.time(), job_id),
            )
            db.execute(
                "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status = 'running'",
                (job_id,),
            )
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def mark_deleted(self, job_id: str) -> Status | None:
        """Hide a job from every query; return its status then (None if it was not there).

        A job that is not running is gone for good; a running one stays (hidden) until its
        worker has stopped and calls :meth:`remove`."""
        with self._write() as db:
            row = db.execute(
                "SELECT status FROM jobs WHERE id = ? AND NOT deleted", (job_id,)
            ).fetchone()
            if row is None:
                return None
            if row["status"] == "running":
                db.execute(
                    "UPDATE jobs SET deleted = 1, cancel_requested = 1 WHERE id = ?", (job_id,)
                )
            else:
                db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            return row["status"]

    def is_deleted(self, job_id: str) -> bool:
        row = self._one("SELECT deleted FROM jobs WHERE id = ?", job_id)
        return row is None or bool(row["deleted"])

    def remove(self, job_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def recover(self, max_attempts: int) -> Recovery:
        """After a crash or restart: forget jobs deleted while running, re-queue interrupted
        jobs, finish the cancelled ones, and fail those interrupted ``max_attempts`` times (a
        job that crashes the server would otherwise crash every restart)."""
        now = time.time()
        with self._write() as db:
            db.execute("DELETE FROM jobs WHERE deleted")
            db.execute(
                "UPDATE jobs SET status = 'cancelled', finished = ?"
                " WHERE status = 'running' AND cancel_requested",
                (now,),
            )
            failed = [
                (r["id"], _given_up(r["attempts"]))
                for r in db.execute(
                    "SELECT id, attempts FROM jobs WHERE status = 'running' AND attempts >= ?",
                    (max_attempts,),
                )
            ]
            db.executemany(
                "UPDATE jobs SET status = 'failed', finished = ?, error = ? WHERE id = ?",
                [(now, error, job_id) for job_id, error in failed],
            )
            requeued = db.execute(
                "UPDATE jobs SET status = 'queued', started = NULL WHERE status = 'running'"
            ).rowcount
            ids = {r["id"] for r in db.execute("SELECT id FROM jobs")}
        return Recovery(requeued, [job_id for job_id, _ in failed], ids)

    def counts(self, owner: str | None = None) -> dict[str, int]:
        """Jobs by status, every status present (for metrics): ``owner``'s, or everyone's."""
        sql = "SELECT status, count(*) AS n FROM jobs WHERE NOT deleted"
        args: tuple[str, ...] = ()
        if owner is not None:
            sql, args = sql + " AND owner = ?", (owner,)
        with self._lock:
            rows = self._db.execute(sql + " GROUP BY status", args).fetchall()
        out: dict[str, int] = dict.fromkeys(STATUSES, 0)
        out.update({r["status"]: r["n"] for r in rows})
        return out

    def busy_seconds(self) -> dict[str, float]:
        """Busy time per pipeline stage, summed over every run this data directory has seen."""
        with self._lock:
            rows = self._db.execute(
                "SELECT stage, seconds FROM stage_busy ORDER BY stage"
            ).fetchall()
        return {r["stage"]: r["seconds"] for r in rows}

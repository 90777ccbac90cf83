"""The result bundle: ``manifest.json`` plus one ``tracks/<name>.jsonl`` per track.

Records are appended to their track file as they arrive, so memory does not grow with the
video and a crash loses nothing already written.  The manifest is rewritten atomically
(write + rename) whenever a track finishes; it says ``"status": "complete"`` only once every
requested track finished.  :class:`Status` lists every status a manifest can hold.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

from vidscope._version import __version__
from vidscope.errors import OutputError
from vidscope.timeline.coverage import Coverage

SCHEMA_VERSION = "1.0"
MANIFEST = "manifest.json"


class Status(StrEnum):
    """Every ``status`` a manifest holds, for the bundle and for each of its tracks."""

    RUNNING = "running"
    """A run is writing it (or was killed outright: no run holds the bundle's lock)."""
    COMPLETE = "complete"
    """Bundle: every requested track finished.  Track: finished."""
    COMPLETE_WITH_GAPS = "complete_with_gaps"
    """Bundle: every requested track finished, but the input was truncated or damaged and
    parts of it could not be analysed (the manifest's ``gaps`` say which)."""
    INCOMPLETE = "incomplete"
    """Bundle: some analyzers failed; the tracks of the others are complete."""
    FAILED = "failed"
    """Bundle: decoding failed, or the run itself.  Track: its analyzer failed."""
    CANCELLED = "cancelled"
    """Bundle: its run was stopped on request (a cancelled server job, a server shutdown)."""
    INTERRUPTED = "interrupted"
    """Bundle: the process was interrupted (Ctrl-C).  Track: the run stopped before it
    finished.  Either way a rerun resumes, reusing the complete tracks."""


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: a non-finite number becomes null rather than an invalid file."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)
    except (TypeError, ValueError):
        return orjson.dumps(_clean(obj), option=orjson.OPT_SERIALIZE_NUMPY)


def timestamp() -> str:
    """Now, as the manifest's ``created`` and ``finished`` say it (UTC, ISO 8601)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def read_manifest(root: Path) -> dict[str, Any] | None:
    path = root / MANIFEST
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        # Missing, unreadable, or ``root`` is a file: not a bundle this process can use.
        return None


def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_bytes(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


class TrackWriter:
    """Appends records of one track to its JSON-lines file and measures what they cover.

    A write the file system refuses (a full disk, a quota, a file size limit) raises
    :class:`~vidscope.errors.OutputError` and is reported to ``on_error``; the track is then
    failed, and its file emptied.
    """

    def __init__(self, path: Path, on_error: Callable[[OutputError], None] | None = None) -> None:
        self.path = path
        self.records = 0
        self.coverage = Coverage()
        self._on_error = on_error
        self.error: OutputError | None = None
        try:
            self._file: IO[bytes] = path.open("wb")
        except OSError as exc:
            raise OutputError.of(exc, path) from None
        self._lock = threading.Lock()

    def _failed(self, exc: OSError) -> OutputError:
        self.error = OutputError.of(exc, self.path)
        # A failed track is never read or reused.  Emptying its file, and dropping what is
        # still buffered for it (closing the raw file skips the flush), gives the space back,
        # so that on a full disk the manifest can still say why the run failed.
        with contextlib.suppress(OSError):
            os.ftruncate(self._file.fileno(), 0)
            self._file.raw.close()  # type: ignore[attr-defined]
        self.records = 0
        if self._on_error is not None:
            self._on_error(self.error)
        return self.error

    def write(self, record: dict[str, Any]) -> None:
        line = dumps(record) + b"\n"
        with self._lock:
            if self.error is not None:
                raise self.error
            try:
                self._file.write(line)
            except OSError as exc:
                raise self._failed(exc) from None
            self.records += 1
        with contextlib.suppress(KeyError, TypeError, ValueError):
            self.coverage.add(float(record["start"]), float(record["end"]))

    def close(self) -> None:
        with self._lock:
            if self._file.closed:
                return
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError as exc:
                raise self._failed(exc) from None
            finally:
                # Closes the descriptor even when the buffered records cannot be flushed.
                with contextlib.suppress(OSError):
                    self._file.close()


class BundleWriter:
    """Writes one bundle directory; thread-safe for concurrent analyzers.

    As a context manager it never leaves a bundle saying ``running`` when the run ends in an
    exception: an interrupt marks it ``interrupted``, anything else ``failed``.
    """

    def __init__(self, root: Path, base: dict[str, Any]) -> None:
        self.root = root
        try:
            (root / "tracks").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError.of(exc, root) from None
        self._lock = threading.Lock()
        self.failure: OutputError | None = None
        """The first write the file system refused: the run cannot finish its bundle."""
        self._tracks: list[TrackWriter] = []
        self.manifest: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "vidscope_version": __version__,
            "status": Status.RUNNING,
            "created": timestamp(),
            **base,
        }
        self.manifest.setdefault("tracks", {})
        self.flush()

    def open_track(self, name: str, entry: dict[str, Any]) -> TrackWriter:
        writer = TrackWriter(self.root / "tracks" / f"{name}.jsonl", self._failed)
        with self._lock:
            self._tracks.append(writer)
            self.manifest["tracks"][name] = {
                "path": f"tracks/{name}.jsonl",
                "status": Status.RUNNING,
                **entry,
            }
        return writer

    def update_track(self, name: str, **fields: Any) -> None:
        with self._lock:
            self.manifest["tracks"][name].update(fields)
        self.flush()

    def set(self, **fields: Any) -> None:
        with self._lock:
            self.manifest.update(fields)
        self.flush()

    def _failed(self, error: OutputError) -> None:
        if self.failure is None:
            self.failure = error

    def flush(self) -> None:
        """Rewrite the manifest; :class:`~vidscope.errors.OutputError` when it cannot be."""
        with self._lock:
            try:
                write_json_atomic(self.root / MANIFEST, self.manifest)
            except OSError as exc:
                error = OutputError.of(exc, self.root / MANIFEST)
                self._failed(error)
                raise error from None

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or self.manifest["status"] != Status.RUNNING:
            return
        for writer in self._tracks:
            with contextlib.suppress(OutputError):
                writer.close()
        # Tracks still running stopped short; the finished ones stay complete, for a rerun to
        # reuse.
        with self._lock:
            for entry in self.manifest["tracks"].values():
                if entry.get("status") == Status.RUNNING:
                    entry["status"] = Status.INTERRUPTED
        if isinstance(exc, KeyboardInterrupt):
            fields: dict[str, Any] = {"status": Status.INTERRUPTED}
        else:
            fields = {"status": Status.FAILED, "error": f"{type(exc).__name__}: {exc}"}
        fields["finished"] = timestamp()
        # The exception that ended the run is the one to report, not a second one from a
        # disk that refuses this write too.
        with contextlib.suppress(OutputError):
            self.set(**fields)

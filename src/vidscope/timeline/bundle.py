"""The result bundle: ``manifest.json`` plus one ``tracks/<name>.jsonl`` per track.

Records are appended to their track file as they arrive, so memory does not grow with the
video and a crash loses nothing already written.  The manifest is rewritten atomically
(write + rename) whenever a track finishes; it says ``"status": "complete"`` only once every
requested track finished.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from pathlib import Path
from typing import IO, Any

import orjson

from vidscope._version import __version__
from vidscope.timeline.coverage import Coverage

SCHEMA_VERSION = "1.0"
MANIFEST = "manifest.json"


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


def read_manifest(root: Path) -> dict[str, Any] | None:
    path = root / MANIFEST
    try:
        return orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None


def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    os.replace(tmp, path)


class TrackWriter:
    """Appends records of one track to its JSON-lines file and measures what they cover."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = 0
        self.coverage = Coverage()
        self._file: IO[bytes] = path.open("wb")
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        line = dumps(record) + b"\n"
        with self._lock:
            self._file.write(line)
            self.records += 1
        with contextlib.suppress(KeyError, TypeError, ValueError):
            self.coverage.add(float(record["start"]), float(record["end"]))

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()


class BundleWriter:
    """Writes one bundle directory; thread-safe for concurrent analyzers."""

    def __init__(self, root: Path, base: dict[str, Any]) -> None:
        self.root = root
        (root / "tracks").mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.manifest: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "vidscope_version": __version__,
            "status": "running",
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **base,
        }
        self.manifest.setdefault("tracks", {})
        self.flush()

    def open_track(self, name: str, entry: dict[str, Any]) -> TrackWriter:
        writer = TrackWriter(self.root / "tracks" / f"{name}.jsonl")
        with self._lock:
            self.manifest["tracks"][name] = {
                "path": f"tracks/{name}.jsonl",
                "status": "running",
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

    def flush(self) -> None:
        with self._lock:
            write_json_atomic(self.root / MANIFEST, self.manifest)

"""API keys: issued by ``vidscope keys add``, checked on every request.

Keys are random 32-byte tokens, so a plain SHA-256 of the key is a safe thing to store (there is
nothing to brute-force); the keys file holds only those hashes.  Keys also come from
``$VIDSCOPE_API_KEYS`` (comma-separated raw keys).  A request's owner is the key's name, so a
key rotated under the same name keeps its jobs; an environment key's owner is derived from its
hash.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from vidscope.errors import UsageError

KEYS_ENV = "VIDSCOPE_API_KEYS"
LOCAL_OWNER = "local"
"""Owner of every job on a loopback server started without keys."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    """A stored key: its name, hash and when it was made (never the key itself)."""

    name: str
    hash: str
    created: str


class KeyFile:
    """The keys file in the data directory (``keys.json``, readable by its owner only)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> list[KeyInfo]:
        """The stored keys; :class:`UsageError` if the file is not a keys file (or half-written)."""
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return []
        except orjson.JSONDecodeError as exc:
            raise UsageError(f"{self.path}: not a valid keys file ({exc})") from None
        try:
            return [KeyInfo(**entry) for entry in data["keys"]]
        except (KeyError, TypeError) as exc:
            raise UsageError(
                f"{self.path}: not a valid keys file (no list of keys: {exc})"
            ) from None

    def _write(self, keys: list[KeyInfo]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(orjson.dumps({"keys": [vars(k) for k in keys]}, option=orjson.OPT_INDENT_2))
        os.replace(tmp, self.path)

    def add(self, name: str) -> str:
        """Create a key called ``name`` and return it; it cannot be shown again."""
        if not _NAME.match(name):
            raise UsageError(
                f"invalid key name {name!r}: use letters, digits, '_', '-' and '.' (at most 64)"
            )
        keys = self.read()
        if any(k.name == name for k in keys):
            raise UsageError(f"a key named {name!r} exists; revoke it first to replace it")
        key = "vs_" + secrets.token_urlsafe(32)
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._write([*keys, KeyInfo(name=name, hash=hash_key(key), created=created)])
        return key

    def revoke(self, name: str) -> None:
        keys = self.read()
        if not any(k.name == name for k in keys):
            raise UsageError(f"no key named {name!r}")
        self._write([k for k in keys if k.name != name])


class Authenticator:
    """Maps a presented key to its owner.  Re-reads the keys file when it changes, so keys
    added or revoked with the CLI take effect without a restart."""

    def __init__(self, keys_file: KeyFile, env_keys: str | None = None) -> None:
        self.keys_file = keys_file
        self._env = {
            hash_key(k): f"env-{hash_key(k)[:12]}"
            for k in (env_keys or "").split(",")
            if k.strip()
            for k in [k.strip()]
        }
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._file: dict[str, str] = {}
        self._seen_keys = False
        self._refresh(strict=True)  # an unreadable keys file stops the server from starting

    def _refresh(self, *, strict: bool = False) -> None:
        try:
            st = self.keys_file.path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp == self._stamp:
                return
            try:
                keys = {k.hash: k.name for k in self.keys_file.read()}
            except UsageError:
                if strict:
                    raise
                # Caught half-written by an editor: keep the previous keys, and leave the stamp
                # so that the next request reads the file again.
                return
            self._file, self._stamp = keys, stamp

    @property
    def enabled(self) -> bool:
        """Whether keys are required: once any key has existed, always (revoking the last key
        locks everyone out rather than opening the server).  Without keys, only a loopback
        server may run, unguarded."""
        self._refresh()
        with self._lock:
            self._seen_keys = self._seen_keys or bool(self._env or self._file)
            return self._seen_keys

    def owner(self, key: str) -> str | None:
        """The owner of ``key``, or None.  Compares every stored hash in constant time."""
        self._refresh()
        digest = hash_key(key)
        found: str | None = None
        for stored, owner in (*self._env.items(), *self._file.items()):
            if hmac.compare_digest(digest, stored):
                found = owner
        return found

"""Turn a user-given source (a local path or an http(s) URL) into a local file.

URLs are downloaded into a cache keyed by the URL, ``cache_dir/downloads/<sha256[:24]>/``.
A download is written into a hidden sibling folder and renamed into place only once it is
complete, together with a ``.source.json`` marker, so a cache folder either holds a whole
file or does not exist; a second call for the same URL reuses it without any network access.

The download itself is :mod:`vidscope.media.download`, imported only for a URL.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from vidscope.errors import InputError
from vidscope.media.names import safe_name

if TYPE_CHECKING:
    from vidscope.media.transfer import Limits

_MARKER = ".source.json"
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True)
class Source:
    """A resolved input: the local file to analyse and where it came from."""

    path: Path
    url: str | None
    name: str
    """Filesystem-safe stem for naming output folders."""


def resolve_source(
    source: str,
    cache_dir: Path,
    limits: Limits | None = None,
    *,
    stop: threading.Event | None = None,
) -> Source:
    """Resolve ``source`` to a local file, downloading http(s) URLs into ``cache_dir``.

    Local paths are returned unchanged (``vidscope.media.probe.probe`` validates them).
    ``limits`` bound a download's size, its network waits, its duration and its rate (default
    :class:`~vidscope.media.transfer.Limits`); ``stop`` ends it within a second.

    Raises:
        InputError: an unsupported scheme, or a download that failed; the message is one
            line naming the URL and the reason.
        Cancelled: ``stop`` was set during the download.
    """
    if not _URL_RE.match(source.strip()):
        path = Path(source)
        return Source(path=path, url=None, name=safe_name(path.stem))

    url = source.strip()
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. a malformed IPv6 host
        raise InputError(f"{url}: invalid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InputError(f"{url}: unsupported URL (only http:// and https:// can be downloaded)")

    downloads = Path(cache_dir) / "downloads"
    final_dir = downloads / hashlib.sha256(url.encode()).hexdigest()[:24]
    cached = _read_cache(final_dir, url)
    if cached is not None:
        return cached

    downloads.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.", suffix=".part", dir=downloads))
    try:
        from vidscope.media.download import download
        from vidscope.media.transfer import Limits

        file, name = download(url, work_dir, limits or Limits(), stop=stop)
        marker = {"url": url, "file": file.name, "name": name}
        (work_dir / _MARKER).write_text(json.dumps(marker), encoding="utf-8")
        if final_dir.exists() and _read_cache(final_dir, url) is None:
            # Left over from an older layout or a manual edit: no marker means no trust.
            shutil.rmtree(final_dir, ignore_errors=True)
        try:
            os.rename(work_dir, final_dir)
        except OSError:
            # Another process finished the same URL first; its copy is as good as ours.
            cached = _read_cache(final_dir, url)
            if cached is None:
                raise
            return cached
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return Source(path=final_dir / file.name, url=url, name=name)


def _read_cache(final_dir: Path, url: str) -> Source | None:
    try:
        marker = json.loads((final_dir / _MARKER).read_text(encoding="utf-8"))
        path = final_dir / marker["file"]
        if marker["url"] == url and path.is_file():
            return Source(path=path, url=url, name=str(marker["name"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None

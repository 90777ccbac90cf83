"""Downloading one URL: direct media links streamed with ``urllib`` under the limits of
:mod:`vidscope.media.transfer`, anything else (a YouTube or TikTok page) handed to yt-dlp, an
optional dependency (``pip install 'vidscope[url]'``).

Kept apart from :mod:`vidscope.media.ingest` so that a run on local files does not import the
network stack (``ssl``, ``urllib.request``).
"""

from __future__ import annotations

import mimetypes
import re
import threading
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from vidscope.errors import InputError, VidscopeError
from vidscope.media.names import safe_name
from vidscope.media.transfer import Limits, Transfer, size_text

# m3u8 is deliberately absent: an HLS playlist is a text file listing segments, which only
# yt-dlp can turn into one media file.
MEDIA_EXTENSIONS = frozenset(
    {"mp4", "mkv", "webm", "mov", "avi", "m4a", "mp3", "wav", "flac", "ogg", "opus", "ts"}
)
_USER_AGENT = "vidscope (+https://pypi.org/project/vidscope/)"


def download(
    url: str, work_dir: Path, limits: Limits, *, stop: threading.Event | None = None
) -> tuple[Path, str]:
    """Fetch ``url`` into ``work_dir``; return the file and its output name.

    ``stop`` ends the download within a second (:class:`~vidscope.media.transfer.Cancelled`)."""
    with (
        Transfer(url, limits, stop=stop) as transfer,
        transfer.open({"User-Agent": _USER_AGENT}) as response,
    ):
        content_type = response.headers.get_content_type().lower()
        segment = unquote(PurePosixPath(urlsplit(response.geturl()).path).name)
        suffix = PurePosixPath(segment).suffix.lower()
        if _is_direct_media(content_type, suffix):
            return _save(transfer, response, work_dir, content_type, segment, suffix)
    # yt-dlp fetches the page itself, on connections of its own.
    return _download_with_ytdlp(transfer, work_dir)


def _save(
    transfer: Transfer,
    response: Any,
    work_dir: Path,
    content_type: str,
    segment: str,
    suffix: str,
) -> tuple[Path, str]:
    url, max_bytes = transfer.url, transfer.limits.max_bytes
    name = safe_name(PurePosixPath(segment).stem, fallback="download")
    if suffix.lstrip(".") not in MEDIA_EXTENSIONS:
        suffix = mimetypes.guess_extension(content_type) or suffix or ".bin"
    ext = safe_name(suffix.lstrip("."), fallback="bin")[:10]
    target = work_dir / f"{name}.{ext}"
    length = response.headers.get("Content-Length")
    expected = int(length) if length and length.isdigit() else None
    if expected is not None and expected > max_bytes:
        raise InputError(
            f"{url}: file is {size_text(expected)}, larger than the limit of {size_text(max_bytes)}"
        )
    try:
        with target.open("wb") as out:
            received = transfer.copy(response, out)
    except OSError as exc:
        raise InputError(f"{url}: cannot write {target} ({exc.strerror or exc})") from None
    if received == 0:
        raise InputError(f"{url}: the server sent an empty file")
    if expected is not None and received != expected:
        raise InputError(f"{url}: download incomplete ({received} of {expected} bytes)")
    return target, name


def _is_direct_media(content_type: str, suffix: str) -> bool:
    # audio/x-mpegurl and friends are HLS playlists, not audio: leave them to yt-dlp.
    if "mpegurl" in content_type:
        return False
    main = content_type.partition("/")[0]
    return (
        main in ("video", "audio")
        or content_type == "application/octet-stream"
        or suffix.lstrip(".") in MEDIA_EXTENSIONS
    )


class _YtdlpLogger:
    # yt-dlp prints errors to stderr even when quiet; we report them ourselves, as one line.
    def debug(self, msg: str) -> None: ...
    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...
    def error(self, msg: str) -> None: ...


class _Abort(Exception):
    # Raised from the progress hook to end yt-dlp's download; carries our error out.
    def __init__(self, error: VidscopeError) -> None:
        self.error = error


def _download_with_ytdlp(transfer: Transfer, work_dir: Path) -> tuple[Path, str]:
    url, max_bytes = transfer.url, transfer.limits.max_bytes
    try:
        import yt_dlp
    except ImportError:
        raise InputError(
            f"{url}: not a direct media link; downloading from web pages needs yt-dlp: "
            "pip install 'vidscope[url]'"
        ) from None
    too_large = InputError(f"{url}: larger than the limit of {size_text(max_bytes)}")

    def check(progress: dict[str, Any]) -> None:
        # Not yt-dlp's max_filesize: that silently skips the download (and only when the size
        # is announced) where we want an error, and a limit on what actually arrives.
        announced = progress.get("total_bytes") or 0
        if max(announced, progress.get("downloaded_bytes") or 0) > max_bytes:
            raise _Abort(too_large)
        # The deadline and a stop, as bytes arrive; the rate is not judged here, as the time
        # yt-dlp spends reading the page would count against it.
        error = transfer.check(rate=False)
        if error is not None:
            raise _Abort(error)

    options: dict[str, Any] = {
        "outtmpl": str(work_dir / "%(id)s.%(ext)s"),
        "format": "b[ext=mp4]/b/bv*+ba",
        "quiet": True,
        "noprogress": True,
        "no_warnings": True,
        "noplaylist": True,
        "playlist_items": "1",  # a page with several videos: analyse the first, not all
        "restrictfilenames": True,
        "socket_timeout": transfer.limits.timeout,
        "progress_hooks": [check],
        "logger": _YtdlpLogger(),
        "cachedir": False,
    }
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            info = ydl.extract_info(url, download=True)
    except _Abort as abort:
        raise abort.error from None
    except yt_dlp.utils.YoutubeDLError as exc:
        raise InputError(f"{url}: {_ytdlp_reason(str(exc), url)}") from None
    except OSError as exc:  # e.g. the disk filled up while yt-dlp was writing
        raise InputError(f"{url}: yt-dlp failed ({exc.strerror or exc})") from None

    info = info or {}
    files = [p for p in work_dir.iterdir() if p.is_file() and not p.name.startswith(".")]
    files = [p for p in files if p.suffix not in (".part", ".ytdl", ".temp")]
    if not files:
        raise InputError(f"{url}: yt-dlp finished without producing a file")
    file = max(files, key=lambda p: p.stat().st_size)
    size = file.stat().st_size
    if size == 0:
        raise InputError(f"{url}: yt-dlp downloaded an empty file")
    if size > max_bytes:
        raise too_large
    title = str(info.get("title") or info.get("id") or "")
    return file, safe_name(title, fallback=safe_name(file.stem, fallback="download"))


def _ytdlp_reason(message: str, url: str) -> str:
    line = re.sub(r"\x1b\[[0-9;]*m", "", message).strip().splitlines()[0] if message else ""
    line = re.sub(r"^ERROR:\s*", "", line)
    if line.startswith("Unsupported URL"):
        return "not a media file, and yt-dlp found no video on the page"
    line = line.replace(url, "").strip(" :")
    return f"yt-dlp: {line or 'download failed'}"

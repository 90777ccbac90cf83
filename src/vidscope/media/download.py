"""Downloading one URL: direct media links streamed with ``urllib``, anything else (a
YouTube or TikTok page) handed to yt-dlp, an optional dependency
(``pip install 'vidscope[url]'``).

Kept apart from :mod:`vidscope.media.ingest` so that a run on local files does not import the
network stack (``ssl``, ``urllib.request``).
"""

from __future__ import annotations

import mimetypes
import re
import socket
import ssl
import urllib.error
import urllib.request
from email.message import Message
from http.client import HTTPException, InvalidURL
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from vidscope.errors import InputError
from vidscope.media.ingest import safe_name

# m3u8 is deliberately absent: an HLS playlist is a text file listing segments, which only
# yt-dlp can turn into one media file.
MEDIA_EXTENSIONS = frozenset(
    {"mp4", "mkv", "webm", "mov", "avi", "m4a", "mp3", "wav", "flac", "ogg", "opus", "ts"}
)
_CHUNK = 1 << 20
_USER_AGENT = "vidscope (+https://pypi.org/project/vidscope/)"


def download(url: str, work_dir: Path, *, max_bytes: int, timeout: float) -> tuple[Path, str]:
    """Fetch ``url`` into ``work_dir``; return the file and its output name."""
    try:
        response = _OPENER.open(
            urllib.request.Request(url, headers={"User-Agent": _USER_AGENT}), timeout=timeout
        )
    except (urllib.error.URLError, OSError, HTTPException, ValueError) as exc:
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()
        raise InputError(f"{url}: {_reason(exc, timeout)}") from None

    with response:
        content_type = response.headers.get_content_type().lower()
        segment = unquote(PurePosixPath(urlsplit(response.geturl()).path).name)
        suffix = PurePosixPath(segment).suffix.lower()
        if not _is_direct_media(content_type, suffix):
            response.close()  # yt-dlp fetches the page itself
            return _download_with_ytdlp(url, work_dir, max_bytes=max_bytes, timeout=timeout)

        name = safe_name(PurePosixPath(segment).stem, fallback="download")
        if suffix.lstrip(".") not in MEDIA_EXTENSIONS:
            suffix = mimetypes.guess_extension(content_type) or suffix or ".bin"
        ext = safe_name(suffix.lstrip("."), fallback="bin")[:10]
        target = work_dir / f"{name}.{ext}"
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        if expected is not None and expected > max_bytes:
            raise InputError(
                f"{url}: file is {_size(expected)}, larger than the limit of {_size(max_bytes)}"
            )
        try:
            with target.open("wb") as out:
                received = _copy(response, out, max_bytes, timeout)
        except OSError as exc:
            raise InputError(f"{url}: cannot write {target} ({exc.strerror or exc})") from None
        except InputError as exc:
            raise InputError(f"{url}: {exc}") from None

    if received == 0:
        raise InputError(f"{url}: the server sent an empty file")
    if expected is not None and received != expected:
        raise InputError(f"{url}: download incomplete ({received} of {expected} bytes)")
    return target, name


def _copy(response: IO[bytes], out: IO[bytes], max_bytes: int, timeout: float) -> int:
    # Read errors become InputError here so that an OSError left over is a disk problem.
    received = 0
    while True:
        try:
            chunk = response.read(_CHUNK)
        except TimeoutError:
            raise InputError(f"download stalled for {timeout:g} s") from None
        except (OSError, HTTPException) as exc:
            detail = getattr(exc, "strerror", None) or type(exc).__name__
            raise InputError(f"connection lost during download ({detail})") from None
        if not chunk:
            return received
        received += len(chunk)
        if received > max_bytes:
            raise InputError(f"larger than the limit of {_size(max_bytes)}")
        out.write(chunk)


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


class _TooLarge(Exception):
    pass


def _download_with_ytdlp(
    url: str, work_dir: Path, *, max_bytes: int, timeout: float
) -> tuple[Path, str]:
    try:
        import yt_dlp
    except ImportError:
        raise InputError(
            f"{url}: not a direct media link; downloading from web pages needs yt-dlp: "
            "pip install 'vidscope[url]'"
        ) from None

    def check_size(progress: dict[str, Any]) -> None:
        # Not yt-dlp's max_filesize: that silently skips the download (and only when the size
        # is announced) where we want an error, and a limit on what actually arrives.
        announced = progress.get("total_bytes") or 0
        if max(announced, progress.get("downloaded_bytes") or 0) > max_bytes:
            raise _TooLarge

    options: dict[str, Any] = {
        "outtmpl": str(work_dir / "%(id)s.%(ext)s"),
        "format": "b[ext=mp4]/b/bv*+ba",
        "quiet": True,
        "noprogress": True,
        "no_warnings": True,
        "noplaylist": True,
        "playlist_items": "1",  # a page with several videos: analyse the first, not all
        "restrictfilenames": True,
        "socket_timeout": timeout,
        "progress_hooks": [check_size],
        "logger": _YtdlpLogger(),
        "cachedir": False,
    }
    too_large = InputError(f"{url}: larger than the limit of {_size(max_bytes)}")
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            info = ydl.extract_info(url, download=True)
    except _TooLarge:
        raise too_large from None
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


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    # urllib follows redirects to ftp:// too; a server must not steer us off http(s).
    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urlsplit(newurl).scheme.lower() not in ("http", "https"):
            fp.close()
            raise InputError(f"{req.full_url}: redirects to unsupported URL {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


def _reason(exc: BaseException, timeout: float) -> str:
    """One short phrase for a network failure."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}".rstrip()
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        exc = exc.reason
    if isinstance(exc, InvalidURL | ValueError):
        return f"invalid URL ({exc})"
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host ({exc.strerror or exc})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "cannot connect (Connection refused)"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot connect ({exc.strerror})"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot connect ({exc.reason})"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _size(n: int) -> str:
    if n < 2**20:
        return f"{n} bytes"
    return f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"

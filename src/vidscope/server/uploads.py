"""Receiving an uploaded media file: streamed to disk, limited while it streams, then probed.

Starlette's form parser would spool the whole upload before the endpoint sees it, so its size
could only be checked afterwards; this parser writes the ``file`` part straight to its place in
the job directory and stops at the limit.  The client's file name never becomes a path: only
its extension is kept, and only from a whitelist.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

if TYPE_CHECKING:  # python_multipart declares its callback table for type checkers only
    from python_multipart.multipart import MultipartCallbacks

from vidscope.errors import InputError
from vidscope.media.probe import probe

MEDIA_SUFFIXES = frozenset({
    ".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv",
    ".mp3", ".wav", ".flac", ".ogg", ".opus", ".m4a", ".aac",
})  # fmt: skip
_MEDIA_TYPES = ("video/", "audio/", "application/octet-stream")
_MAX_FIELD_BYTES = 64 * 1024


class UploadError(Exception):
    """An upload refused, with the HTTP status that says why (413, 415 or 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    """What arrived: the stored file and the form's other (text) fields."""

    path: Path | None = None
    filename: str = ""
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)


def _suffix(filename: str, content_type: str) -> str:
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    if suffix in MEDIA_SUFFIXES:
        return suffix
    guessed = mimetypes.guess_extension(content_type) if content_type else None
    if guessed in MEDIA_SUFFIXES:
        return guessed
    raise UploadError(
        415,
        f"{filename or 'the upload'} is not a supported media file "
        f"(extensions: {', '.join(sorted(MEDIA_SUFFIXES))})",
    )


class _Form:
    """python-multipart callbacks: one ``file`` part to disk, small text fields to memory."""

    def __init__(self, dest: Path, max_bytes: int) -> None:
        self.dest = dest
        self.max_bytes = max_bytes
        self.upload = Upload()
        self.pending: list[bytes] = []
        self.file: IO[bytes] | None = None
        self._headers: dict[bytes, bytes] = {}
        self._name = b""
        self._value = b""
        self._field: str | None = None
        self._data = bytearray()
        self._field_bytes = 0

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers, self._field, self._data = {}, None, bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._name.lower()] = self._value
        self._name, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name != "file":
            self._field = name
            return
        if self.file is not None or self.upload.path is not None:
            raise UploadError(422, "only one 'file' part is allowed")
        filename = options.get(b"filename", b"").decode("utf-8", "replace")
        ctype = self._headers.get(b"content-type", b"").decode("latin-1").strip().lower()
        if ctype and not ctype.startswith(_MEDIA_TYPES):
            raise UploadError(415, f"the file part is {ctype}; expected a video or audio file")
        self.upload.filename = PurePosixPath(filename.replace("\\", "/")).name[:200]
        self.upload.path = self.dest.with_suffix(_suffix(filename, ctype))
        self.file = self.upload.path.open("wb")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        if self._field is None and self.file is not None:
            self.upload.size += n
            if self.upload.size > self.max_bytes:
                raise UploadError(413, f"upload larger than the limit of {self.max_bytes} bytes")
            self.pending.append(data[start:end])
        else:
            self._field_bytes += n
            if self._field_bytes > _MAX_FIELD_BYTES:
                raise UploadError(413, f"form fields larger than {_MAX_FIELD_BYTES} bytes")
            self._data += data[start:end]

    def _part_end(self) -> None:
        if self._field is not None:
            self.upload.fields[self._field] = self._data.decode("utf-8", "replace")


async def receive_upload(request: Request, dest: Path, max_bytes: int) -> Upload:
    """Parse a ``multipart/form-data`` request; the ``file`` part goes to ``dest`` + its
    extension.  Raises :class:`UploadError`; a partly written file is the caller's to remove."""
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise UploadError(422, "multipart request without a boundary")
    form = _Form(dest, max_bytes)
    parser = MultipartParser(boundary, form.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if form.pending:
                data, form.pending = b"".join(form.pending), []
                assert form.file is not None
                # Off the event loop: a slow disk must not stall every other request.
                await run_in_threadpool(form.file.write, data)
        parser.finalize()
    except MultipartParseError as exc:
        raise UploadError(422, f"malformed multipart body ({exc})") from None
    finally:
        if form.file is not None:
            form.file.close()
    if form.upload.path is None:
        raise UploadError(422, "no 'file' part in the form")
    if form.upload.size == 0:
        raise UploadError(422, "the uploaded file is empty")
    return form.upload


async def check_media(upload: Upload, relative: Callable[[str], str]) -> None:
    """Refuse (415) an upload that is not a readable media file.  The reason names the file as
    the client did, and ``relative`` takes any other server path out of it."""
    assert upload.path is not None
    try:
        await run_in_threadpool(probe, upload.path)
    except InputError as exc:
        reason = str(exc).replace(str(upload.path), upload.filename or "the upload")
        raise UploadError(415, relative(reason)) from None

"""URL ingest against a real HTTP server on 127.0.0.1 serving a real clip."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import foreground, need
from slow_origin import SlowOrigin
from test_cli import assert_clean_error, vidscope
from vidscope.errors import InputError
from vidscope.media.ingest import Source, resolve_source
from vidscope.media.names import safe_name
from vidscope.media.transfer import Cancelled, Limits

CLIP = "debian/Megamind.avi"


class _QuietHTTPServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that time out or stop early break the pipe; that is expected here


class _Server:
    def __init__(self, httpd: _QuietHTTPServer, clip: bytes) -> None:
        self.httpd = httpd
        self.clip = clip
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def count(self, path: str) -> int:
        with self.lock:
            return self.hits[path]


def _make_handler(server: _Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
            pass

        def _send(self, body: bytes, ctype: str, *, length: int | None = None) -> None:
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            if length is not None:
                self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            with server.lock:
                server.hits[path] += 1
            clip = server.clip
            if path.startswith("/media/"):
                self._send(clip, "video/x-msvideo", length=len(clip))
            elif path == "/noext/clip":  # no extension: the Content-Type decides
                self._send(clip, "application/octet-stream", length=len(clip))
            elif path == "/nolength/Megamind.avi":  # HTTP/1.0, body ends at close
                self._send(clip, "video/x-msvideo")
            elif path == "/empty.mp4":
                self._send(b"", "video/mp4", length=0)
            elif path == "/truncated.avi":
                self._send(clip[: len(clip) // 2], "video/x-msvideo", length=len(clip))
            elif path == "/slow.mp4":
                time.sleep(2)
                self._send(clip, "video/mp4", length=len(clip))
            elif path == "/page.html":
                html = b"<!doctype html><html><head><title>No video</title></head>"
                html += b"<body><p>Nothing to see here.</p></body></html>"
                self._send(html, "text/html; charset=utf-8", length=len(html))
            elif path == "/watch":  # an HTML5 <video> page, for yt-dlp's generic extractor
                html = b"<!doctype html><html><head><title>Mega: the movie?</title></head><body>"
                html += b'<video controls><source src="/media/Megamind.avi" type="video/x-msvideo">'
                html += b"</video></body></html>"
                self._send(html, "text/html; charset=utf-8", length=len(html))
            elif path == "/redirect-ftp.mp4":
                self.send_response(302)
                self.send_header("Location", "ftp://127.0.0.1/a.mp4")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.send_error(404)

    return Handler


@pytest.fixture(scope="module")
def server(media) -> Iterator[_Server]:
    clip = media(CLIP).read_bytes()
    httpd = _QuietHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    srv = _Server(httpd, clip)
    httpd.RequestHandlerClass = _make_handler(srv)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _cache_files(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("*") if p.is_file())


def _single_line_error(excinfo: pytest.ExceptionInfo[InputError], url: str) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    assert url in message
    return message


def test_download_is_byte_identical_and_cached_by_url(server: _Server, tmp_path: Path) -> None:
    url = server.url("/media/Megamind.avi")
    src = resolve_source(url, tmp_path)
    assert isinstance(src, Source)
    assert src.url == url
    assert src.name == "Megamind"
    key = hashlib.sha256(url.encode()).hexdigest()[:24]
    assert src.path.parent == tmp_path / "downloads" / key
    assert src.path.suffix == ".avi"
    assert src.path.read_bytes() == server.clip
    assert server.count("/media/Megamind.avi") == 1

    again = resolve_source(url, tmp_path)
    assert again == src
    assert server.count("/media/Megamind.avi") == 1, "cache hit must not touch the network"
    # Only the file and its completion marker; no temporary leftovers.
    assert [p.name for p in (tmp_path / "downloads").iterdir()] == [key]


def test_content_type_decides_without_extension(server: _Server, tmp_path: Path) -> None:
    src = resolve_source(server.url("/noext/clip"), tmp_path)
    assert src.path.read_bytes() == server.clip
    assert src.name == "clip"


def test_download_without_content_length(server: _Server, tmp_path: Path) -> None:
    src = resolve_source(server.url("/nolength/Megamind.avi"), tmp_path)
    assert src.path.read_bytes() == server.clip


def test_http_404(server: _Server, tmp_path: Path) -> None:
    url = server.url("/missing.mp4")
    with pytest.raises(InputError) as excinfo:
        resolve_source(url, tmp_path)
    message = _single_line_error(excinfo, url)
    assert "404" in message
    assert _cache_files(tmp_path) == []


def test_unreachable_port(tmp_path: Path) -> None:
    # A port that was just free: nothing listens there, so the connection is refused.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/a.mp4"
    with pytest.raises(InputError) as excinfo:
        resolve_source(url, tmp_path, Limits(timeout=5))
    assert "cannot connect" in _single_line_error(excinfo, url)
    assert _cache_files(tmp_path) == []


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/a.mp4", "FILE:///etc/passwd", "http:///a.mp4"]
)
def test_unsupported_urls(url: str, tmp_path: Path) -> None:
    with pytest.raises(InputError) as excinfo:
        resolve_source(url, tmp_path)
    _single_line_error(excinfo, url)
    assert not (tmp_path / "downloads").exists()


def test_redirect_off_http_is_refused(server: _Server, tmp_path: Path) -> None:
    url = server.url("/redirect-ftp.mp4")
    with pytest.raises(InputError) as excinfo:
        resolve_source(url, tmp_path)
    assert "ftp://" in _single_line_error(excinfo, url)
    assert _cache_files(tmp_path) == []


@pytest.mark.parametrize("path", ["/media/Megamind.avi", "/nolength/Megamind.avi"])
def test_max_bytes(server: _Server, tmp_path: Path, path: str) -> None:
    # With Content-Length the download is refused up front; without, it stops mid-stream.
    url = server.url(path)
    with pytest.raises(InputError) as excinfo:
        resolve_source(url, tmp_path, Limits(max_bytes=len(server.clip) - 1))
    assert "limit" in _single_line_error(excinfo, url)
    assert _cache_files(tmp_path) == []
    assert list((tmp_path / "downloads").iterdir()) == []


def test_empty_download(server: _Server, tmp_path: Path) -> None:
    url = server.url("/empty.mp4")
    with pytest.raises(InputError) as excinfo:
        resolve_source(url, tmp_path)
    assert "empty" in _single_line_error(excinfo, url)
    assert _cache_files(tmp_path) == []


def test_truncated_download_is_not_cached(server: _Server, tmp_path: Path) -> None:
    url = server.url("/truncated.avi")
    with pytest.raises(InputError) as excinfo:
        resolve_source(url, tmp_path)
    assert "incomplete" in _single_line_error(excinfo, url)
    assert _cache_files(tmp_path) == []


def test_timeout(server: _Server, tmp_path: Path) -> None:
    url = server.url("/slow.mp4")
    with pytest.raises(InputError) as excinfo:
        resolve_source(url, tmp_path, Limits(timeout=0.5))
    assert "timed out" in _single_line_error(excinfo, url)
    assert _cache_files(tmp_path) == []


@pytest.fixture()
def origin() -> Iterator[SlowOrigin]:
    with SlowOrigin() as slow:
        yield slow


def test_a_download_below_the_minimum_rate_fails(origin: SlowOrigin, tmp_path: Path) -> None:
    url = origin.url(every=0.1)  # 10 bytes/s, and never a pause long enough to time out
    with pytest.raises(InputError) as excinfo:
        resolve_source(url, tmp_path, Limits(min_rate=1024, rate_window_s=1))
    message = _single_line_error(excinfo, url)
    assert "download stalled" in message and "below the minimum of 1 KiB/s" in message
    assert _cache_files(tmp_path) == []


def test_a_download_past_its_deadline_fails(origin: SlowOrigin, tmp_path: Path) -> None:
    # About 80 KiB/s, well above the minimum rate; the file never ends, the deadline does.
    url = origin.url(every=0.05, piece=4096)
    with pytest.raises(InputError) as excinfo:
        resolve_source(url, tmp_path, Limits(deadline_s=1.5))
    assert "exceeded its deadline of 1.5 s" in _single_line_error(excinfo, url)
    assert _cache_files(tmp_path) == []


def _wait_for_request(origin: SlowOrigin, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while origin.requests == 0:
        assert time.monotonic() < deadline, "the download never reached the origin"
        time.sleep(0.05)


def test_stop_ends_a_stalled_download_within_seconds(origin: SlowOrigin, tmp_path: Path) -> None:
    stop = threading.Event()
    outcome: list[BaseException] = []

    def fetch() -> None:
        try:
            resolve_source(origin.url(every=20), tmp_path, stop=stop)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=fetch)
    thread.start()
    _wait_for_request(origin)
    stop.set()
    thread.join(5)  # the requirement: a cancel is honoured within 5 s, even with no data
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled), outcome
    assert _cache_files(tmp_path) == []


def test_cli_stalled_download_exits_3_with_the_reason(origin: SlowOrigin, tmp_path: Path) -> None:
    proc = vidscope(
        "analyze", origin.url(every=0.1), "-o", str(tmp_path / "o"), "-a", "shots",
        "--set", "download.rate_window_s=1",
        env={"VIDSCOPE_CACHE_DIR": str(tmp_path / "cache")},
    )  # fmt: skip
    assert_clean_error(proc, 3, "download stalled")
    assert "below the minimum of 1 KiB/s" in proc.stderr
    assert _cache_files(tmp_path / "cache") == []
    assert not (tmp_path / "o").exists()


def test_cli_interrupt_during_a_stalled_download(origin: SlowOrigin, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidscope.cli", "analyze", origin.url(every=20), "-o",
         str(tmp_path / "o"), "-a", "shots"],
        env={**os.environ, "VIDSCOPE_CACHE_DIR": str(tmp_path / "cache")},
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=foreground,
    )  # fmt: skip
    try:
        _wait_for_request(origin)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=5)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert _cache_files(tmp_path / "cache") == []


def test_html_page_goes_to_ytdlp(server: _Server, tmp_path: Path) -> None:
    need("yt_dlp")
    url = server.url("/page.html")
    with pytest.raises(InputError) as excinfo:
        resolve_source(url, tmp_path, Limits(timeout=5))
    _single_line_error(excinfo, url)
    # Our GET plus yt-dlp's own: the page really was handed over.
    assert server.count("/page.html") >= 2
    assert _cache_files(tmp_path) == []


def test_ytdlp_downloads_video_from_page(server: _Server, tmp_path: Path) -> None:
    need("yt_dlp")
    url = server.url("/watch")
    src = resolve_source(url, tmp_path, Limits(timeout=5))
    assert src.url == url
    assert src.path.read_bytes() == server.clip
    assert src.name == safe_name(src.name) and src.name.startswith("Mega")
    key = hashlib.sha256(url.encode()).hexdigest()[:24]
    assert src.path.parent == tmp_path / "downloads" / key
    pages = server.count("/watch")
    assert resolve_source(url, tmp_path) == src
    assert server.count("/watch") == pages, "cache hit must not touch the network"


def test_ytdlp_max_bytes(server: _Server, tmp_path: Path) -> None:
    need("yt_dlp")
    url = server.url("/watch")
    with pytest.raises(InputError) as excinfo:
        resolve_source(url, tmp_path, Limits(max_bytes=len(server.clip) - 1, timeout=5))
    assert "limit" in _single_line_error(excinfo, url)
    assert _cache_files(tmp_path) == []


def test_html_page_without_ytdlp(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "yt_dlp", None)  # makes `import yt_dlp` fail
    url = server.url("/page.html")
    with pytest.raises(InputError) as excinfo:
        resolve_source(url, tmp_path)
    assert "pip install 'vidscope[url]'" in _single_line_error(excinfo, url)
    assert _cache_files(tmp_path) == []


def test_local_path_passthrough(tmp_path: Path, media) -> None:
    clip = media(CLIP)
    src = resolve_source(str(clip), tmp_path)
    assert src == Source(path=clip, url=None, name="Megamind")
    # No existence check here: probe() reports missing files.
    missing = resolve_source("no/such dir/My clip.mp4", tmp_path)
    assert missing.path == Path("no/such dir/My clip.mp4")
    assert missing.name == "My_clip"
    assert not (tmp_path / "downloads").exists()


def test_url_names_are_filesystem_safe(server: _Server, tmp_path: Path) -> None:
    # Percent-escapes, spaces, brackets and a query string; served by the /media/ route.
    url = server.url("/media/My%20Clip%20%28final%29%3A%20v2.avi?token=a/b")
    src = resolve_source(url, tmp_path)
    assert src.name == "My_Clip_final_v2"
    assert src.path.name == "My_Clip_final_v2.avi"
    assert src.path.read_bytes() == server.clip


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Megamind", "Megamind"),
        ("../../etc/passwd", "etc_passwd"),
        ("a b\tc", "a_b_c"),
        ("Vidéo ünicode", "Vidéo_ünicode"),
        ("...", "input"),
        ("", "input"),
        ("x" * 200, "x" * 80),
    ],
)
def test_safe_name(raw: str, expected: str) -> None:
    assert safe_name(raw) == expected

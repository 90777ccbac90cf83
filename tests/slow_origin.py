"""A loopback HTTP origin that stalls: a media file that arrives a few bytes at a time.

Used by the download tests and by ``bench/bench_cancel.py``; it never listens beyond 127.0.0.1.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def trickle(handler: BaseHTTPRequestHandler, closing: threading.Event) -> None:
    """Answer ``?every=S&piece=N`` (default 1 byte every 20 s) with a media file that never
    ends, until the client goes away or ``closing`` is set."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(handler.path).query).items()}
    every, piece = float(query.get("every", "20")), int(query.get("piece", "1"))
    handler.send_response(200)
    handler.send_header("Content-Type", "video/mp4")
    handler.end_headers()  # no Content-Length: the body would end when the connection does
    try:
        while True:
            handler.wfile.write(b"\0" * piece)
            handler.wfile.flush()
            if closing.wait(every):
                return
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up, which is what the tests want


class SlowOrigin:
    """``with SlowOrigin() as origin: origin.url(every=20)``; ``requests`` counts the GETs."""

    def __init__(self) -> None:
        self.closing = threading.Event()
        self.requests = 0
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                origin.requests += 1
                trickle(self, origin.closing)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, every: float = 20, piece: int = 1) -> str:
        return f"http://127.0.0.1:{self.port}/clip.mp4?every={every:g}&piece={piece}"

    def __enter__(self) -> SlowOrigin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

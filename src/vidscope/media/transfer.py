"""One HTTP download under limits that hold even while the server stalls: a size cap, an
overall deadline, a minimum average rate, and a stop event honoured within a fraction of a second.

A read blocked in ``recv`` looks at no clock and no flag, and short socket timeouts cannot stand
in: ``http.client`` cannot resume a read after a socket timeout (the stream is marked broken).
So a watchdog thread wakes every :data:`TICK` seconds, judges the transfer and, on a breach,
shuts the connection down through a duplicate of its socket (TLS wrapping detaches the original
object, never the duplicate).  That wakes the blocked connect or read at once, and the reading
thread raises the watchdog's reason.

Both URL paths use it: :mod:`vidscope.media.download` (the command line and the engine) and
:mod:`vidscope.server.urls` (server jobs, with an address policy on every connection).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

from vidscope.errors import InputError, VidscopeError

TICK = 0.25
"""Seconds between two looks of the watchdog: the latency of a cancel, a deadline or a stall."""
_PIECE = 64 * 1024  # one read: small enough that the rate is seen as bytes arrive

Resolve = Callable[[str, int], list[tuple[int, Any]]]
"""``(host, port)`` -> ``(family, sockaddr)`` pairs to try, in order."""
CheckRedirect = Callable[[str, str], None]
"""``(from_url, to_url)``: raise :class:`InputError` to refuse a redirect."""


@dataclass(frozen=True)
class Limits:
    """What one download may take."""

    max_bytes: int = 4 * 2**30
    timeout: float = 30.0
    """One network wait: the connection, or a pause with no data at all."""
    deadline_s: float = 3600.0
    """The whole download, connection and redirects included."""
    min_rate: float = 1024.0
    """Bytes per second, averaged over ``rate_window_s``; 0 turns the check off."""
    rate_window_s: float = 30.0
    """The averaging window, and the grace period before the rate is judged at all."""


class Cancelled(VidscopeError):
    """The download was stopped by its owner (a cancelled job, a server shutting down)."""


def resolve(host: str, port: int) -> list[tuple[int, Any]]:
    """Every address of ``host`` (no policy: the command line may reach any host)."""
    return [(f, addr) for f, *_, addr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


class Transfer:
    """One URL's download, watched from ``with Transfer(url, limits) as t:`` to the end of the
    block: ``response = t.open(headers)``, then ``t.copy(response, file)``.

    Errors name ``url`` and are one line.
    """

    def __init__(
        self,
        url: str,
        limits: Limits,
        *,
        stop: threading.Event | None = None,
        resolve: Resolve = resolve,
        check_redirect: CheckRedirect | None = None,
        proxies: bool = True,
    ) -> None:
        self.url = url
        self.limits = limits
        self.stop = stop
        self.received = 0
        self.started = time.monotonic()
        self._resolve = resolve
        self._reason: VidscopeError | None = None
        self._control: socket.socket | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._samples: deque[tuple[float, int]] = deque([(self.started, 0)])
        self._opener = build_opener(self._connect, check_redirect or _http_only, proxies=proxies)
        self._thread = threading.Thread(target=self._watch, name="vidscope-download", daemon=True)

    def __enter__(self) -> Transfer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        with self._lock:
            if self._control is not None:
                self._control.close()
                self._control = None

    def open(self, headers: dict[str, str]) -> http.client.HTTPResponse:
        """Send the GET, follow redirects; the response with its headers read.

        An :class:`InputError` raised by a redirect check passes through unchanged."""
        try:
            request = urllib.request.Request(self.url, headers=headers)
            return self._opener.open(request, timeout=self.limits.timeout)
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            if isinstance(exc, urllib.error.HTTPError):
                exc.close()
            raise self._failure(describe(exc, self.limits.timeout)) from None

    def copy(
        self,
        response: IO[bytes],
        out: IO[bytes],
        on_progress: Callable[[int], None] | None = None,
    ) -> int:
        """Stream the body into ``out``; return the number of bytes.

        Network trouble raises :class:`InputError` (or :class:`Cancelled`), so an ``OSError``
        that escapes is a problem writing ``out``."""
        limit = self.limits.max_bytes
        while True:
            try:
                # read1: at most one recv, so a trickle is counted as it arrives.
                chunk = response.read1(_PIECE)  # type: ignore[attr-defined]
            except TimeoutError:
                raise self._failure(f"download stalled for {self.limits.timeout:g} s") from None
            except (OSError, http.client.HTTPException) as exc:
                detail = getattr(exc, "strerror", None) or type(exc).__name__
                raise self._failure(f"connection lost during download ({detail})") from None
            if self._reason is not None:  # the shutdown ended the body early
                raise self._reason
            if not chunk:
                return self.received
            self.received += len(chunk)
            if self.received > limit:
                raise InputError(f"{self.url}: larger than the limit of {size_text(limit)}")
            out.write(chunk)
            if on_progress is not None:
                on_progress(self.received)

    def check(self, *, rate: bool = True) -> VidscopeError | None:
        """Why the download must end now, if it must: stopped, past its deadline, too slow."""
        now = time.monotonic()
        if self.stop is not None and self.stop.is_set():
            return Cancelled(f"{self.url}: download cancelled")
        if now - self.started > self.limits.deadline_s:
            return InputError(
                f"{self.url}: download exceeded its deadline of {self.limits.deadline_s:g} s"
            )
        window = self.limits.rate_window_s
        if not rate or self.limits.min_rate <= 0:
            return None
        samples = self._samples
        samples.append((now, self.received))
        while len(samples) > 1 and samples[1][0] <= now - window:
            samples.popleft()
        since, then = samples[0]
        if now - since >= window and self.received - then < self.limits.min_rate * (now - since):
            return InputError(
                f"{self.url}: download stalled: {self.received - then} bytes in "
                f"{now - since:.0f} s, below the minimum of {rate_text(self.limits.min_rate)}"
            )
        return None

    def _watch(self) -> None:
        while not self._done.wait(TICK):
            reason = self.check()
            if reason is not None:
                with self._lock:
                    self._reason = reason
                    self._shutdown()
                return

    def _shutdown(self) -> None:
        if self._control is not None:
            # Not connected (yet, or any more): then nothing blocks on it.
            with contextlib.suppress(OSError):
                self._control.shutdown(socket.SHUT_RDWR)

    def _failure(self, reason: str) -> VidscopeError:
        # A breach shows up in the reading thread as whatever the shutdown caused; say why.
        return self._reason or InputError(f"{self.url}: {reason}")

    def _connect(self, host: str, port: int, timeout: object) -> socket.socket:
        error: OSError | None = None
        for family, sockaddr in self._resolve(host, port):
            sock = socket.socket(family, socket.SOCK_STREAM)
            with self._lock:
                if self._reason is not None:  # tripped between two attempts or redirects
                    sock.close()
                    raise self._reason
                # One connection at a time (a redirect's earlier one is finished).
                if self._control is not None:
                    self._control.close()
                self._control = sock.dup()
            try:
                if isinstance(timeout, int | float):  # else http.client's "default" marker
                    sock.settimeout(timeout)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error or OSError(f"cannot connect to {host}")


def _http_only(old: str, new: str) -> None:
    # urllib follows redirects to ftp:// too; a server must not steer us off http(s).
    if urlsplit(new).scheme.lower() not in ("http", "https"):
        raise InputError(f"{old}: redirects to unsupported URL {new}")


def build_opener(
    connect: Callable[[str, int, object], socket.socket],
    check_redirect: CheckRedirect,
    *,
    proxies: bool,
) -> urllib.request.OpenerDirector:
    """A urllib opener that opens every connection with ``connect(host, port, timeout)`` and
    lets ``check_redirect`` refuse each redirect before it is followed."""

    def connection(base: type[http.client.HTTPConnection]) -> type[http.client.HTTPConnection]:
        class Connection(base):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                # HTTPConnection.connect opens its socket through this hook; HTTPS then wraps
                # that socket in TLS with the original host name for SNI and verification.
                self._create_connection = lambda addr, timeout, source=None: connect(
                    addr[0], addr[1], timeout
                )

        return Connection

    http_conn, https_conn = (
        connection(http.client.HTTPConnection),
        connection(http.client.HTTPSConnection),
    )

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(http_conn, req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            # The handler's TLS context (urllib's own attribute, missing from typeshed).
            context = self._context  # type: ignore[attr-defined]
            return self.do_open(https_conn, req, context=context)

    class RedirectHandler(urllib.request.HTTPRedirectHandler):
        def redirect_request(
            self,
            req: urllib.request.Request,
            fp: IO[bytes],
            code: int,
            msg: str,
            headers: http.client.HTTPMessage,
            newurl: str,
        ) -> urllib.request.Request | None:
            try:
                check_redirect(req.full_url, newurl)
            except InputError:
                fp.close()
                raise
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    handlers: list[urllib.request.BaseHandler] = [
        HTTPHandler(), HTTPSHandler(), RedirectHandler(),
        urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor(),
    ]  # fmt: skip
    if proxies:  # the environment's http_proxy / https_proxy, as urllib.request.urlopen does
        handlers.append(urllib.request.ProxyHandler())
    opener = urllib.request.OpenerDirector()
    for handler in handlers:
        opener.add_handler(handler)
    return opener


def describe(exc: BaseException, timeout: float) -> str:
    """One short phrase for a network failure."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}".rstrip()
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        exc = exc.reason
    if isinstance(exc, http.client.InvalidURL | ValueError):
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


def size_text(n: float) -> str:
    """``n`` bytes for a message: bytes, MiB or GiB."""
    if n < 2**20:
        return f"{n:g} bytes"
    return f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"


def rate_text(bps: float) -> str:
    """A rate for a message: ``512 bytes/s``, ``1 KiB/s``, ``2.5 MiB/s``."""
    if bps >= 2**20:
        return f"{bps / 2**20:g} MiB/s"
    return f"{bps / 1024:g} KiB/s" if bps >= 1024 else f"{bps:g} bytes/s"

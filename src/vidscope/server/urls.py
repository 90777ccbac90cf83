"""URL jobs without server-side request forgery.

A client must not be able to make the server fetch ``http://169.254.169.254/`` (cloud
metadata), ``http://127.0.0.1:6379/`` or anything else on the server's own network.  Checking
the URL's host once is not enough: DNS can answer differently at connect time, and a public
server can redirect to a private one.  So the check runs where the socket is opened, against
the address actually connected to, for the first request and for every redirect alike.

``vidscope.media.ingest`` opens its own connections (and hands web pages to yt-dlp, which does
too), so the server fetches direct media links itself with the guarded opener below.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from vidscope.errors import InputError

_CHUNK = 1 << 20
_USER_AGENT = "vidscope-server"
# Direct media only: a web page would need yt-dlp, whose own connections cannot be guarded.
_MEDIA_TYPES = ("video/", "audio/", "application/octet-stream")


class UnsafeURL(InputError):
    """A URL the server will not fetch (scheme, or an address it may not reach)."""


@dataclass(frozen=True)
class UrlPolicy:
    """Which hosts URL jobs may reach.  See ``ServerConfig.allow_private_urls``."""

    allow_private: bool | tuple[str, ...] = False

    def exempt(self, host: str, port: int) -> bool:
        """Whether ``host`` may be private: listed by the exact name the URL uses, alone or as
        ``name:port`` (``[v6addr]:port``)."""
        if self.allow_private is True:
            return True
        if not self.allow_private:
            return False
        host = host.lower().strip("[]")
        with_port = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return host in self.allow_private or with_port in self.allow_private

    def check_address(self, host: str, ip: str) -> None:
        """Raise :class:`UnsafeURL` unless ``ip`` is a public (globally routable) address."""
        addr = ipaddress.ip_address(ip.split("%")[0])
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        if not addr.is_global or addr.is_multicast:
            kind = (
                "loopback" if addr.is_loopback
                else "link-local" if addr.is_link_local
                else "private" if addr.is_private
                else "non-public"
            )  # fmt: skip
            raise UnsafeURL(
                f"{host} resolves to {addr}, a {kind} address; the server only fetches public "
                "addresses (see allow_private_urls)"
            )

    def resolve(self, host: str, port: int) -> list[tuple[int, tuple]]:
        """Every address of ``host``, each checked; (family, sockaddr) pairs to connect to."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise InputError(f"cannot resolve host {host} ({exc.strerror or exc})") from None
        if not self.exempt(host, port):
            for *_, sockaddr in infos:
                self.check_address(host, sockaddr[0])
        return [(family, sockaddr) for family, *_, sockaddr in infos]

    def check_url(self, url: str) -> None:
        """Scheme and host of ``url``: raise :class:`UnsafeURL` or :class:`InputError`."""
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        except ValueError as exc:
            raise InputError(f"invalid URL ({exc})") from None
        if parts.scheme.lower() not in ("http", "https"):
            raise UnsafeURL(
                f"unsupported URL scheme {parts.scheme or '(none)'!r}: only http and https"
            )
        if not parts.hostname:
            raise InputError("invalid URL: no host")
        self.resolve(parts.hostname, port)


def _guarded_connect(policy: UrlPolicy, host: str, port: int, timeout: object) -> socket.socket:
    # Resolve once and connect to exactly the addresses that were checked: no second lookup
    # that DNS could answer differently (rebinding).
    error: OSError | None = None
    for family, sockaddr in policy.resolve(host, port):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if isinstance(timeout, int | float):  # else http.client's "default timeout" marker
                sock.settimeout(timeout)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"cannot connect to {host}")


def _connection_class(base: type[http.client.HTTPConnection], policy: UrlPolicy) -> type:
    class Guarded(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # HTTPConnection.connect opens its socket through this hook; HTTPS then wraps the
            # same socket in TLS with the original host name for SNI and verification.
            self._create_connection = lambda addr, timeout, source=None: _guarded_connect(
                policy, addr[0], addr[1], timeout
            )

    return Guarded


def build_opener(policy: UrlPolicy) -> urllib.request.OpenerDirector:
    """A urllib opener whose every connection, redirects included, obeys ``policy``."""
    http_conn = _connection_class(http.client.HTTPConnection, policy)
    https_conn = _connection_class(http.client.HTTPSConnection, policy)

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(http_conn, req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(https_conn, req, context=self._context)

    class RedirectHandler(urllib.request.HTTPRedirectHandler):
        def redirect_request(
            self,
            req: urllib.request.Request,
            fp: IO[bytes],
            code: int,
            msg: str,
            headers: Message,
            newurl: str,
        ) -> urllib.request.Request | None:
            # Checked here too (not only at connect) so the error names the redirect.
            try:
                policy.check_url(newurl)
            except InputError as exc:
                raise UnsafeURL(f"redirected to {newurl}: {exc}") from None
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    # No ProxyHandler: an environment proxy would be connected to instead of the checked host.
    opener = urllib.request.OpenerDirector()
    for handler in (
        HTTPHandler(), HTTPSHandler(), RedirectHandler(),
        urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor(),
    ):  # fmt: skip
        opener.add_handler(handler)
    return opener


def fetch_media(
    url: str,
    dest: Path,
    *,
    policy: UrlPolicy,
    max_bytes: int,
    timeout: float,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download a direct media link to ``dest`` + a suffix from the URL; return the file.

    Raises :class:`InputError` (or :class:`UnsafeURL`) with a one-line reason."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        response = build_opener(policy).open(request, timeout=timeout)
    except InputError:  # the policy said no (or DNS failed), at the first hop or a redirect
        raise
    except urllib.error.HTTPError as exc:
        exc.close()
        raise InputError(f"cannot fetch {url} (HTTP {exc.code} {exc.reason})") from None
    except urllib.error.URLError as exc:
        raise InputError(f"cannot fetch {url} ({exc.reason})") from None
    except (OSError, http.client.HTTPException) as exc:
        raise InputError(f"cannot fetch {url} ({type(exc).__name__}: {exc})") from None
    with response:
        ctype = response.headers.get_content_type().lower()
        if not ctype.startswith(_MEDIA_TYPES):
            raise InputError(
                f"{url} is {ctype}, not a media file; the server fetches direct media links only"
            )
        suffix = PurePosixPath(unquote(urlsplit(response.geturl()).path)).suffix.lower()
        target = dest.with_suffix(suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ".bin")
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > max_bytes:
            raise InputError(f"{url} is {total} bytes, more than the limit of {max_bytes}")
        received = 0
        try:
            with target.open("wb") as out:
                while chunk := response.read(_CHUNK):
                    received += len(chunk)
                    if received > max_bytes:
                        raise InputError(f"{url} is larger than the limit of {max_bytes} bytes")
                    out.write(chunk)
                    if on_progress is not None:
                        on_progress(received, total)
        except (OSError, http.client.HTTPException) as exc:
            raise InputError(f"download of {url} failed ({type(exc).__name__}: {exc})") from None
    if received == 0 or (total is not None and received != total):
        raise InputError(f"download of {url} incomplete ({received} bytes)")
    return target

"""URL jobs without server-side request forgery.

A client must not be able to make the server fetch ``http://169.254.169.254/`` (cloud
metadata), ``http://127.0.0.1:6379/`` or anything else on the server's own network.  Checking
the URL's host once is not enough: DNS can answer differently at connect time, and a public
server can redirect to a private one.  So the check runs where the socket is opened, against
the address actually connected to, for the first request and for every redirect alike.  An IPv6
address that carries an IPv4 one (IPv4-mapped, 6to4, NAT64, Teredo, ...) is judged by the IPv4
address, which is where its packets end up.

``vidscope.media.ingest`` hands web pages to yt-dlp, whose connections cannot be guarded, so
the server fetches direct media links only, through :class:`vidscope.media.transfer.Transfer`
with this policy on every connection.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from vidscope.errors import InputError
from vidscope.media.transfer import Limits, Transfer, size_text

_USER_AGENT = "vidscope-server"
# Direct media only: a web page would need yt-dlp, whose own connections cannot be guarded.
_MEDIA_TYPES = ("video/", "audio/", "application/octet-stream")
# IPv6 ranges whose last 32 bits are an IPv4 address: IPv4-compatible (deprecated, ::/96),
# IPv4-translated (SIIT, ::ffff:0:0:0/96) and the well-known NAT64 prefix (64:ff9b::/96).
_LAST_32_BITS = tuple(
    ipaddress.IPv6Network(n) for n in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96")
)
# Local-use NAT64 (RFC 8215): where the IPv4 address sits depends on the operator's prefix
# length, and translating it reaches the operator's own IPv4 network anyway.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def embedded_ipv4(addr: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (none for a plain one): IPv4-mapped,
    IPv4-compatible, IPv4-translated, NAT64, 6to4, or Teredo's server and client."""
    if addr.ipv4_mapped is not None:
        return [addr.ipv4_mapped]
    if addr.sixtofour is not None:
        return [addr.sixtofour]
    if addr.teredo is not None:
        return list(addr.teredo)
    if any(addr in net for net in _LAST_32_BITS):
        return [ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)]
    return []


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
        """Raise :class:`UnsafeURL` unless ``ip`` is a public (globally routable) address,
        and so is every IPv4 address it embeds."""
        addr = ipaddress.ip_address(ip.split("%")[0])
        inner = embedded_ipv4(addr) if isinstance(addr, ipaddress.IPv6Address) else []
        judge: Sequence[ipaddress.IPv4Address | ipaddress.IPv6Address] = inner or [addr]
        for judged in judge:
            if judged in _LOCAL_NAT64 or not judged.is_global or judged.is_multicast:
                kind = (
                    "loopback" if judged.is_loopback
                    else "link-local" if judged.is_link_local
                    else "private" if judged.is_private
                    else "non-public"
                )  # fmt: skip
                carries = f"{addr}, which carries {judged}," if judged != addr else f"{addr},"
                raise UnsafeURL(
                    f"{host} resolves to {carries} a {kind} address; the server only fetches "
                    "public addresses (see allow_private_urls)"
                )

    def resolve(self, host: str, port: int) -> list[tuple[int, tuple]]:
        """Every address of ``host``, each checked; (family, sockaddr) pairs to connect to."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise InputError(f"cannot resolve host {host} ({exc.strerror or exc})") from None
        if not self.exempt(host, port):
            for *_, sockaddr in infos:
                # An address string for both families (typeshed allows int for others).
                self.check_address(host, str(sockaddr[0]))
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


def fetch_media(
    url: str,
    dest: Path,
    *,
    policy: UrlPolicy,
    limits: Limits,
    stop: threading.Event | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download a direct media link to ``dest`` + a suffix from the URL; return the file.

    ``stop`` ends the download within a second
    (:class:`~vidscope.media.transfer.Cancelled`).  Raises :class:`InputError` (or
    :class:`UnsafeURL`) with a one-line reason."""

    def check_redirect(old: str, new: str) -> None:
        # Checked here too (not only at connect) so the error names the redirect.
        try:
            policy.check_url(new)
        except InputError as exc:
            raise UnsafeURL(f"redirected to {new}: {exc}") from None

    # No proxies: an environment proxy would be connected to instead of the checked host.
    with (
        Transfer(
            url,
            limits,
            stop=stop,
            resolve=policy.resolve,
            check_redirect=check_redirect,
            proxies=False,
        ) as transfer,
        transfer.open({"User-Agent": _USER_AGENT}) as response,
    ):
        ctype = response.headers.get_content_type().lower()
        if not ctype.startswith(_MEDIA_TYPES):
            raise InputError(
                f"{url} is {ctype}, not a media file; the server fetches direct media links only"
            )
        suffix = PurePosixPath(unquote(urlsplit(response.geturl()).path)).suffix.lower()
        ok = suffix[1:].isalnum() and len(suffix) <= 6
        target = dest.with_suffix(suffix if ok else ".bin")
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > limits.max_bytes:
            raise InputError(
                f"{url} is {size_text(total)}, more than the limit of {size_text(limits.max_bytes)}"
            )
        try:
            with target.open("wb") as out:
                received = transfer.copy(
                    response,
                    out,
                    None if on_progress is None else lambda n: on_progress(n, total),
                )
            if received == 0 or (total is not None and received != total):
                raise InputError(f"download of {url} incomplete ({received} bytes)")
        except OSError as exc:
            target.unlink(missing_ok=True)
            raise InputError(f"cannot write the download of {url} ({exc})") from None
        except BaseException:
            target.unlink(missing_ok=True)  # a retry starts over; no need to keep a part
            raise
    return target

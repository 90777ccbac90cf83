"""The gate in front of every endpoint: headers read once, the API key checked and the body
limited, all before a byte of the body is read.

Authentication used to be a FastAPI dependency, which runs after FastAPI has read and parsed a
JSON body: an anonymous client could make the server hold a body as large as the limit, parsed
into Python objects several times its size, only to be told 401.  Here a request without a
valid key is answered at once; its body is never read (uvicorn discards what still arrives).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidscope.server.auth import LOCAL_OWNER, Authenticator
from vidscope.server.config import ServerConfig

PUBLIC_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
"""What anyone may read: liveness and the API's own description."""
DOCS_ASSETS = "/static-offline-docs/"
"""Swagger UI's and ReDoc's scripts and styles, served from the ``fastapi-offline`` wheel so the
docs pages work where no CDN can be reached; public like the pages that load them."""
LARGE_BODY_PATHS = frozenset({"/analyze", "/analyze_batch"})
"""Endpoints whose JSON carries base64 images or video, under ``max_body_mb``; every other JSON
body is small, under ``max_json_kb``."""
MAX_JSON_VALUES = 100_000
"""Most values (objects, arrays, list items) a JSON body may hold.  Python builds an object of
tens of bytes for each, so 36 MiB of ``{},`` became over 1 GB before any validation could
refuse it; a shot batch at its limits (64 shots of 10 images and their audio features) has a
few thousand.  Base64 carries no ``{``, ``[`` or ``,``, so large images cost nothing here."""
OWNER = "owner"
"""Where the gate leaves the caller's owner name: ``scope["state"]``, i.e. ``request.state``."""

_SINGLE = (b"content-type", b"content-length", b"authorization")
# Headers that decide how a request is read or who sent it: two copies could be read
# differently by two layers (one limit read the last Content-Type, the endpoint the first).
_KEY_PARAMS = frozenset({"api_key", "apikey", "access_token"})


_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _answer(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _redact_query(scope: Scope) -> bool:
    """Hide key-like query parameters from everything that reads the scope later, uvicorn's
    access log included (it logs this same scope's query string); return whether any were."""
    pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    if not any(name.lower() in _KEY_PARAMS for name, _ in pairs):
        return False
    scope["query_string"] = urlencode(
        [(n, "REDACTED" if n.lower() in _KEY_PARAMS else v) for n, v in pairs]
    ).encode("latin-1", "replace")
    return True


class Gate:
    """Pure ASGI middleware (no request object, no body read) in front of the whole app."""

    def __init__(self, app: ASGIApp, auth: Authenticator, config: ServerConfig) -> None:
        self.app = app
        self.auth = auth
        self.max_body = config.max_body_mb * 2**20
        self.max_json = config.max_json_kb * 2**10

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal, limit = self._check(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if limit is None:
            await self.app(scope, receive, send)
            return
        too_large = HTTPException(413, f"request body larger than {limit} bytes")
        too_many = HTTPException(413, f"request body holds more than {MAX_JSON_VALUES} values")
        received = values = 0

        async def limited() -> Message:
            nonlocal received, values
            message = await receive()
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                raise too_large  # raised inside the endpoint: FastAPI answers it as JSON
            # An upper bound on the values the parser will build, counted before it runs
            # (separators inside strings count too: a bound, not a parse).
            values += chunk.count(b"{") + chunk.count(b"[") + chunk.count(b",")
            if values > MAX_JSON_VALUES:
                raise too_many
            return message

        await self.app(scope, limited, send)

    def _check(self, scope: Scope) -> tuple[JSONResponse | None, int | None]:
        """A refusal, or none and the body limit (None: the endpoint limits it itself)."""
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:  # ASGI servers give names in lower case
            if name in headers and name in _SINGLE:
                return _answer(400, f"more than one {name.decode().title()} header"), None
            headers.setdefault(name, value)
        if _redact_query(scope):
            message = "send the API key in the Authorization header (Bearer), never in the URL"
            return _answer(400, message), None
        path = scope["path"]
        if path not in PUBLIC_PATHS and not path.startswith(DOCS_ASSETS):
            owner = self._owner(headers.get(b"authorization"))
            if isinstance(owner, JSONResponse):
                return owner, None
            scope.setdefault("state", {})[OWNER] = owner
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if path == "/v1/jobs" and ctype == b"multipart/form-data":
            return None, None  # an upload: streamed to disk under its own limit
        limit = self.max_body if path in LARGE_BODY_PATHS else self.max_json
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            return _answer(413, f"request body larger than {limit} bytes"), None
        return None, limit

    def _owner(self, header: bytes | None) -> str | JSONResponse:
        if not self.auth.enabled:
            return LOCAL_OWNER
        scheme, _, key = (header or b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return _answer(401, "missing API key: send Authorization: Bearer KEY", _CHALLENGE)
        owner = self.auth.owner(key.strip())
        if owner is None:
            return _answer(401, "invalid API key", _CHALLENGE)
        return owner

"""How a malformed request is answered: a 4xx whose reasons are one line each, and never the
request's own content.

FastAPI's default answer to a validation error repeats each offending ``input``: a 300 MiB
field came back whole in the 422, and an input JSON cannot encode (NaN, bytes that are not
UTF-8) turned the answer into a 500.  The reasons here keep the shape FastAPI documents in
the OpenAPI schema (``detail``: a list of ``loc``, ``msg``, ``type``) without the input.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

_MAX_LOC = 64
# A location names the client's own keys (an unexpected field, say), which can be any length.


def _loc(part: Any) -> str | int:
    if isinstance(part, int):
        return part
    text = str(part)
    return text if len(text) <= _MAX_LOC else text[:_MAX_LOC] + "…"


def _reason(error: dict[str, Any]) -> dict[str, Any]:
    msg = str(error.get("msg", "invalid"))
    ctx = error.get("ctx") or {}
    if error.get("type") == "json_invalid" and "error" in ctx:
        msg = f"{msg}: {ctx['error']}"  # the JSON parser's reason and position, not the text
    return {
        "loc": [_loc(p) for p in error.get("loc", ())],
        "msg": " ".join(msg.split()),
        "type": error.get("type", "value_error"),
    }


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": [_reason(e) for e in exc.errors()]}, status_code=422)


def install(app: FastAPI) -> None:
    """Answer validation errors (FastAPI's, and those endpoints raise) without their input."""
    app.add_exception_handler(RequestValidationError, _invalid)

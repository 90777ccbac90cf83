"""What every endpoint can ask for: the server's services, and the caller's identity."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from vidscope.config import Settings
from vidscope.server.auth import Authenticator
from vidscope.server.config import ServerConfig
from vidscope.server.jobs import WorkerPool
from vidscope.server.progress import ProgressBoard
from vidscope.server.store import JobStore

LOCAL_OWNER = "local"
"""Owner of every job on a loopback server started without keys."""


@dataclass
class Services:
    """One server's state, built at startup (``app.state.services``)."""

    config: ServerConfig
    settings: Settings
    store: JobStore
    board: ProgressBoard
    pool: WorkerPool
    auth: Authenticator
    closing: threading.Event = field(default_factory=threading.Event)


def get_services(request: Request) -> Services:
    return request.app.state.services


_bearer = HTTPBearer(auto_error=False, description="an API key from `vidscope keys add`")


def require_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The caller's owner name; 401 without a valid ``Authorization: Bearer KEY``."""
    auth = get_services(request).auth
    if not auth.enabled:
        return LOCAL_OWNER
    owner = auth.owner(credentials.credentials) if credentials is not None else None
    if owner is None:
        raise HTTPException(
            401,
            "missing API key" if credentials is None else "invalid API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return owner


Owner = Annotated[str, Depends(require_key)]
ServicesDep = Annotated[Services, Depends(get_services)]

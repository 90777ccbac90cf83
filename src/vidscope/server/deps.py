"""What every endpoint can ask for: the server's services, the caller's identity, and a job of
theirs."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from vidscope.config import Settings
from vidscope.server.auth import Authenticator
from vidscope.server.config import ServerConfig
from vidscope.server.jobs import WorkerPool
from vidscope.server.middleware import OWNER
from vidscope.server.progress import ProgressBoard
from vidscope.server.store import Job, JobStore

MAX_OFFSET = 2**31  # SQLite integers are 64-bit; no real listing gets near this
JobId = Annotated[uuid.UUID, PathParam(description="the id returned at submission")]


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


async def require_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The caller's owner name.  The :class:`~vidscope.server.middleware.Gate` checked the key
    before the request got this far (``credentials`` is here for the OpenAPI security scheme)."""
    return getattr(request.state, OWNER)


Owner = Annotated[str, Depends(require_key)]
ServicesDep = Annotated[Services, Depends(get_services)]


def owned_job(services: Services, job_id: uuid.UUID, owner: str) -> Job:
    """The job ``job_id`` of ``owner``; 404 for anyone else's, as for one that does not exist."""
    job = services.store.get(str(job_id), owner)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    return job

"""``/v1/jobs``: submit, watch, cancel and delete jobs (their results are read through
:mod:`vidscope.server.results_api`).

A key sees only its own jobs; anyone else's answer 404, exactly like a job that does not exist.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from vidscope.errors import InputError
from vidscope.server.deps import MAX_OFFSET, JobId, Owner, Services, ServicesDep, owned_job
from vidscope.server.examples import UPLOAD, URL_JOB
from vidscope.server.options import JobOptions, Name, parse_form_options, resolve_settings
from vidscope.server.store import Job, Status, new_job_id
from vidscope.server.uploads import UploadError, check_media, receive_upload


class JobRequest(BaseModel):
    """A URL job (uploads are ``multipart/form-data`` with a ``file`` part instead)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=4096, description="http(s) link to a media file")
    analyzers: list[Name] | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="analyzers to run (default: the server's)",
    )
    options: JobOptions = Field(default_factory=JobOptions)


class Accepted(BaseModel):
    id: str
    status: Status


class AnalyzerProgress(BaseModel):
    done: float = Field(description="media seconds analysed")
    total: float = Field(description="media seconds in all")
    status: str


class JobView(BaseModel):
    """A job as its owner sees it."""

    id: str
    status: Status
    source_kind: Literal["upload", "url"]
    source: str
    analyzers: list[str] | None
    created: str
    started: str | None
    finished: str | None
    attempts: int
    phase: str | None = Field(description="downloading, analyzing ... while running")
    progress: dict[str, AnalyzerProgress]
    download: dict[str, int | None] | None = None
    error: str | None


class JobList(BaseModel):
    jobs: list[JobView]
    next_offset: int | None


def _iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _view(job: Job, live: dict[str, Any] | None) -> JobView:
    state = live if live is not None else (job.progress or {})
    return JobView(
        id=job.id,
        status=job.status,
        source_kind=job.source_kind,
        source=job.source,
        analyzers=job.settings.get("analyzers"),
        created=_iso(job.created) or "",
        started=_iso(job.started),
        finished=_iso(job.finished),
        attempts=job.attempts,
        phase=state.get("phase") if job.status == "running" else None,
        progress={
            name: AnalyzerProgress(
                done=p.get("done", 0.0), total=p.get("total", 0.0), status=p.get("status", "")
            )
            for name, p in state.get("analyzers", {}).items()
        },
        download=state.get("download"),
        error=job.error,
    )


def _queue_full(services: Services) -> HTTPException:
    limit = services.config.max_queued_per_key
    return HTTPException(429, f"too many queued jobs: at most {limit} per key; wait for some")


def _check_queue(services: Services, owner: str) -> None:
    """Refuse early, before an upload streams in (the insert checks again, atomically)."""
    if services.store.queued_count(owner) >= services.config.max_queued_per_key:
        raise _queue_full(services)


def _enqueue(services: Services, job: Job) -> JSONResponse:
    if not services.store.add(job, services.config.max_queued_per_key):
        shutil.rmtree(services.config.jobs_dir / job.id, ignore_errors=True)
        raise _queue_full(services)
    services.pool.notify()
    return JSONResponse(Accepted(id=job.id, status="queued").model_dump(), status_code=202)


def _new_job(
    owner: str,
    job_id: str,
    kind: Literal["upload", "url"],
    source: str,
    input_: str,
    settings: dict,
) -> Job:
    return Job(
        id=job_id,
        owner=owner,
        status="queued",
        source_kind=kind,
        source=source,
        input=input_,
        result_dir=f"jobs/{job_id}/result",
        settings=settings,
        created=time.time(),
    )


async def _submit_upload(request: Request, services: Services, owner: str) -> JSONResponse:
    config = services.config
    max_bytes = config.max_upload_mb * 2**20
    length = request.headers.get("content-length", "")
    # Early answer for honest clients; the limit itself is enforced on the bytes that arrive.
    if length.isdigit() and int(length) > max_bytes + 2**20:
        raise HTTPException(413, f"upload larger than the limit of {config.max_upload_mb} MiB")
    job_id = new_job_id()
    job_dir = config.jobs_dir / job_id
    job_dir.mkdir(parents=True)
    try:
        upload = await receive_upload(request, job_dir / "input", max_bytes)
        assert upload.path is not None
        analyzers, options = parse_form_options(upload.fields)
        settings = await run_in_threadpool(resolve_settings, services, analyzers, options)
        await check_media(upload, config.relative)
        input_ = str(upload.path.relative_to(config.data_dir))
        job = _new_job(owner, job_id, "upload", upload.filename or "upload", input_, settings)
        return await run_in_threadpool(_enqueue, services, job)
    except UploadError as exc:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise HTTPException(exc.status, str(exc)) from None
    except BaseException:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise


def _submit_url(services: Services, owner: str, body: JobRequest) -> JSONResponse:
    try:
        services.pool.policy.check_url(body.url)
    except InputError as exc:
        raise HTTPException(422, f"url rejected: {exc}") from None
    settings = resolve_settings(services, body.analyzers, body.options)
    job_id = new_job_id()
    (services.config.jobs_dir / job_id).mkdir(parents=True)
    job = _new_job(owner, job_id, "url", body.url, f"jobs/{job_id}/input", settings)
    return _enqueue(services, job)


_SUBMIT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"$ref": "#/components/schemas/JobRequest"},
            "examples": URL_JOB,
        },
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "analyzers": {"type": "string", "description": "comma-separated names"},
                    "options": {"type": "string", "description": "JobOptions as JSON"},
                },
            },
            "examples": UPLOAD,
        },
    },
}


def jobs_router() -> APIRouter:
    """The ``/v1/jobs`` endpoints (authentication comes with the ``Owner`` dependency)."""
    router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

    @router.post(
        "",
        status_code=202,
        response_model=Accepted,
        openapi_extra={"requestBody": _SUBMIT_BODY},
        responses={413: {}, 415: {}, 422: {}, 429: {}},
    )
    async def submit(request: Request, services: ServicesDep, owner: Owner) -> JSONResponse:
        """Queue a job: upload a file (``multipart/form-data``, field ``file``, optional
        ``analyzers`` and ``options``) or give a URL (JSON ``{"url": ...}``)."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ("multipart/form-data", "application/json"):
            raise HTTPException(
                415, "send multipart/form-data (a file upload) or application/json (a URL job)"
            )
        await run_in_threadpool(_check_queue, services, owner)
        if ctype == "multipart/form-data":
            return await _submit_upload(request, services, owner)
        try:
            body = JobRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from None
        return await run_in_threadpool(_submit_url, services, owner, body)

    @router.get("", response_model=JobList)
    def list_jobs(
        services: ServicesDep,
        owner: Owner,
        status: Annotated[Status | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> JobList:
        """The caller's jobs, newest first."""
        jobs = services.store.list(owner, status=status, limit=limit + 1, offset=offset)
        views = [_view(j, services.board.snapshot(j.id)) for j in jobs[:limit]]
        return JobList(jobs=views, next_offset=offset + limit if len(jobs) > limit else None)

    @router.get("/{job_id}", response_model=JobView)
    def get_job(job_id: JobId, services: ServicesDep, owner: Owner) -> JobView:
        """Status, per-analyzer progress and error of a job."""
        job = owned_job(services, job_id, owner)
        return _view(job, services.board.snapshot(job.id))

    @router.get(
        "/{job_id}/events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def job_events(
        job_id: JobId, request: Request, services: ServicesDep, owner: Owner
    ) -> StreamingResponse:
        """Server-sent events: ``status`` (the job, whenever it changes) until the job ends,
        then ``end``."""
        await run_in_threadpool(owned_job, services, job_id, owner)

        async def stream() -> AsyncIterator[bytes]:
            last = b""
            quiet_since = time.monotonic()
            while not services.closing.is_set():
                job = await run_in_threadpool(services.store.get, str(job_id), owner)
                if job is None:  # deleted meanwhile
                    yield b'event: end\ndata: {"status":"deleted"}\n\n'
                    return
                data = _view(job, services.board.snapshot(job.id)).model_dump_json().encode()
                if data != last:
                    last, quiet_since = data, time.monotonic()
                    yield b"event: status\ndata: " + data + b"\n\n"
                elif time.monotonic() - quiet_since > 15:
                    quiet_since = time.monotonic()
                    yield b": keep-alive\n\n"  # through proxies that drop idle connections
                if job.done:
                    yield b"event: end\ndata: " + orjson.dumps({"status": job.status}) + b"\n\n"
                    return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.25)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.post("/{job_id}/cancel", response_model=JobView, responses={409: {}})
    def cancel_job(job_id: JobId, services: ServicesDep, owner: Owner) -> JobView:
        """Cancel a queued job, or stop a running one (it ends as ``cancelled``)."""
        job = owned_job(services, job_id, owner)
        if job.status in ("succeeded", "failed"):
            raise HTTPException(409, f"job already {job.status}")
        job = services.store.request_cancel(job.id) or job
        if job.status == "running":
            services.pool.cancel(job.id)
        return _view(job, services.board.snapshot(job.id))

    @router.delete("/{job_id}", status_code=204)
    def delete_job(job_id: JobId, services: ServicesDep, owner: Owner) -> Response:
        """Delete a job and its files (a running job is stopped first)."""
        job = owned_job(services, job_id, owner)
        status = services.store.mark_deleted(job.id)
        if status == "running":
            services.pool.cancel(job.id)  # its worker removes the files when it stops
        elif status is not None:
            shutil.rmtree(services.config.jobs_dir / job.id, ignore_errors=True)
        return Response(status_code=204)

    return router


def openapi_components() -> dict[str, Any]:
    """Schemas that the multi-content submit body refers to (FastAPI adds only the models it
    parses itself)."""
    schema = JobRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {"JobRequest": schema, **defs}

"""The FastAPI application: opens the data directory, wires the endpoints, runs the workers."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import PlainTextResponse
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from vidscope._version import __version__
from vidscope.analyzers.settings import load_settings
from vidscope.server import handlers
from vidscope.server.auth import KEYS_ENV, Authenticator, KeyFile
from vidscope.server.config import ServerConfig
from vidscope.server.deps import Owner, Services, ServicesDep, require_key
from vidscope.server.health import Health, health, metrics_text
from vidscope.server.jobs import EngineFactory, WorkerPool, make_engine
from vidscope.server.jobs_api import jobs_router, openapi_components
from vidscope.server.middleware import DOCS_ASSETS, Gate
from vidscope.server.progress import ProgressBoard
from vidscope.server.results_api import results_router
from vidscope.server.search_api import search_router
from vidscope.server.shots import ShotBackend, shot_router
from vidscope.server.store import JobStore, lock_data_dir

log = logging.getLogger("vidscope.server")


def create_app(
    config: ServerConfig,
    *,
    engine_factory: EngineFactory = make_engine,
    shot_backend: ShotBackend | None = None,
) -> FastAPI:
    """Take the data directory (one server per directory), recover its jobs, build the app.

    Workers start and stop with the app (its lifespan); jobs interrupted by a stop are queued
    again and resume from their finished tracks on the next start.
    """
    settings = load_settings(config.config_file, config.overrides).settings
    owned_backend = None
    if shot_backend is None and (settings.vlm.get("model") or settings.vlm.get("endpoint")):
        from vidscope.server.shots_vlm import VlmShotBackend

        # Loaded (or the endpoint probed) once at start-up, so a missing model stops the
        # server with its reason instead of failing every request.
        shot_backend = owned_backend = VlmShotBackend.from_settings(settings.vlm, settings.device)
    lock = lock_data_dir(config.data_dir)
    config.jobs_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(config.db_path)
    recovery = store.recover(config.max_attempts)
    _sweep(config.jobs_dir, recovery.ids)
    if recovery.requeued:
        log.info("re-queued %d interrupted job(s)", recovery.requeued)
    for job_id in recovery.failed:
        log.warning("job %s: interrupted too often; failed, not re-queued", job_id)
    board = ProgressBoard()
    services = Services(
        config=config,
        settings=settings,
        store=store,
        board=board,
        pool=WorkerPool(
            config, store, board, engine_factory=engine_factory, download=settings.download
        ),
        auth=Authenticator(KeyFile(config.keys_path), os.environ.get(KEYS_ENV)),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.pool.start()
        try:
            yield
        finally:
            services.closing.set()
            await run_in_threadpool(services.pool.stop)
            if owned_backend is not None:
                owned_backend.close()
            store.close()
            lock.close()

    # FastAPI's own /docs and /redoc load Swagger UI and ReDoc from a CDN: blank pages on an
    # air-gapped server.  fastapi-offline serves the same pages with the assets of its wheel.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS.rstrip("/"),
        title="vidscope",
        version=__version__,
        summary="Video analysis jobs, their progress and results; shot analysis for trailers.",
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.shot_backend = shot_backend
    app.add_middleware(Gate, auth=services.auth, config=config)
    handlers.install(app)
    app.include_router(jobs_router())
    app.include_router(results_router())
    app.include_router(search_router())
    app.include_router(shot_router(require_key))

    @app.get("/health", response_model=Health, tags=["service"])
    def get_health(services: ServicesDep) -> Health:
        """Liveness and hardware (no authentication)."""
        backend = app.state.shot_backend
        return health(
            services.settings.device,
            None if backend is None else backend.model,
            services.config.workers,
        )

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        tags=["service"],
        responses={200: {"content": {"text/plain": {}}}},
    )
    def metrics(services: ServicesDep, owner: Owner) -> PlainTextResponse:
        """Prometheus metrics of the caller's own jobs: by state, and how many are queued.
        (Server-wide figures are the operator's: ``vidscope metrics`` on the server.)"""
        text = metrics_text(services.store.counts(owner))
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app


def _sweep(jobs_dir: Path, known: set[str]) -> None:
    """Remove what a crash left in ``jobs/`` without a job: an upload cut off before its job
    was stored, a job deleted while running."""
    for entry in jobs_dir.iterdir():
        if entry.name not in known:
            log.info("removing %s: no such job", entry.name)
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                openapi_components()
            )
            app.openapi_schema = schema
        return app.openapi_schema

    return build

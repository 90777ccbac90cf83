"""``GET /v1/search``: moments across the caller's own finished jobs.

The index (``search.index``, else ``search.sqlite3`` in the data directory: the operator's
choice) keeps each job's rows under its owner, and every lookup is limited to the caller's:
another key's jobs never appear, not even in a count.  It follows the store: before a
lookup, the caller's jobs that succeeded since are added and deleted ones dropped, so a job
is searchable from its first search after it ends.
"""

from __future__ import annotations

import logging
import threading
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from vidscope.errors import UsageError, VidscopeError
from vidscope.search import SearchIndex, parse_query, search
from vidscope.search.index import INDEX_FILE
from vidscope.search.lookup import Hit
from vidscope.server.deps import Owner, Services, ServicesDep
from vidscope.server.examples import SEARCH_QUERY

log = logging.getLogger("vidscope.server")
MAX_OFFSET = 10_000
PREFIX = "job:"
_syncing = threading.Lock()
SOURCE_TRACKS = {"people": "pose", "chapters": "summary"}
"""The bundle track a search track is read from, where their names differ (a model's label
kept: ``chapters@LABEL`` is read from ``summary@LABEL``)."""


class SearchHit(BaseModel):
    """One moment of one of the caller's jobs."""

    job: str
    start: float
    end: float
    track: str
    text: str
    score: float
    shot: int | None
    snippet: str
    """The text with the matched words in ``[...]``."""
    records: str
    """The records of the hit's track around it."""


class SearchPage(BaseModel):
    """Hits, best first; ``next_offset`` when more follow."""

    hits: list[SearchHit]
    next_offset: int | None


def _sync(ix: SearchIndex, services: Services, owner: str) -> None:
    """Add the owner's jobs that succeeded since the last search, drop those deleted."""
    jobs = services.store.list(owner, status="succeeded", limit=2**31, offset=0)
    live = {PREFIX + job.id: job for job in jobs}
    known = ix.keys(owner)
    ix.remove(known - live.keys())
    for key in sorted(live.keys() - known):
        try:
            ix.add(services.config.data_dir / live[key].result_dir, key, owner)
        except VidscopeError as exc:
            log.warning("job %s: not searchable: %s", key[len(PREFIX) :], exc)


def _hit(hit: Hit) -> SearchHit:
    job = hit.bundle[len(PREFIX) :]
    base, at, label = hit.track.split("+")[0].partition("@")
    track = SOURCE_TRACKS.get(base, base) + at + label
    records = f"/v1/jobs/{job}/tracks/{track}?start={hit.start}&end={hit.end}"
    return SearchHit(
        job=job, records=records, **{k: v for k, v in hit.as_dict().items() if k != "bundle"}
    )


def search_router() -> APIRouter:
    """``/v1/search`` (authentication comes with ``Owner``)."""
    router = APIRouter(prefix="/v1", tags=["search"])

    @router.get("/search", responses={422: {}, 503: {}})
    def find(
        services: ServicesDep,
        owner: Owner,
        q: Annotated[
            str,
            Query(
                min_length=1,
                max_length=1000,
                description="the query",
                openapi_examples=SEARCH_QUERY,
            ),
        ],
        within: Annotated[
            float | None,
            Query(ge=0, le=3600, allow_inf_nan=False, description="A AND B: seconds apart"),
        ] = None,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> SearchPage:
        """Moments of the caller's finished jobs: words, ``"phrases"``, ``track:term``,
        ``A AND B`` (same shot, or ``within`` seconds), as ``vidscope search`` reads them."""
        try:
            query = parse_query(q)
        except UsageError as exc:
            raise HTTPException(422, str(exc)) from None
        path = services.settings.search.index or services.config.data_dir / INDEX_FILE
        try:
            ix = SearchIndex(path)
        except UsageError as exc:
            # The index's path is the operator's business, not the client's.
            log.error("search index: %s", exc)
            raise HTTPException(503, "the search index is unavailable") from None
        with ix:
            with _syncing:
                _sync(ix, services, owner)
            try:
                page = search(ix.db, query, within=within, limit=limit, offset=offset, owner=owner)
            except UsageError as exc:
                raise HTTPException(422, str(exc)) from None
        return SearchPage(
            hits=[_hit(h) for h in page.hits],
            next_offset=offset + limit if page.more else None,
        )

    return router

"""``/v1/jobs/{id}/result``, ``/tracks/{name}``, ``/export/{fmt}`` and ``/report``: a
finished job's manifest, its records, their exports and its HTML report.

A key sees only its own jobs; anyone else's answer 404, exactly like a job that does not exist.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi import Path as PathParam

from vidscope.errors import InputError, UsageError
from vidscope.report import build_page
from vidscope.server.deps import MAX_OFFSET, JobId, Owner, Services, ServicesDep, owned_job
from vidscope.server.examples import EXPORT_FORMAT, EXPORT_TRACK, TRACK_END, TRACK_START
from vidscope.server.store import Job
from vidscope.timeline.bundle import read_manifest
from vidscope.timeline.exports import prepare
from vidscope.timeline.result import Result, overlaps, track_file, track_lines

_EXPORT_TYPES = {
    "srt": "application/x-subrip",
    "vtt": "text/vtt; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    "json": "application/json",
    "otio": "application/json",
    "edl": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "png": "image/png",
    "jpg": "image/jpeg",
}


def _finished_manifest(services: Services, job: Job) -> dict[str, Any]:
    if not job.done:
        raise HTTPException(409, f"job is {job.status}; its result comes when it ends")
    manifest = read_manifest(services.config.data_dir / job.result_dir)
    if manifest is None:
        raise HTTPException(404, f"job {job.status} before writing a result: {job.error}")
    return manifest


def _track_lines(
    path: Path, start: float, end: float, offset: int, limit: int
) -> tuple[list[bytes], bool]:
    """Lines of a track file overlapping [start, end): ``limit`` of them after skipping
    ``offset``, and whether more follow."""
    lines: list[bytes] = []
    seen = 0
    for line, record in track_lines(path):
        if not overlaps(record, start, end):
            continue
        seen += 1
        if seen <= offset:
            continue
        if len(lines) == limit:
            return lines, True
        lines.append(line if line.endswith(b"\n") else line + b"\n")
    return lines, False


def results_router() -> APIRouter:
    """The result endpoints under ``/v1/jobs`` (authentication comes with ``Owner``)."""
    router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

    @router.get("/{job_id}/result", responses={409: {}})
    def result(job_id: JobId, services: ServicesDep, owner: Owner) -> dict[str, Any]:
        """The result bundle's manifest (media, tracks, run report)."""
        job = owned_job(services, job_id, owner)
        manifest = _finished_manifest(services, job)
        # The server's own paths are none of the client's business; the job's source is.
        manifest["source"] = {"kind": job.source_kind, "input": job.source}
        manifest.get("media", {}).pop("path", None)
        return manifest

    @router.get(
        "/{job_id}/tracks/{name}",
        response_class=Response,
        responses={200: {"content": {"application/x-ndjson": {}}}, 409: {}},
    )
    def track(
        job_id: JobId,
        name: Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")],
        services: ServicesDep,
        owner: Owner,
        start: Annotated[
            float | None, Query(allow_inf_nan=False, openapi_examples=TRACK_START)
        ] = None,
        end: Annotated[float | None, Query(allow_inf_nan=False, openapi_examples=TRACK_END)] = None,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    ) -> Response:
        """Records of one track overlapping ``[start, end)`` seconds, as JSON lines.

        Paginated: at most ``limit`` records after ``offset``; when more follow, the
        ``X-Next-Offset`` header gives the offset of the next page."""
        job = owned_job(services, job_id, owner)
        manifest = _finished_manifest(services, job)
        entry = manifest.get("tracks", {}).get(name)
        if entry is None or entry.get("status") != "complete":
            tracks = [
                n for n, t in manifest.get("tracks", {}).items() if t.get("status") == "complete"
            ]
            raise HTTPException(404, f"no finished track {name!r} (tracks: {', '.join(tracks)})")
        lo = float("-inf") if start is None else start
        hi = float("inf") if end is None else end
        if hi < lo:
            raise HTTPException(422, "end is before start")
        try:
            path = track_file(services.config.data_dir / job.result_dir, entry)
            lines, more = _track_lines(path, lo, hi, offset, limit)
        except InputError:
            # The message names the server's own paths, which are none of the client's business.
            raise HTTPException(404, f"track {name!r} is outside its bundle or corrupt") from None
        headers = {"X-Next-Offset": str(offset + limit)} if more else {}
        return Response(b"".join(lines), media_type="application/x-ndjson", headers=headers)

    @router.get(
        "/{job_id}/export/{fmt}",
        response_class=Response,
        responses={200: {"content": {t: {} for t in _EXPORT_TYPES.values()}}, 409: {}},
    )
    def export_track(
        job_id: JobId,
        fmt: Annotated[
            str,
            PathParam(
                pattern=r"^[a-z0-9]{1,10}$",
                description="srt, vtt, txt, json, otio, edl, csv, parquet, png or jpg",
                openapi_examples=EXPORT_FORMAT,
            ),
        ],
        services: ServicesDep,
        owner: Owner,
        track: Annotated[
            str | None,
            Query(pattern=r"^[A-Za-z0-9_.@-]{1,64}$", openapi_examples=EXPORT_TRACK),
        ] = None,
    ) -> Response:
        """A track in an export format: subtitles, text or JSON (default track: the
        transcript), an OpenTimelineIO timeline, an EDL, a CSV or Parquet table, or a contact
        sheet (default track: the shots); 404 says why a format or track cannot be exported."""
        job = owned_job(services, job_id, owner)
        _finished_manifest(services, job)
        out = io.BytesIO()
        bundle = Result(services.config.data_dir / job.result_dir)
        try:
            request = prepare(bundle, track, fmt)
            request.write(out)
        except UsageError as exc:
            # Some messages name the bundle's directory, which is the server's business.
            raise HTTPException(404, str(exc).replace(f"{bundle.path}: ", "")) from None
        name = request.format.name
        return Response(
            out.getvalue(),
            media_type=_EXPORT_TYPES[name],
            headers={
                "Content-Disposition": f'attachment; filename="{job.id}.{request.track}.{name}"'
            },
        )

    @router.get(
        "/{job_id}/report",
        response_class=Response,
        responses={200: {"content": {"text/html": {}}}, 409: {}},
    )
    def report(job_id: JobId, services: ServicesDep, owner: Owner) -> Response:
        """The job's HTML report, as ``vidscope report --no-video`` writes it: one
        self-contained page with a keyframe per shot, the timeline of every track, search
        and the run report."""
        job = owned_job(services, job_id, owner)
        _finished_manifest(services, job)
        bundle = Result(services.config.data_dir / job.result_dir)
        page, _ = build_page(bundle, bundle.path, video=False, source=job.source)
        # A decoder's message in the page may name the kept input; clients see no server path.
        text = services.config.relative(page.decode("utf-8"))
        return Response(
            text,
            media_type="text/html; charset=utf-8",
            headers={"Content-Disposition": f'inline; filename="{job.id}.html"'},
        )

    return router

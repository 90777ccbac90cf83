"""The shot-analysis endpoints the trailer tools call: ``POST /analyze`` and ``/analyze_batch``.

The request and response shapes are those of the service the trailer tools were written
against (keyframes as base64 images, or a base64 video, plus audio features and timing, in;
a caption and six 0–1 attributes out), so they can point at vidscope unchanged.  The work is
done by a :class:`ShotBackend`, a vision-language model; without one configured these
endpoints answer 503.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from vidscope.models.vlm.prompts import ShotAttributes
from vidscope.server.examples import BATCH, SHOT

MAX_IMAGES = 10
MAX_BATCH = 64

NO_BACKEND = (
    "shot analysis needs a vision-language model and none is configured on this server: "
    "start it with --vlm-model PATH_OR_ID (a local Hugging Face folder, or a hub id where "
    "downloads work) or --vlm-endpoint URL --vlm-model NAME (an OpenAI-compatible server: "
    "vLLM, SGLang, Ollama, llama.cpp), or set vlm.model / vlm.endpoint in the settings"
)


def decode(value: str) -> bytes:
    """The bytes of a base64 field: bare base64 or a ``data:`` URL, both of which browsers and
    tools produce.  Raises ValueError for anything else."""
    payload = value.partition(",")[2] if value.startswith("data:") else value
    try:
        data = base64.b64decode(payload, validate=True)
    except binascii.Error:
        data = b""
    if not data:
        raise ValueError("not valid base64 data")
    return data


def _base64(value: str) -> str:
    decode(value)
    return value


Base64 = Annotated[str, AfterValidator(_base64), Field(min_length=4, max_length=32 * 2**20)]


def _finite(value: Any) -> Any:
    """Refuse NaN and infinities anywhere in ``value``: JSON has no such numbers, though
    Python's parser reads them, and a backend would pass one on into its prompt."""
    todo = [value]  # a loop, not recursion: the nesting is the client's to choose
    while todo:
        item = todo.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError("NaN and infinities are not JSON numbers")
        if isinstance(item, dict):
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return value


class ShotRequest(BaseModel):
    """One shot: its keyframes (or a clip), audio features and where it is in the video."""

    model_config = ConfigDict(allow_inf_nan=False)

    shot_id: int = Field(description="shot identifier, echoed in batch results")
    images: list[Base64] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_IMAGES,
        description="keyframes, base64 (or data URLs); give these or `video`",
    )
    video: Base64 | None = Field(default=None, description="the shot as a base64 video file")
    audio_features: Annotated[dict[str, Any], AfterValidator(_finite)] | None = Field(
        default=None, description="audio features of the shot (loudness, tempo, ...)"
    )
    start_time: float = Field(ge=0, description="shot start, seconds")
    end_time: float = Field(ge=0, description="shot end, seconds")
    duration: float = Field(ge=0, description="shot duration, seconds")

    @model_validator(mode="after")
    def _one_source(self) -> ShotRequest:
        if (self.images is None) == (self.video is None):
            raise ValueError("give either 'images' (keyframes) or 'video', not both or neither")
        if self.end_time < self.start_time:
            raise ValueError("end_time is before start_time")
        return self


class BatchRequest(BaseModel):
    shots: list[ShotRequest] = Field(min_length=1, max_length=MAX_BATCH)


class Attributes(ShotAttributes):
    """How the shot feels, each from 0 to 1."""


class ShotAnalysis(BaseModel):
    caption: str
    attributes: Attributes


class BatchItem(ShotAnalysis):
    shot_id: int


class BatchResponse(BaseModel):
    results: list[BatchItem]


class ShotBackend(Protocol):
    """A vision-language model that captions and scores shots (the VLM backend plugs in here).

    ``analyze`` gets a whole batch so that a backend can batch on its device; it blocks, and
    runs on a worker thread.  It returns one analysis per shot, in order, and raises
    ValueError for a shot whose images or video it cannot read (the client's error: 422);
    anything else it raises is the backend's failure (502)."""

    model: str
    """The model's name, reported by ``/health``."""

    def analyze(self, shots: Sequence[ShotRequest]) -> list[ShotAnalysis]: ...


def _backend(request: Request) -> ShotBackend:
    backend: ShotBackend | None = request.app.state.shot_backend
    if backend is None:
        raise HTTPException(503, NO_BACKEND)
    return backend


async def _run(backend: ShotBackend, shots: Sequence[ShotRequest]) -> list[ShotAnalysis]:
    try:
        results = await run_in_threadpool(backend.analyze, shots)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    except Exception as exc:
        raise HTTPException(502, f"VLM backend failed: {type(exc).__name__}: {exc}") from None
    if len(results) != len(shots):
        raise HTTPException(502, f"VLM backend returned {len(results)} results for {len(shots)}")
    return results


def shot_router(auth: Any) -> APIRouter:
    """The two endpoints, guarded by the ``auth`` dependency."""
    router = APIRouter(tags=["shots"], dependencies=[Depends(auth)])

    @router.post("/analyze", response_model=ShotAnalysis)
    async def analyze(
        body: Annotated[ShotRequest, Body(openapi_examples=SHOT)], request: Request
    ) -> ShotAnalysis:
        """Caption and score one shot."""
        return (await _run(_backend(request), [body]))[0]

    @router.post("/analyze_batch", response_model=BatchResponse)
    async def analyze_batch(
        body: Annotated[BatchRequest, Body(openapi_examples=BATCH)], request: Request
    ) -> BatchResponse:
        """Caption and score several shots; results in request order, with their ``shot_id``."""
        results = await _run(_backend(request), body.shots)
        return BatchResponse(
            results=[
                BatchItem(shot_id=shot.shot_id, **result.model_dump())
                for shot, result in zip(body.shots, results, strict=True)
            ]
        )

    return router

"""The server's shot backend (``POST /analyze``, ``/analyze_batch``) on a vision-language model.

Each shot's keyframes (or the frames picked evenly from its clip) are asked with the same
prompt and strict schema as the ``shot_captions`` analyzer, the whole request as one batch.
A shot whose answer does not fit even after the repair turn fails the request with the
reason (the server answers 502): the API has no way to return a shot without attributes, and
inventing them is not an option.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from vidscope.errors import ModelError
from vidscope.models.vlm.base import BackendParams, VlmBackend, VlmRequest
from vidscope.models.vlm.factory import acquire, release
from vidscope.models.vlm.images import side_by_side
from vidscope.models.vlm.prompts import ShotAnswer, shot_prompt
from vidscope.models.vlm.structured import ask
from vidscope.server.shots import Attributes, ShotAnalysis, ShotRequest, decode


class ShotAnswerError(ModelError):
    """The model gave no usable answer for some shots."""


def image_frames(images: Sequence[str]) -> list[np.ndarray]:
    """Base64 keyframes as RGB arrays; ValueError for data that is not an image."""
    from PIL import Image, UnidentifiedImageError

    out = []
    for i, value in enumerate(images):
        try:
            with Image.open(io.BytesIO(decode(value))) as image:
                out.append(np.asarray(image.convert("RGB")))
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"image {i} is not a readable image: {exc}") from None
    return out


def video_frames(value: str, count: int, width: int = 448) -> list[np.ndarray]:
    """``count`` frames evenly spaced over a base64 video clip, ``width`` pixels wide at most.

    A first pass reads only the frame times, a second converts the chosen frames, so a long
    clip never sits in memory decoded."""
    import av

    data = decode(value)
    try:
        with av.open(io.BytesIO(data), "r") as container:
            times = [f.time for f in container.decode(video=0) if f.time is not None]
        if not times:
            raise ValueError("the video has no frames")
        lo, hi = times[0], times[-1]
        targets = [lo + (j + 0.5) * (hi - lo) / count for j in range(count)]
        wanted = sorted({min(range(len(times)), key=lambda i: abs(times[i] - t)) for t in targets})
        frames = []
        with av.open(io.BytesIO(data), "r") as container:
            for i, frame in enumerate(container.decode(video=0)):
                if frame.time is None or i not in wanted:
                    continue
                w = min(width, frame.width)
                h = max(2, round(frame.height * w / frame.width / 2) * 2)
                frames.append(frame.to_ndarray(format="rgb24", width=w, height=h))
        return frames
    except av.error.FFmpegError as exc:
        raise ValueError(f"the video cannot be decoded: {exc}") from None


class VlmShotBackend:
    """A :class:`~vidscope.server.shots.ShotBackend` asking a vision-language model."""

    def __init__(
        self,
        params: BackendParams,
        device: str = "cpu",
        *,
        frames: int = 5,
        max_new_tokens: int = 256,
    ) -> None:
        self.params = params
        self.frames = frames
        self.max_new_tokens = max_new_tokens
        self._config = params.backend_config(device)
        self.backend: VlmBackend = acquire(self._config)
        self.model = self.backend.name

    @classmethod
    def from_settings(cls, vlm: dict[str, Any], device: str) -> VlmShotBackend | None:
        """The backend the ``vlm`` settings section describes; None when it names no model or
        endpoint.  ``max_new_tokens`` is honoured; other analyzer-only keys are ignored."""
        params = BackendParams.model_validate(
            {k: v for k, v in vlm.items() if k in BackendParams.model_fields}
        )
        if params.backend_config(device).kind is None:
            return None
        return cls(params, device, max_new_tokens=int(vlm.get("max_new_tokens", 256)))

    def request(self, shot: ShotRequest) -> VlmRequest:
        """The prompt for one shot: its keyframes (evenly thinned to ``frames``) or frames of
        its clip, side by side when the model takes fewer images."""
        if shot.images is not None:
            images = image_frames(shot.images)
            if len(images) > self.frames:
                step = len(images) / self.frames
                images = [images[int((j + 0.5) * step)] for j in range(self.frames)]
        else:
            assert shot.video is not None
            images = video_frames(shot.video, self.frames)
        count = len(images)
        stitched = count > self.params.max_images
        if stitched:
            images = [side_by_side(images)]
        duration = shot.duration or (shot.end_time - shot.start_time)
        return VlmRequest.ask(shot_prompt(count, stitched, duration), images)

    def analyze(self, shots: Sequence[ShotRequest]) -> list[ShotAnalysis]:
        answers = ask(
            self.backend,
            [self.request(s) for s in shots],
            ShotAnswer,
            max_new_tokens=self.max_new_tokens,
            batch_size=self.params.batch_size,
        )
        failures = [
            f"shot {s.shot_id}: {a.error}"
            for s, a in zip(shots, answers, strict=True)
            if not a.value
        ]
        if failures:
            raise ShotAnswerError("; ".join(failures))
        return [
            ShotAnalysis(caption=a.value.caption, attributes=Attributes(**a.value.attributes()))
            for a in answers
            if a.value is not None
        ]

    def close(self) -> None:
        """Release the shared model (call when the server stops)."""
        release(self._config)

"""What the vision-language analyzers share: the backend parameters (one ``vlm`` settings
section for all of them), availability, the shared backend, and side tracks read as context.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

from vidscope.analyzers.base import (
    Analyzer,
    Availability,
    ModelInfo,
    Params,
    Record,
    Resources,
    TrackRecord,
)
from vidscope.errors import ModelError
from vidscope.models.vlm.base import (
    HOW_TO_CONFIGURE,
    NOT_CONFIGURED,
    BackendConfig,
    BackendParams,
    VlmBackend,
)
from vidscope.models.vlm.factory import acquire, release


class VlmParams(BackendParams, Params):
    """Backend parameters; each analyzer adds its own."""


VP = TypeVar("VP", bound=VlmParams)


class VlmAnalyzer(Analyzer[VP]):
    """Base of the analyzers that ask a vision-language model."""

    extra = "vlm"
    settings_section = "vlm"
    dependencies = ("PIL",)
    resources = Resources(gpus=1.0, batch_size=16)
    concurrent_inputs = True
    Params: ClassVar[type[VlmParams]] = VlmParams

    def __init__(self, params: VP | None = None, *, device: str = "cpu") -> None:
        super().__init__(params, device=device)
        self.backend: VlmBackend | None = None

    @property
    def backend_config(self) -> BackendConfig:
        p = self.params
        return p.backend_config(self.device)

    def configured(self) -> Availability:
        config = self.backend_config
        if config.kind is None:
            return Availability(False, NOT_CONFIGURED, HOW_TO_CONFIGURE)
        needed = ("httpx",) if config.kind == "openai" else ("torch", "transformers")
        missing = [m for m in needed if importlib.util.find_spec(m) is None]
        if missing:
            return Availability(
                False,
                f"missing Python package(s): {', '.join(missing)}",
                "pip install 'vidscope[vlm]'",
            )
        try:
            if config.kind == "transformers":
                from vidscope.models.vlm.hf import model_source

                model_source(config)
            else:
                from vidscope.models.vlm.openai import base_url

                base_url(config.endpoint or "")
        except ModelError as exc:
            return Availability(False, str(exc), HOW_TO_CONFIGURE, model=True)
        return Availability(True)

    def model_info(self) -> ModelInfo | None:
        c = self.backend_config
        if c.kind == "openai":
            from vidscope.models.vlm.openai import base_url

            where = base_url(c.endpoint or "")  # checked by configured()
            return ModelInfo(
                id=c.model or "served model", extra={"backend": "openai", "endpoint": where}
            )
        extra: dict[str, Any] = {
            "backend": "transformers",
            "dtype": c.dtype,
            "device": c.device,
            "attn_implementation": c.attn_implementation,
            "max_pixels": c.max_pixels,
        }
        return ModelInfo(id=c.model or "none", extra=extra)

    def setup(self) -> None:
        self.backend = acquire(self.backend_config)

    def teardown(self) -> None:
        if self.backend is not None:
            release(self.backend_config)
            self.backend = None

    def images_per_prompt(self) -> int:
        """Most images one prompt may hold: the ``max_images`` setting, or fewer where the
        model's family was trained on fewer (more frames are stitched side by side)."""
        family = self.backend.max_images if self.backend is not None else None
        return min(self.params.max_images, family or self.params.max_images)

    def model_stats(self) -> dict[str, Any]:
        return {} if self.backend is None else self.backend.stats()

    def fallbacks_since(self, seen: int) -> list[str]:
        """Batch reductions the shared backend made after it had made ``seen``."""
        return [] if self.backend is None else self.backend.fallbacks[seen:]


def overlap(record: Record, lo: float, hi: float) -> float:
    return max(0.0, min(float(record["end"]), hi) - max(float(record["start"]), lo))


class SideTracks:
    """Records of the tracks an analyzer reads as context, and how far each has come.

    Span tracks (a transcript segment, a line of on-screen text) only arrive once they are
    complete, so a time is *settled* when every connected track has passed it, or when the
    analyzer's own clock is ``lag`` seconds past it (a track with nothing to say there may not
    send anything for a long time).  Records are pruned once no pending time needs them.
    """

    def __init__(self, tracks: Iterable[str], start: float, lag: float) -> None:
        self.records: dict[str, list[Record]] = {t: [] for t in tracks}
        self.reached = dict.fromkeys(self.records, start)
        self.lag = lag

    def add(self, item: TrackRecord) -> None:
        if item.track in self.records:
            self.records[item.track].append(item.record)
            self.reached[item.track] = max(self.reached[item.track], item.time)

    def settled(self, end: float, clock: float) -> bool:
        return clock >= end + self.lag or all(v >= end for v in self.reached.values())

    def within(self, track: str, lo: float, hi: float) -> list[Record]:
        return [r for r in self.records.get(track, ()) if overlap(r, lo, hi) > 0]

    def prune(self, before: float) -> None:
        for track, rows in self.records.items():
            self.records[track] = [r for r in rows if float(r["end"]) > before]

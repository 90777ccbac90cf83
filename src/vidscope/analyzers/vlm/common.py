"""What the vision-language analyzers share: the backend parameters (one ``vlm`` settings
section for all of them), availability, the shared backend, per-model variants, and side
tracks read as context.

**Several models in one run.**  With ``vlm.models`` listing models, each caption analyzer
(``captions``, ``shot_captions``, ``summary``) runs once per model as ``NAME@LABEL``
(:func:`expand_models`; the registry resolves such names through
:meth:`VlmAnalyzer.variant`): the variant writes ``TRACK@LABEL`` and reads the other caption
tracks of its own model, while every other track (shots, transcript, ...) is computed once
and shared.  Each model is loaded once, shared by its variants.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Self, TypeVar

from pydantic import model_validator

from vidscope.analyzers.base import (
    Analyzer,
    Availability,
    ModelInfo,
    Params,
    Record,
    Requirements,
    Resources,
    TrackRecord,
)
from vidscope.errors import ModelError, UsageError
from vidscope.models.vlm.base import (
    HOW_TO_CONFIGURE,
    NOT_CONFIGURED,
    BackendConfig,
    BackendParams,
    VlmBackend,
    model_label,
)
from vidscope.models.vlm.factory import acquire, release
from vidscope.models.vlm.metered import MeteredBackend


class VlmParams(BackendParams, Params):
    """Backend parameters; each analyzer adds its own."""

    label: ClassVar[str | None] = None
    """Set in a per-model variant's parameters: the model is the one of ``models`` with
    this label."""

    @model_validator(mode="after")
    def _variant_model(self) -> Self:
        if self.endpoints and len(self.endpoints) != len(self.models):
            raise ValueError(
                f"vlm.endpoints has {len(self.endpoints)} servers for {len(self.models)} "
                "vlm.models: give one per model, in the same order"
            )
        if self.label is not None:
            labels = [model_label(m) for m in self.models]
            if self.label not in labels:
                known = ", ".join(labels) or "none: vlm.models is empty"
                raise ValueError(
                    f"no model of vlm.models is labelled {self.label!r} (labels: {known})"
                )
            i = labels.index(self.label)
            self.model = self.models[i]
            if self.endpoints:
                self.endpoint = self.endpoints[i]
        return self


VP = TypeVar("VP", bound=VlmParams)

IN_PROCESS_PACKAGES = ("torch", "transformers")
IN_PROCESS = (
    "a model in process needs PyTorch and transformers (about 1 GB, not in the default "
    "install): pip install 'vidscope[vlm]' (scripts/setup.sh all,vlm in a checkout)"
)
HTTP = "pip install 'vidscope[vlm-http]' (part of vidscope[all])"


@dataclass(frozen=True)
class Usage:
    """The shared model's batch reductions and this analyzer's tokens at one moment."""

    fallbacks: int
    tokens: int


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
            fix = HOW_TO_CONFIGURE
            # The default install has no PyTorch: say so before a model folder is tried.
            if any(importlib.util.find_spec(m) is None for m in IN_PROCESS_PACKAGES):
                fix += f"; {IN_PROCESS}"
            return Availability(False, NOT_CONFIGURED, fix)
        needed = ("httpx",) if config.kind == "openai" else IN_PROCESS_PACKAGES
        missing = [m for m in needed if importlib.util.find_spec(m) is None]
        if missing:
            return Availability(
                False,
                f"missing Python package(s): {', '.join(missing)}",
                HTTP if config.kind == "openai" else IN_PROCESS,
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
        self.backend = MeteredBackend(acquire(self.backend_config))

    def teardown(self) -> None:
        if self.backend is not None:
            release(self.backend_config)
            self.backend = None

    @classmethod
    def variant(cls, label: str) -> type[VlmAnalyzer[Any]]:
        """This analyzer for the model labelled ``label`` in ``vlm.models``: named, and writing
        and reading caption tracks, ``NAME@LABEL`` (see :func:`expand_models`)."""
        if not label or model_label(label) != label:
            raise UsageError(f"{cls.name}@{label}: not a model label (see vlm.models)")
        at = f"@{label}"

        def renamed(tracks: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(t + at if t in PER_MODEL else t for t in tracks)

        def requirements(self: VlmAnalyzer[Any]) -> Requirements:
            req = cls.requirements(self)
            return replace(
                req, tracks=renamed(req.tracks), optional_tracks=renamed(req.optional_tracks)
            )

        name = cls.name + at
        # Named as the registry resolves them (``registry.<name>``), so they pickle by name.
        where = {"__module__": "vidscope.analyzers.registry"}
        params = type(
            cls.Params.__name__,
            (cls.Params,),
            {"label": label, "__qualname__": f"{name}.Params", **where},
        )
        views = cls.views and tuple(replace(v, track=v.track + at) for v in cls.views)
        return type(
            cls.__name__,
            (cls,),
            {
                "name": name,
                "tracks": tuple(t + at for t in cls.tracks),
                "per_second": tuple(t + at for t in cls.per_second),
                "views": views,
                "Params": params,
                "requirements": requirements,
                "__qualname__": name,
                **where,
            },
        )

    def images_per_prompt(self) -> int:
        """Most images one prompt may hold: the ``max_images`` setting, or fewer where the
        model's family was trained on fewer (more frames are stitched side by side)."""
        family = self.backend.max_images if self.backend is not None else None
        return min(self.params.max_images, family or self.params.max_images)

    def model_stats(self) -> dict[str, Any]:
        return {} if self.backend is None else self.backend.stats()

    def usage_mark(self) -> Usage:
        """Where the counters stand as an input starts (see :meth:`usage_since`)."""
        b = self.backend
        return (
            Usage(0, 0) if not isinstance(b, MeteredBackend) else Usage(len(b.fallbacks), b.tokens)
        )

    def usage_since(self, mark: Usage) -> dict[str, Any]:
        """For the run report: the tokens this analyzer's answers took since ``mark``, the
        batch reductions the shared model made since then, and the model's memory."""
        b = self.backend
        if not isinstance(b, MeteredBackend):
            return {"tokens": 0, "batch_fallbacks": []}
        return {
            "tokens": b.tokens - mark.tokens,
            "batch_fallbacks": b.fallbacks[mark.fallbacks :],
            **{f"model_{k}": v for k, v in b.memory().items()},
        }


PER_MODEL = ("captions", "shot_captions", "summary")
"""The analyzers (and their tracks) that run once per model of ``vlm.models``."""


def expand_models(names: list[str], models: list[str]) -> list[str]:
    """``names`` with each per-model analyzer replaced by one variant per model
    (``shot_captions`` -> ``shot_captions@llava-v1-6``, ``shot_captions@qwen2-vl-2b``)."""
    labels = [model_label(m) for m in models]
    if len(set(labels)) < len(labels):
        raise UsageError(f"two models of vlm.models have the same label ({', '.join(labels)})")
    out: list[str] = []
    for name in names:
        out += [f"{name}@{label}" for label in labels] if name in PER_MODEL else [name]
    return out


def base_track(track: str) -> str:
    """A per-model track's name without its model label."""
    return track.partition("@")[0]


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

"""The vision-language backend interface and its settings.

Two backends implement :class:`VlmBackend`: :mod:`~vidscope.models.vlm.hf` runs any
image-text-to-text model family in-process with ``transformers``; :mod:`~vidscope.models.vlm.openai`
calls an OpenAI-compatible chat-completions server (vLLM, SGLang, Ollama, llama.cpp).  The
settings choose: an ``endpoint`` selects the HTTP backend, otherwise ``model`` is loaded.

Which backend a configuration opens, and the one shared instance per process, are
:mod:`~vidscope.models.vlm.factory`'s.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

NOT_CONFIGURED = "needs a vision-language model: none is configured"
HOW_TO_CONFIGURE = (
    "give --vlm-model PATH_OR_ID (a local Hugging Face folder, or a hub id where downloads are "
    "possible) or --vlm-endpoint URL with --vlm-model NAME (an OpenAI-compatible server: vLLM, "
    "SGLang, Ollama, llama.cpp); as settings: vlm.model, vlm.endpoint"
)


class BackendParams(BaseModel):
    """Backend settings, the same for every analyzer that uses the model."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        None,
        description="a local Hugging Face model folder or hub id (in-process), or the model "
        "name served at `endpoint`",
    )
    models: list[str] = Field(
        default_factory=list,
        description="several models compared in one run: each caption analyzer NAME runs "
        "once per model as NAME@LABEL (LABEL: the model's folder or id, see model_label)",
    )
    endpoint: str | None = Field(
        None, description="OpenAI-compatible server URL, e.g. http://localhost:8000/v1"
    )
    endpoints: list[str] = Field(
        default_factory=list,
        description="with `models`: the server of each model, in the same order (one "
        "`endpoint` serves them all)",
    )
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="in-process weights: auto = bfloat16 on GPU, float32 on CPU"
    )
    device: str | None = Field(None, description="cpu, cuda, cuda:N; unset = the run's device")
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = Field(
        "sdpa", description="in-process attention kernel"
    )
    max_pixels: int = Field(
        448 * 448,
        ge=56 * 56,
        description="largest image area sent to the model (bounds visual tokens: 784 pixels "
        "per token for Qwen2-VL)",
    )
    max_images: int = Field(
        8, ge=1, description="most images the model takes in one prompt; 1 stitches shot frames"
    )
    batch_size: int = Field(16, ge=1, description="prompts per in-process generate call")
    concurrency: int = Field(8, ge=1, description="HTTP requests in flight")
    timeout: float = Field(120.0, gt=0, description="seconds per HTTP request")
    retries: int = Field(2, ge=0, description="HTTP retries after a 5xx, 429 or network error")
    download: bool = Field(True, description="allow a hub id to be downloaded")
    trust_remote_code: bool = Field(
        False,
        description="run code shipped with an in-process model (families transformers "
        "lacks, e.g. Phi-3.5-Vision); it runs with this process's rights",
    )

    def backend_config(self, run_device: str) -> BackendConfig:
        """The load-time configuration, with the device resolved."""
        return BackendConfig(
            model=self.model,
            endpoint=self.endpoint,
            dtype=self.dtype,
            device=self.device or run_device,
            attn_implementation=self.attn_implementation,
            max_pixels=self.max_pixels,
            concurrency=self.concurrency,
            timeout=self.timeout,
            retries=self.retries,
            download=self.download,
            trust_remote_code=self.trust_remote_code,
        )


def model_label(model: str) -> str:
    """The short name a model's tracks carry (``captions@LABEL``): a folder's or hub id's
    last part, lower case, with every run of characters other than letters, digits, ``_``
    and ``-`` made one ``-`` (dots too: settings keys are dotted)."""
    last = Path(model.rstrip("/\\")).name or model
    return re.sub(r"[^a-z0-9_-]+", "-", last.lower()).strip("-") or "model"


@dataclass(frozen=True)
class BackendConfig:
    """What a backend is built from; equal configurations share one backend."""

    model: str | None
    endpoint: str | None
    dtype: str = "auto"
    device: str = "cpu"
    attn_implementation: str = "sdpa"
    max_pixels: int = 448 * 448
    concurrency: int = 8
    timeout: float = 120.0
    retries: int = 2
    download: bool = True
    trust_remote_code: bool = False

    @property
    def kind(self) -> Literal["openai", "transformers"] | None:
        if self.endpoint:
            return "openai"
        return "transformers" if self.model else None

    def key(self) -> tuple:
        """The fields that make a different backend of this kind."""
        if self.kind == "openai":
            return (
                "openai", self.endpoint, self.model, self.max_pixels, self.concurrency,
                self.timeout, self.retries,
            )  # fmt: skip
        return (
            "transformers", self.model, self.dtype, self.device, self.attn_implementation,
            self.max_pixels, self.download, self.trust_remote_code,
        )  # fmt: skip


@dataclass(frozen=True, eq=False)
class VlmRequest:
    """One prompt: alternating user and assistant turns (user first and last), with images
    (RGB uint8 arrays) shown before the first user turn."""

    turns: tuple[str, ...]
    images: tuple[np.ndarray, ...] = ()

    @classmethod
    def ask(cls, prompt: str, images: Sequence[np.ndarray] = ()) -> VlmRequest:
        return cls((prompt,), tuple(images))

    def followup(self, reply: str, prompt: str) -> VlmRequest:
        """This conversation with the model's ``reply`` and a new user turn."""
        return VlmRequest((*self.turns, reply, prompt), self.images)


@dataclass(frozen=True, slots=True)
class VlmResult:
    """The model's answer to one request, or why there is none."""

    text: str | None = None
    error: str | None = None
    tokens: int = 0
    """Tokens the model generated for this answer (0 where the server does not say)."""


@dataclass
class VlmBackend(ABC):
    """A vision-language model that answers batches of requests.

    ``generate`` is thread-safe: several analyzers call it at once.  A request that fails
    (a timeout, a server error, out of memory even alone) gets a :class:`VlmResult` with an
    ``error``; the others are unaffected.
    """

    config: BackendConfig
    fallbacks: list[str] = field(default_factory=list)
    """Each time the backend had to lower its batch size (out of memory), and why."""
    max_images: int | None = None
    """Most images the model takes in one prompt (None: as many as the settings allow);
    callers stitch more frames than that side by side."""

    @property
    @abstractmethod
    def name(self) -> str:
        """The model as the user named it (reported by ``/health`` and the manifest)."""

    @abstractmethod
    def generate(
        self, requests: Sequence[VlmRequest], *, max_new_tokens: int, batch_size: int
    ) -> list[VlmResult]:
        """One result per request, in order (greedy decoding)."""

    def stats(self) -> dict[str, Any]:
        """Counters across every caller (e.g. model calls and batch sizes) for the run report."""
        return {}

    def memory(self) -> dict[str, float]:
        """The model's memory in MB for the run report (in-process: its weights, and the
        device's peak allocation on a GPU); empty for a remote model."""
        return {}

    @abstractmethod
    def close(self) -> None:
        """Release the model or the connections."""

"""HTTP backend: an OpenAI-compatible chat-completions server (vLLM, SGLang, Ollama, llama.cpp).

Images travel as JPEG data URLs, scaled down to ``max_pixels`` first.  At most
``concurrency`` requests are in flight for the whole process (one thread pool, shared by
every analyzer using this endpoint).  A request is retried with exponential backoff after a
network error, a timeout, a 429 or a 5xx (honouring ``Retry-After``); after ``retries``
retries, or at once for any other error status or an answer that is not chat-completions JSON,
that request gets an error and the others go on.  The API key comes from
``VIDSCOPE_VLM_API_KEY``, else ``OPENAI_API_KEY``.

Opening the backend asks the server for its model list (``GET /models``), so a server that is
down fails the setup with one clear message instead of failing every record; when no model
name is given and the server serves exactly one model, that one is used.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from vidscope.errors import ModelError
from vidscope.models.vlm.base import BackendConfig, VlmBackend, VlmRequest, VlmResult
from vidscope.models.vlm.images import fit_pixels

KEY_VARIABLES = ("VIDSCOPE_VLM_API_KEY", "OPENAI_API_KEY")
BACKOFF = 0.5
"""Seconds before the first retry; doubled for each further one."""
MAX_WAIT = 30.0
"""Longest pause between retries, whatever ``Retry-After`` says."""
RETRY_STATUS = frozenset({429}) | frozenset(range(500, 600))


def base_url(endpoint: str) -> str:
    """The API root: ``http://host:8000/v1`` from itself, from a full ``.../chat/completions``
    URL, or from a bare ``http://host:8000`` (servers mount the API under ``/v1``)."""
    url = endpoint.rstrip("/")
    url = url.removesuffix("/chat/completions")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ModelError(f"VLM endpoint {endpoint!r} is not an http(s) URL")
    return url if parts.path not in ("", "/") else url + "/v1"


def data_url(image: np.ndarray, max_pixels: int) -> str:
    """An RGB frame as a JPEG data URL, at most ``max_pixels`` pixels."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(fit_pixels(image, max_pixels)).save(buffer, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _completion_tokens(answer: dict[str, Any]) -> int:
    """The answer's generated tokens, where the server reports its usage (vLLM and SGLang do)."""
    usage = answer.get("usage")
    count = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return count if isinstance(count, int) and count >= 0 else 0


def _content(message: Any) -> str | None:
    """The text of a chat-completions message (a string, or a list of text parts)."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else None


class OpenAIBackend(VlmBackend):
    """Requests to an OpenAI-compatible server (see the module notes)."""

    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config)
        import httpx

        assert config.endpoint is not None
        self._httpx = httpx
        self.base = base_url(config.endpoint)
        headers = {"User-Agent": "vidscope"}
        key = next((os.environ[v] for v in KEY_VARIABLES if os.environ.get(v)), None)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(config.timeout, connect=min(config.timeout, 10.0)),
            limits=httpx.Limits(max_connections=config.concurrency),
        )
        self._pool = ThreadPoolExecutor(config.concurrency, thread_name_prefix="vidscope-vlm")
        try:
            self.model = self._served_model(config.model)
        except BaseException:
            self.close()
            raise

    @property
    def name(self) -> str:
        return f"{self.model} at {self.base}"

    def _served_model(self, wanted: str | None) -> str:
        try:
            response = self._client.get(self.base + "/models")
        except self._httpx.HTTPError as exc:
            raise ModelError(
                f"cannot reach the VLM endpoint {self.base}: {exc or type(exc).__name__}; start "
                "the server or fix --vlm-endpoint"
            ) from None
        if response.status_code in (401, 403):
            raise ModelError(
                f"the VLM endpoint {self.base} refused the API key (HTTP "
                f"{response.status_code}); set {KEY_VARIABLES[0]}"
            )
        if wanted:
            return wanted
        try:
            served = [m["id"] for m in response.json()["data"]]
        except (ValueError, KeyError, TypeError):
            served = []
        if len(served) != 1:
            listed = f" (it serves: {', '.join(served)})" if served else ""
            raise ModelError(f"name the model to use on {self.base} with --vlm-model{listed}")
        return served[0]

    def body(self, request: VlmRequest, max_new_tokens: int) -> dict[str, Any]:
        """The chat-completions request: images first in the first user turn, greedy."""
        images = [
            {"type": "image_url", "image_url": {"url": data_url(im, self.config.max_pixels)}}
            for im in request.images
        ]
        messages: list[dict[str, Any]] = []
        for i, turn in enumerate(request.turns):
            if i % 2:
                messages.append({"role": "assistant", "content": turn})
            elif i == 0 and images:
                messages.append(
                    {"role": "user", "content": [*images, {"type": "text", "text": turn}]}
                )
            else:
                messages.append({"role": "user", "content": turn})
        return {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_new_tokens,
            "temperature": 0,
        }

    @staticmethod
    def _wait(attempt: int, retry_after: str | None) -> None:
        delay = BACKOFF * 2**attempt
        if retry_after is not None:
            # An HTTP date instead of seconds is rare; the backoff is close enough then.
            with contextlib.suppress(ValueError):
                delay = float(retry_after)
        time.sleep(min(max(delay, 0.0), MAX_WAIT))

    def _one(self, request: VlmRequest, max_new_tokens: int) -> VlmResult:
        httpx = self._httpx
        try:
            body = self.body(request, max_new_tokens)
        except (OSError, ValueError) as exc:
            return VlmResult(error=f"cannot encode the images: {exc}")
        url = self.base + "/chat/completions"
        error, retry_after = "", None
        for attempt in range(self.config.retries + 1):
            if attempt:
                self._wait(attempt - 1, retry_after)
            retry_after = None
            try:
                response = self._client.post(url, json=body)
            except httpx.TimeoutException:
                error = f"no answer within {self.config.timeout:g} s"
                continue
            except httpx.HTTPError as exc:
                error = f"request failed: {exc or type(exc).__name__}"
                continue
            if response.status_code in RETRY_STATUS:
                error = f"HTTP {response.status_code}: {response.text[:200].strip()}"
                retry_after = response.headers.get("retry-after")
                continue
            if response.status_code >= 400:
                return VlmResult(
                    error=f"HTTP {response.status_code}: {response.text[:200].strip()}"
                )
            try:
                answer = response.json()
                text = _content(answer["choices"][0]["message"])
            except (ValueError, KeyError, IndexError, TypeError):
                text = None
            if text is None:
                return VlmResult(
                    error=f"the endpoint's answer is not chat-completions JSON: "
                    f"{response.text[:120].strip()!r}"
                )
            if not text.strip():
                return VlmResult(error="empty answer")
            return VlmResult(text=text.strip(), tokens=_completion_tokens(answer))
        tries = self.config.retries + 1
        return VlmResult(error=f"{error} ({tries} attempt{'s' if tries > 1 else ''})")

    def generate(
        self, requests: Sequence[VlmRequest], *, max_new_tokens: int, batch_size: int
    ) -> list[VlmResult]:
        futures = [self._pool.submit(self._one, r, max_new_tokens) for r in requests]
        return [f.result() for f in futures]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

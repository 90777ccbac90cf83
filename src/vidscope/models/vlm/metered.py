"""One caller's view of a shared backend: the same model, with the tokens of its own answers
counted, so each analyzer sharing a model (and each model of a comparison run) reports its
own tokens per second."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from vidscope.models.vlm.base import VlmBackend, VlmRequest, VlmResult


class MeteredBackend(VlmBackend):
    """Delegates to ``shared`` (which stays open: closing is the factory's) and counts the
    tokens its answers took."""

    def __init__(self, shared: VlmBackend) -> None:
        super().__init__(shared.config, shared.fallbacks, shared.max_images)
        self.shared = shared
        self.tokens = 0
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.shared.name

    def generate(
        self, requests: Sequence[VlmRequest], *, max_new_tokens: int, batch_size: int
    ) -> list[VlmResult]:
        results = self.shared.generate(
            requests, max_new_tokens=max_new_tokens, batch_size=batch_size
        )
        with self._lock:
            self.tokens += sum(r.tokens for r in results)
        return results

    def stats(self) -> dict[str, Any]:
        return self.shared.stats()

    def memory(self) -> dict[str, float]:
        return self.shared.memory()

    def close(self) -> None:
        """Nothing: the shared backend is released through the factory."""

"""Structured answers: a strict parse against a schema, one repair turn, otherwise an error.

An answer that does not fit is never patched up or filled with defaults: the model is shown
its answer and what was wrong once, and if the second answer does not fit either, the caller
gets the error (and the raw answer) to record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from vidscope.models.vlm.base import VlmBackend, VlmRequest
from vidscope.models.vlm.prompts import repair_prompt

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"^```(?:json)?\s*\n?(.*?)\n?```$", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Structured(Generic[T]):
    """One structured answer: ``value`` when it fits the schema, else ``error``."""

    value: T | None
    error: str | None = None
    answer: str | None = None
    """The model's last raw answer (kept when it did not fit, to show what went wrong)."""
    repaired: bool = False


def parse(
    text: str, schema: type[T], context: dict[str, Any] | None = None
) -> tuple[T | None, str | None]:
    """``text`` as one JSON object of ``schema`` (a Markdown code fence around it is allowed;
    any other text is not); ``context`` goes to the schema's validators.  Returns the value,
    or None and why not."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        return None, f"not a JSON object ({exc.msg} at character {exc.pos})"
    try:
        return schema.model_validate(data, context=context), None
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg'].lower()}"
            for e in exc.errors()[:4]
        ]
        return None, "does not match the schema (" + "; ".join(problems) + ")"


def ask(
    backend: VlmBackend,
    requests: Sequence[VlmRequest],
    schema: type[T],
    *,
    max_new_tokens: int,
    batch_size: int,
    context: dict[str, Any] | None = None,
) -> list[Structured[T]]:
    """Ask every request, repair the answers that do not fit once (all together, as a batch),
    and return one :class:`Structured` per request, in order."""
    first = backend.generate(requests, max_new_tokens=max_new_tokens, batch_size=batch_size)
    out: list[Structured[T]] = []
    retry: list[int] = []
    for i, result in enumerate(first):
        if result.text is None:
            out.append(Structured(None, result.error))
            continue
        value, error = parse(result.text, schema, context)
        out.append(Structured(value, error, None if value else result.text))
        if value is None:
            retry.append(i)
    if not retry:
        return out
    followups = [
        requests[i].followup(first[i].text or "", repair_prompt(out[i].error or "")) for i in retry
    ]
    second = backend.generate(followups, max_new_tokens=max_new_tokens, batch_size=batch_size)
    for i, result in zip(retry, second, strict=True):
        if result.text is None:
            out[i] = Structured(
                None, f"{out[i].error}; repair failed: {result.error}", out[i].answer
            )
            continue
        value, error = parse(result.text, schema, context)
        if value is not None:
            out[i] = Structured(value, repaired=True)
        else:
            out[i] = Structured(None, f"{error}, also after one repair", result.text, repaired=True)
    return out

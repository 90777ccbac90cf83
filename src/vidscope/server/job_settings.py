"""A job's engine settings, resolved once: validated, planned, and in the form the store keeps.

A submission resolves the server's settings plus the client's choices into a
:class:`JobSettings`; the workers take that same object (its :class:`Settings` and its plan)
to build the engine that runs the job.  Only a job that comes back from the store after a
restart, or whose settings left the cache, has its stored form resolved again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

from vidscope.config import Settings
from vidscope.engine.plan import Plan, make_plan


@dataclass(frozen=True)
class JobSettings:
    """Settings with the plan made from them."""

    settings: Settings
    plan: Plan
    stored: dict[str, Any]
    """The settings as the job store keeps them (JSON values)."""
    key: str
    """``stored`` as canonical JSON: jobs with the same key run on the same engines."""

    @classmethod
    def resolve(cls, settings: Settings) -> JobSettings:
        """Plan ``settings``; unknown or unavailable analyzers raise here
        (:class:`~vidscope.errors.UsageError`, :class:`~vidscope.errors.ModelError`)."""
        plan = make_plan(settings)
        stored = settings.model_dump(mode="json")
        return cls(settings, plan, stored, key_of(stored))


def key_of(stored: dict[str, Any]) -> str:
    """The canonical JSON of stored settings."""
    return orjson.dumps(stored, option=orjson.OPT_SORT_KEYS).decode()


class SettingsCache:
    """The :class:`JobSettings` of recent submissions, by key, least recently used dropped
    first (one costs another plan, nothing more)."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._entries: OrderedDict[str, JobSettings] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, job_settings: JobSettings) -> JobSettings:
        with self._lock:
            self._entries[job_settings.key] = job_settings
            self._entries.move_to_end(job_settings.key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return job_settings

    def get(self, stored: dict[str, Any]) -> JobSettings:
        """The job settings for ``stored``: the submission's own, else resolved again."""
        with self._lock:
            found = self._entries.get(key_of(stored))
            if found is not None:
                self._entries.move_to_end(found.key)
                return found
        return self.add(JobSettings.resolve(Settings.model_validate(stored)))

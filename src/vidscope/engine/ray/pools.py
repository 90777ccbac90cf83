"""Pools of model actors: how many, with what share of CPU and GPU, shared by the executors of
one process and killed when the last of them closes."""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
from typing import Any

import orjson
import ray

from vidscope.analyzers.base import Analyzer
from vidscope.config import Settings
from vidscope.engine.ray.actors import AnalyzerActor
from vidscope.errors import UsageError

SMALL_MODEL_GPU = 0.25
"""Share of a GPU for a model that does not declare one (detectors, OCR, Whisper): four such
models fit on one GPU, while a VLM declares a whole one."""


class _PoolRegistry:
    """Actor pools of this process, shared by its executors (the server keeps one executor
    per worker thread and settings) and killed when the last one closes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pools: dict[str, tuple[list[Any], int]] = {}

    def acquire(
        self,
        key: str,
        analyzer: Analyzer,
        device: str,
        concurrent: bool,
        count: int,
        options: dict[str, Any],
    ) -> list[Any]:
        with self.lock:
            actors, users = self.pools.get(key, ([], 0))
            if not actors:
                actor_cls = ray.remote(AnalyzerActor)
                params = analyzer.params.model_dump(mode="json")
                actors = [
                    actor_cls.options(**options).remote(type(analyzer), params, device, concurrent)
                    for _ in range(count)
                ]
            self.pools[key] = (actors, users + 1)
            return actors

    def release(self, key: str) -> None:
        with self.lock:
            actors, users = self.pools.pop(key)
            if users > 1:
                self.pools[key] = (actors, users - 1)
                return
        for actor in actors:
            with contextlib.suppress(Exception):
                ray.kill(actor)


_pools = _PoolRegistry()


def _identity(analyzer: Analyzer) -> str:
    """Same analyzer, parameters and device -> the same actors."""
    blob = orjson.dumps(
        [analyzer.name, analyzer.version, analyzer.params.model_dump(mode="json"), analyzer.device],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(blob).hexdigest()[:12]


def acquire_pools(
    settings: Settings,
    pooled: dict[str, Analyzer],
    resources: dict[str, float],
    max_videos: int,
    keys: list[str],
) -> dict[str, list[Any]]:
    """An actor pool for each of ``pooled``, fitted into the free ``resources`` next to
    ``max_videos`` video tasks; appends the key of each pool it takes to ``keys`` (for
    :func:`release_pools`), also when it fails part way."""
    counts = {n: max(1, settings.ray.actors.get(n, 1)) for n in pooled}
    cpus = cpu_shares(
        {n: a.resources.cpus for n, a in pooled.items()}, counts, resources, max_videos
    )
    cuda = settings.device.startswith("cuda")
    gpus_free = float(resources.get("GPU", 0.0))
    pools: dict[str, list[Any]] = {}
    for name, analyzer in pooled.items():
        gpu = 0.0
        if cuda:
            gpu = settings.ray.gpus.get(name) or analyzer.resources.gpus or SMALL_MODEL_GPU
            if gpu > gpus_free:
                raise UsageError(
                    f"{name} asks for {gpu} GPU but the Ray cluster has {gpus_free:g} free; "
                    "use --device cpu or a cluster with GPUs"
                )
        share = settings.ray.batch_across_videos
        concurrent = analyzer.concurrent_inputs and (cuda if share is None else share)
        options = {
            "num_cpus": cpus[name],
            "num_gpus": gpu,
            "max_restarts": -1,
            "max_task_retries": 0,
            # A slot per video in flight when their calls run at once, and one for stats.
            "max_concurrency": max_videos + 1 if concurrent else 2,
        }
        # Ray hands each GPU actor its own CUDA_VISIBLE_DEVICES, where it is device 0.
        device = "cuda" if cuda else analyzer.device
        key = f"{name}-{_identity(analyzer)}-{counts[name]}-{int(concurrent)}"
        pools[name] = _pools.acquire(key, analyzer, device, concurrent, counts[name], options)
        keys.append(key)
    return pools


def cpu_shares(
    declared: dict[str, float],
    counts: dict[str, int],
    resources: dict[str, float],
    max_videos: int,
) -> dict[str, float]:
    """Each pooled analyzer's CPU share per actor.  Ray's CPU counts are logical: the video
    tasks get one each, and the actors share what is left in proportion to what they declare,
    so every actor can be placed even on a two-core machine (they then time-share the cores,
    as local threads would)."""
    demand = sum(cpus * counts[n] for n, cpus in declared.items()) or 1.0
    budget = max(float(resources.get("CPU", 0.0)) - max_videos, 0.0)
    scale = min(1.0, budget / demand)
    # Rounded down: shares rounded to nearest can sum past the budget (four actors of 1/6 and
    # one of 1/3 of one CPU: 4 x 0.17 + 0.33 = 1.01), and the video tasks then never start.
    return {n: max(0.01, math.floor(cpus * scale * 100) / 100) for n, cpus in declared.items()}


def release_pools(keys: list[str]) -> None:
    """Give back the pools :func:`acquire_pools` took (and empty ``keys``)."""
    for key in keys:
        _pools.release(key)
    keys.clear()

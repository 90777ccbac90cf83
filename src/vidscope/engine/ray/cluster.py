"""Joining a Ray cluster, or starting a local Ray, once per process for all its executors."""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

import ray

from vidscope.config import Settings
from vidscope.errors import UsageError

NAMESPACE = "vidscope"
"""The Ray namespace of every actor and queue this package creates."""

_ray_lock = threading.Lock()
_ray_users = 0
_ray_started = False


def _check_reachable(address: str) -> None:
    """Fail fast on a cluster address nothing answers at: ``ray.init`` would retry for
    minutes before giving up."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
            pass
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot reach the Ray cluster at {address}: {exc}") from None


def connect(settings: Settings) -> None:
    """Join the configured cluster, or start a local Ray for this process (once)."""
    global _ray_users, _ray_started
    with _ray_lock:
        if not ray.is_initialized():
            common: dict[str, Any] = {
                "namespace": NAMESPACE,
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": "WARNING",
            }
            try:
                if settings.ray.address:
                    _check_reachable(settings.ray.address)
                    ray.init(address=settings.ray.address, **common)
                else:
                    ray.init(
                        num_cpus=settings.ray.num_cpus or os.cpu_count(),
                        object_store_memory=settings.ray.object_store_mb * 2**20,
                        **common,
                    )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = settings.ray.address or "a local Ray"
                raise UsageError(f"cannot start or reach {where}: {exc}") from None
            _ray_started = True
        _ray_users += 1


def disconnect() -> None:
    """Leave Ray; the last user of a Ray this process started shuts it down."""
    global _ray_users, _ray_started
    with _ray_lock:
        _ray_users -= 1
        if _ray_users == 0 and _ray_started:
            # Actors this process created are owned by it and end with it.
            ray.shutdown()
            _ray_started = False

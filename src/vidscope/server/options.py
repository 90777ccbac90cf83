"""What a client may choose for its job, and the job's settings that result.

A client of the HTTP service is not its operator: it picks analyzers, the audio channel and
the parameters each analyzer declares client-settable (``Params.client_settable``: rates,
thresholds, languages, output limits).  Anything that names a path, a program, a URL, a
model, a device or a download stays with the server's own settings, which are applied
unfiltered.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from vidscope.analyzers import registry
from vidscope.analyzers.settings import load_settings
from vidscope.errors import UsageError
from vidscope.server.deps import Services
from vidscope.server.job_settings import JobSettings

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,64}$")]
_NAMES = TypeAdapter(list[Name])


class JobOptions(BaseModel):
    """Per-job engine settings a client may choose (never paths, programs, URLs or models)."""

    model_config = ConfigDict(extra="forbid")

    audio_channel: Literal["mix", "left", "right"] | None = None
    analyzer: dict[Name, dict[Name, Any]] = Field(
        default_factory=dict,
        description='client-settable analyzer parameters, e.g. {"shots": {"threshold": 30}}; '
        "any other parameter is the server operator's and is refused",
    )


def check_client_params(analyzer: dict[str, dict[str, Any]]) -> None:
    """Refuse (422, naming the key) a parameter its analyzer does not let clients set."""
    for name, params in analyzer.items():
        if not registry.is_known(name):
            raise HTTPException(
                422, f"analyzer.{name}: unknown analyzer (known: {', '.join(registry.names())})"
            )
        model = registry.params_model(name)
        if model is None:
            raise HTTPException(422, f"analyzer.{name}: not available on this server")
        allowed = ", ".join(sorted(model.client_settable)) or "none"
        for key in params:
            if key in model.client_settable:
                continue
            what = "is operator-only" if key in model.model_fields else "is not a parameter"
            raise HTTPException(422, f"analyzer.{name}.{key} {what} (a client may set: {allowed})")


def resolve_settings(
    services: Services, analyzers: list[str] | None, options: JobOptions
) -> dict[str, Any]:
    """The job's engine settings: the server's, plus what the client chose; 422 if invalid."""
    check_client_params(options.analyzer)
    overrides = dict(services.config.overrides)
    if analyzers is not None:
        overrides["analyzers"] = analyzers
    if options.audio_channel is not None:
        overrides["audio_channel"] = options.audio_channel
    # Leaf by leaf: an empty or nested value must not replace the operator's section.
    for name, params in options.analyzer.items():
        overrides.update({f"analyzer.{name}.{key}": value for key, value in params.items()})
    try:
        settings = load_settings(services.config.config_file, overrides).settings
        # Unknown or unavailable analyzers fail now, not in the worker, which takes this
        # plan as it is.
        resolved = services.pool.job_settings.add(JobSettings.resolve(settings))
    except UsageError as exc:
        raise HTTPException(422, str(exc)) from None
    return resolved.stored


def parse_form_options(fields: dict[str, str]) -> tuple[list[str] | None, JobOptions]:
    """The ``analyzers`` and ``options`` fields of an upload form."""
    names = [a.strip() for a in fields.get("analyzers", "").split(",") if a.strip()]
    try:
        analyzers = _NAMES.validate_python(names) if names else None
        options = JobOptions.model_validate_json(fields.get("options") or "{}")
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    return analyzers, options

"""Analyzer parameters in the settings: each analyzer's section, its defaults and their check.

:mod:`vidscope.config` merges the layers and validates the settings it declares; what an
``analyzer.<name>`` section may hold is known only here, where the analyzers are.  Every
command and the server load settings through :func:`load_settings`, so a bad analyzer
parameter is a :class:`~vidscope.errors.UsageError` before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vidscope.analyzers import registry
from vidscope.config import Effective, Settings, read_settings
from vidscope.errors import UsageError


def params_for(settings: Settings, name: str) -> dict[str, Any]:
    """The raw parameters of analyzer ``name``: its shared section, then its own keys (a
    per-model variant ``NAME@LABEL``: NAME's keys, then its own)."""
    base = name.partition("@")[0]
    own = {**settings.analyzer.get(base, {}), **settings.analyzer.get(name, {})}
    if not settings.vlm:
        # Finding an analyzer's section imports its module; with no shared settings there
        # is nothing to find, and a run imports only the analyzers it plans.
        return dict(own)
    section = registry.settings_section(name)
    shared = getattr(settings, section) if section else {}
    return {**shared, **own}


def requested_analyzers(settings: Settings) -> list[str]:
    """The analyzers a run asks for (every known one when the settings name none), each
    caption analyzer once per model where ``vlm.models`` lists several."""
    names = list(dict.fromkeys(settings.analyzers or registry.names()))
    models = settings.vlm.get("models")
    if not models:
        return names
    from vidscope.analyzers.vlm.common import expand_models

    return list(dict.fromkeys(expand_models(names, models)))


def defaults() -> dict[str, Any]:
    """Every analyzer parameter's default as a dotted key (imports every analyzer module)."""
    flat: dict[str, Any] = {}
    for name in registry.names():
        params = registry.params_model(name)
        if params is None:
            continue
        for key, value in params().model_dump(mode="json").items():
            flat[f"analyzer.{name}.{key}"] = value
    return flat


def check(settings: Settings) -> None:
    """Raise :class:`UsageError` for a section of an unknown analyzer or a parameter its
    analyzer refuses, naming the setting."""
    for name in settings.analyzer:
        if not registry.is_known(name):
            known = ", ".join(sorted(registry.names()))
            raise UsageError(f"settings for unknown analyzer {name!r} (known: {known})")
    # Only analyzers with a section of their own have parameters to check, unless a shared
    # section is set; listing every analyzer would scan the installed plugins for nothing.
    names = registry.names() if settings.vlm else list(settings.analyzer)
    # Per-model variants (named, or made from vlm.models) check their model's label.
    variants = [n for n in (settings.analyzers or []) if "@" in n and registry.is_known(n)]
    if settings.vlm.get("models"):
        variants += [n for n in requested_analyzers(settings) if "@" in n]
    for name in list(dict.fromkeys([*names, *variants])):
        params = params_for(settings, name)
        model = registry.params_model(name) if params else None
        if model is None:
            continue
        try:
            model.model_validate(params)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            section = "analyzer." + name
            if where and where not in settings.analyzer.get(name, {}):
                section = registry.settings_section(name) or section
            what = f"{section}.{where}" if where else section
            raise UsageError(f"invalid setting {what}: {err['msg']}") from None


def load_settings(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    analyzer_defaults: bool = False,
) -> Effective:
    """The settings a run uses: :func:`vidscope.config.read_settings`, with every analyzer
    section checked.  ``overrides`` are dotted keys from the command line.

    ``analyzer_defaults`` also lists every analyzer parameter's default in ``values``, which
    imports every analyzer module: worth it for showing the settings, not for a run."""
    effective = read_settings(
        config_file, overrides, environ, defaults=defaults() if analyzer_defaults else None
    )
    check(effective.settings)
    return effective

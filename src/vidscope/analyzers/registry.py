"""Where analyzers are found: the built-in ones and third-party ones registered under the
``vidscope.analyzers`` entry-point group (``name = "package.module:Class"``).

Analyzer modules are imported lazily and must import cheaply (heavy libraries are imported in
``setup()``), so listing analyzers and reading their parameters never loads a model.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from vidscope.analyzers.base import Analyzer, Availability, Params
from vidscope.errors import UsageError

BUILTIN: dict[str, str] = {
    "shots": "vidscope.analyzers.shots:ShotsAnalyzer",
    "visual_stats": "vidscope.analyzers.visual_stats:VisualStatsAnalyzer",
    "audio_features": "vidscope.analyzers.audio_features:AudioFeaturesAnalyzer",
    "audio_class": "vidscope.analyzers.audio_class:AudioClassAnalyzer",
    "pacing": "vidscope.analyzers.pacing:PacingAnalyzer",
    "shot_stats": "vidscope.analyzers.shot_stats:ShotStatsAnalyzer",
    "speech": "vidscope.analyzers.speech.speech:SpeechAnalyzer",
    "speakers": "vidscope.analyzers.speech.speakers:SpeakersAnalyzer",
    "transcript": "vidscope.analyzers.speech.transcript:TranscriptAnalyzer",
    "audio_events": "vidscope.analyzers.speech.audio_events:AudioEventsAnalyzer",
    "ocr": "vidscope.analyzers.vision.ocr:OcrAnalyzer",
    "objects": "vidscope.analyzers.vision.objects:ObjectsAnalyzer",
    "faces": "vidscope.analyzers.people.faces:FacesAnalyzer",
    "pose": "vidscope.analyzers.people.pose:PoseAnalyzer",
    "segmentation": "vidscope.analyzers.people.segmentation:SegmentationAnalyzer",
    "captions": "vidscope.analyzers.vlm.captions:CaptionsAnalyzer",
    "shot_captions": "vidscope.analyzers.vlm.shot_captions:ShotCaptionsAnalyzer",
    "summary": "vidscope.analyzers.vlm.summary:SummaryAnalyzer",
}


@cache
def _table() -> dict[str, str]:
    table = dict(BUILTIN)
    for ep in entry_points(group="vidscope.analyzers"):
        table.setdefault(ep.name, ep.value)
    return table


def _target(name: str) -> str | None:
    # Built-in names win over plugins, so they resolve without the entry-point scan, which
    # reads the metadata of every installed distribution.  NAME@LABEL is NAME's per-model
    # variant.
    name = name.partition("@")[0]
    return BUILTIN.get(name) or _table().get(name)


def refresh() -> None:
    """Read the installed plugins again, for analyzers installed or removed while running."""
    for cached in (_table, get, producers):
        cached.cache_clear()


def names() -> list[str]:
    """Every known analyzer, built-in first."""
    return list(_table())


@cache
def get(name: str) -> type[Analyzer]:
    """The analyzer class for ``name``; :class:`UsageError` for an unknown name."""
    target = _target(name)
    if target is None:
        raise UsageError(f"unknown analyzer {name!r} (known: {', '.join(names())})")
    base, at, label = name.partition("@")
    if at:
        cls = get(base)
        variant = getattr(cls, "variant", None)
        if variant is None:
            raise UsageError(f"{base!r} does not run once per model (no {name!r})")
        return variant(label)
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def params_model(name: str) -> type[Params] | None:
    """Parameters of ``name``; None when its module cannot be imported here."""
    try:
        return get(name).Params
    except UsageError:
        raise
    except Exception:
        return None


def settings_section(name: str) -> str | None:
    """The shared settings section ``name`` reads its parameter defaults from, if any."""
    try:
        return get(name).settings_section
    except UsageError:
        raise
    except Exception:
        return None


def is_known(name: str) -> bool:
    return _target(name) is not None


def check_name(name: str) -> None:
    if not is_known(name):
        raise UsageError(f"unknown analyzer {name!r} (known: {', '.join(names())})")


def availability(name: str, params: dict[str, Any] | None = None) -> Availability:
    """Whether ``name`` can run here with ``params`` (its configured parameters); never raises
    for a broken optional analyzer."""
    try:
        cls = get(name)
    except UsageError:
        raise
    except Exception as exc:  # a third-party module that fails to import must not break the rest
        return Availability(False, f"cannot import: {exc}", "reinstall the package providing it")
    avail = cls.availability()
    if not avail.ok:
        return avail
    # Settings were validated when they were loaded, so this cannot fail on user input.
    return cls(cls.Params.model_validate(params or {})).configured()


def __getattr__(attr: str) -> type[Analyzer]:
    # A per-model variant (``captions@LABEL``) is made on first use; its class is named here,
    # so pickle (process workers, Ray actors) sends it by name and the other process makes it
    # again from the same name.
    if "@" in attr:
        return get(attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def producer(track: str) -> str | None:
    """The analyzer that writes ``track`` (``TRACK@LABEL``: that analyzer's variant)."""
    base, at, label = track.partition("@")
    name = producers().get(base)
    return f"{name}@{label}" if name is not None and at else name


@cache
def producers() -> dict[str, str]:
    """Track name -> analyzer that writes it (imports every analyzer module once)."""
    out: dict[str, str] = {}
    for n in names():
        if params_model(n) is not None:  # importable
            out.update(dict.fromkeys(get(n).output_tracks(), n))
    return out

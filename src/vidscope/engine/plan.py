"""Which analyzers run, in which order, and why the others do not."""

from __future__ import annotations

from dataclasses import dataclass, field

from vidscope.analyzers import registry
from vidscope.analyzers.base import Analyzer
from vidscope.analyzers.settings import params_for, requested_analyzers
from vidscope.config import Settings
from vidscope.errors import ModelError, UsageError
from vidscope.media.probe import MediaInfo


@dataclass
class Plan:
    """Analyzer names in dependency order, plus the ones that cannot run here."""

    order: list[str]
    unavailable: dict[str, dict[str, str]] = field(default_factory=dict)
    added: dict[str, str] = field(default_factory=dict)
    """Dependencies added on the user's behalf: name -> who needed it."""

    def instantiate(self, settings: Settings) -> dict[str, Analyzer]:
        out: dict[str, Analyzer] = {}
        for name in self.order:
            cls = registry.get(name)
            params = cls.Params.model_validate(params_for(settings, name))
            out[name] = cls(params, device=settings.device)
        return out


def _deps(name: str, settings: Settings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    cls = registry.get(name)
    params = cls.Params.model_validate(params_for(settings, name))
    req = cls(params, device=settings.device).requirements()
    return req.tracks, req.optional_tracks


def make_plan(settings: Settings) -> Plan:
    """Resolve the requested analyzers (or every available one) and their dependencies."""
    explicit = settings.analyzers is not None
    requested = requested_analyzers(settings)
    for name in requested:
        registry.check_name(name)  # unknown names fail here, before anything runs
    unavailable: dict[str, dict[str, str]] = {}
    model_missing: set[str] = set()
    added: dict[str, str] = {}
    chosen: list[str] = []

    def visit(name: str, needed_by: str | None, stack: tuple[str, ...]) -> bool:
        if name in stack:
            raise UsageError(f"analyzer dependency cycle: {' -> '.join((*stack, name))}")
        if name in chosen:
            return True
        if name in unavailable:
            return False
        avail = registry.availability(name, params_for(settings, name))
        if not avail.ok:
            unavailable[name] = {"reason": avail.reason, "fix": avail.fix}
            if avail.model:
                model_missing.add(name)
            return False
        required, optional = _deps(name, settings)
        for track in required:
            producer = registry.producer(track)
            if producer is None or not visit(producer, name, (*stack, name)):
                unavailable[name] = {
                    "reason": f"needs track {track!r}, which cannot be produced here",
                    "fix": unavailable.get(producer or "", {}).get("fix", ""),
                }
                return False
        for track in optional:
            producer = registry.producer(track)
            if producer is not None and (not explicit or producer in requested):
                visit(producer, name, (*stack, name))
        if name not in chosen:
            chosen.append(name)
            if needed_by is not None and name not in requested:
                added[name] = needed_by
        return True

    for name in requested:
        visit(name, None, ())
    if explicit:
        missing = [n for n in requested if n in unavailable]
        if missing:
            n = missing[0]
            info = unavailable[n]
            fix = f"; fix: {info['fix']}" if info["fix"] else ""
            error = ModelError if n in model_missing else UsageError
            raise error(f"analyzer {n!r} is not available here: {info['reason']}{fix}")
    return Plan(order=chosen, unavailable=unavailable, added=added)


def skip_reason(analyzer: Analyzer, media: MediaInfo) -> str | None:
    """Why an analyzer cannot run on this particular input, or None."""
    if analyzer.needs_video and media.video is None:
        return "the input has no video stream"
    if analyzer.needs_audio and media.audio is None:
        return "the input has no audio stream"
    return None

"""The analyzer contract.

An analyzer is a long-lived object: the engine builds it once, calls :meth:`Analyzer.setup`
once per worker (this is where models are loaded) and then feeds it any number of media
inputs.  Per input, :meth:`Analyzer.start` creates a small state object, the engine calls
:meth:`Analyzer.process_batch` with batches of items in time order, and :meth:`Analyzer.finish`
flushes whatever the state still holds.  ``process_batch`` must not touch anything but the
model, its arguments and the state: that is what lets the engine run analyzers side by side on
threads or in worker processes.

The items an analyzer receives (:class:`Frame`, :class:`AudioChunk`) and the
:class:`FrameSpec` it asks frames in are the decoder's types from :mod:`vidscope.media.frames`,
named here too as part of this contract.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict

from vidscope.media.frames import AudioChunk, Frame, FrameSpec
from vidscope.media.probe import MediaInfo

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Requirements:
    """What an analyzer consumes: frames, the 16 kHz mono audio, and/or records of other tracks.

    ``tracks`` must exist for the analyzer to run; ``optional_tracks`` are used when the media
    allows them (e.g. audio statistics of shots in a video that has a soundtrack).
    """

    frames: FrameSpec | None = None
    audio: bool = False
    tracks: tuple[str, ...] = ()
    optional_tracks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Resources:
    """How the analyzer wants to be run.

    ``isolation="thread"`` suits work that releases the GIL (NumPy, OpenCV, onnxruntime, FFmpeg);
    ``"process"`` runs the analyzer in its own long-lived worker process.
    """

    cpus: float = 1.0
    gpus: float = 0.0
    batch_size: int = 8
    isolation: Literal["thread", "process"] = "thread"


@dataclass(frozen=True, slots=True)
class TrackRecord:
    """A record of another track, delivered to analyzers that declared that track as input."""

    track: str
    record: Record

    @property
    def time(self) -> float:
        return float(self.record["end"])


Item = Frame | AudioChunk | TrackRecord


@dataclass(frozen=True, slots=True)
class TrackView:
    """How one track reads as a lane of the HTML report.

    A ``spans`` lane shows each record from ``start`` to ``end``, named by ``label``: one
    template over the record's fields (``"{text}"``, ``"#{index}"``, ``"speech"``) or several,
    of which the first whose fields are all present and non-empty wins (the last one stands
    anyway, a missing field in it empty).  ``rows`` spreads overlapping records over rows,
    ``tint`` colours items by label, ``search`` lets the report's search box find them.

    A ``line`` lane plots the mean of the numeric field ``value`` per time bucket between
    ``lo`` and ``hi`` (``None``: the largest value seen), in ``unit``.

    Lanes are sorted by ``order`` (the built-in lanes use 10 to 150); ``title`` defaults to
    the track's name with spaces for underscores.
    """

    track: str
    kind: Literal["spans", "line"] = "spans"
    title: str = ""
    label: str | tuple[str, ...] = ("{label}", "{text}", "{name}")
    rows: bool = False
    tint: bool = False
    search: bool = False
    value: str = ""
    lo: float = 0.0
    hi: float | None = None
    unit: str = ""
    order: int = 1000

    def __post_init__(self) -> None:
        if self.kind == "line" and not self.value:
            raise TypeError(f"the line view of {self.track!r} names no value field")

    @property
    def heading(self) -> str:
        return self.title or self.track.replace("_", " ")


@dataclass(frozen=True, slots=True)
class Availability:
    """Whether an analyzer can run here, and if not, why and how to fix it."""

    ok: bool
    reason: str = ""
    fix: str = ""
    model: bool = False
    """The reason is a missing or unusable model: asking for the analyzer is then a model
    error (exit 4), not a usage error."""
    detail: str = ""
    """What runs when the analyzer is available, where the install decides it (which model,
    and why that one): ``vidscope analyzers`` shows it beside the description."""


@dataclass(frozen=True)
class ModelInfo:
    """What the manifest says about the model an analyzer used."""

    id: str
    file: str | None = None
    sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Params(BaseModel):
    """Base class of analyzer parameters; unknown keys are an error, not silently ignored.

    ``client_settable`` names the parameters a client of the HTTP service may choose per job;
    every other parameter is the operator's (settings file, environment, ``--set``).  Leave out
    anything that names a path, program, URL, model, device or download, or sizes threads or
    buffers.  Each named field must also have a client-safe type (see :func:`client_unsafe`),
    checked when the class is defined.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    client_settable: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if not cls.client_settable:
            return
        properties = cls.model_json_schema()["properties"]
        for name in sorted(cls.client_settable):
            if name not in properties:
                raise TypeError(f"{cls.__name__}.client_settable names no field {name!r}")
            reason = client_unsafe(properties[name])
            if reason:
                raise TypeError(f"{cls.__name__}.{name} cannot be client-settable: {reason}")


def client_unsafe(schema: dict[str, Any]) -> str | None:
    """Why a value of this JSON schema must not come from a client, or None when it may.

    A client may choose from a fixed set, a boolean, a number bounded on both sides, a string
    with a maximum length and no format (a path or URL has one), or a bounded list of those:
    nothing that can name a file, host or program, or size a buffer without limit.
    """
    if "anyOf" in schema:
        reasons = [client_unsafe(s) for s in schema["anyOf"]]
        return next((r for r in reasons if r), None)
    if "enum" in schema or "const" in schema:
        return None
    kind = schema.get("type")
    if kind in ("boolean", "null"):
        return None
    if kind in ("integer", "number"):
        low = "minimum" in schema or "exclusiveMinimum" in schema
        high = "maximum" in schema or "exclusiveMaximum" in schema
        return None if low and high else "a number needs a lower and an upper bound"
    if kind == "string":
        if "format" in schema:
            return f"a string in {schema['format']!r} format"
        return None if "maxLength" in schema else "a string needs a maximum length"
    if kind == "array":
        if "maxItems" not in schema:
            return "a list needs a maximum length"
        items = schema.get("prefixItems", []) + ([schema["items"]] if "items" in schema else [])
        return next((r for r in map(client_unsafe, items) if r), None)
    return f"an untyped or structured value ({kind or 'any'})"


P = TypeVar("P", bound=Params)


class Analyzer(Generic[P]):
    """Base class of every analyzer.  Subclasses set the class attributes and override hooks.

    An analyzer names its parameter class twice: as the type argument, so ``self.params`` has
    that type (``class ShotsAnalyzer(Analyzer[ShotsParams])``), and as ``Params``, the class
    the engine validates settings with at run time.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    description: ClassVar[str] = ""
    tracks: ClassVar[tuple[str, ...]] = ()
    """Tracks this analyzer writes; defaults to ``(name,)``.  With several, a record names its
    track in a ``"_track"`` key (removed before writing); untagged records go to the first."""
    per_second: ClassVar[tuple[str, ...]] = ()
    """Tracks meant to cover every second of the media (reported as coverage)."""
    extra: ClassVar[str] = ""
    """The pip extra that installs what this analyzer needs."""
    dependencies: ClassVar[tuple[str, ...]] = ()
    """Importable modules this analyzer needs; checked without importing them."""
    settings_section: ClassVar[str | None] = None
    """A settings section whose keys are defaults for this analyzer's parameters, shared with
    the other analyzers that name it (e.g. ``vlm``: one backend for all caption analyzers)."""
    needs_video: ClassVar[bool] = False
    needs_audio: ClassVar[bool] = False
    concurrent_inputs: ClassVar[bool] = False
    """Whether ``process_batch``/``finish`` may run for several inputs at the same time (an
    actor serving several videos): the model calls are thread-safe and merge into shared
    batches, and everything else touches only the input's state."""
    resources: ClassVar[Resources] = Resources()
    views: ClassVar[tuple[TrackView, ...] | None] = None
    """How this analyzer's tracks read in the HTML report.  ``None``: every track whose
    records have ``start`` and ``end`` gets a spans lane named by its ``label``, ``text`` or
    ``name`` field; a tuple: exactly these lanes (``()``: none, or only the composite lanes
    the report builds itself from well-known tracks)."""
    Params: ClassVar[type[Params]] = Params

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A view of a track the analyzer does not write would silently never show.
        stray = [
            v.track for v in cls.__dict__.get("views") or () if v.track not in cls.output_tracks()
        ]
        if stray:
            raise TypeError(f"{cls.__name__}.views names tracks it does not write: {stray}")

    def __init__(self, params: P | None = None, *, device: str = "cpu") -> None:
        # A ClassVar cannot name a type variable, so the default built from ``Params`` is
        # cast to the type argument the subclass promises to match.
        self.params: P = params if params is not None else cast(P, type(self).Params())
        self.device = device

    @classmethod
    def output_tracks(cls) -> tuple[str, ...]:
        return cls.tracks or (cls.name,)

    @classmethod
    def availability(cls) -> Availability:
        """Check, without loading anything heavy, whether this analyzer can run here."""
        missing = [m for m in cls.dependencies if importlib.util.find_spec(m) is None]
        if missing:
            fix = (
                f"pip install 'vidscope[{cls.extra}]'"
                if cls.extra
                else "pip install " + " ".join(missing)
            )
            return Availability(False, f"missing Python package(s): {', '.join(missing)}", fix)
        return Availability(True)

    def configured(self) -> Availability:
        """Whether these parameters let the analyzer run (e.g. a model or endpoint is set).

        Checked after :meth:`availability`; must not load anything heavy either."""
        return Availability(True)

    def requirements(self) -> Requirements:
        """What this analyzer consumes; may depend on its parameters (e.g. a frame rate)."""
        return Requirements()

    def model_info(self) -> ModelInfo | None:
        """The model this analyzer uses, for the manifest; ``None`` for model-free analyzers."""
        return None

    def setup(self) -> None:
        """Load models.  Called once per worker, before the first input."""

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> Any:
        """Create the per-input state.  ``inputs`` names the tracks that will be delivered for
        this input (a subset of the required and optional tracks)."""
        return None

    def process_batch(self, state: Any, items: Sequence[Item]) -> Iterable[Record]:
        """Turn a batch of items (in time order) into records."""
        return ()

    def finish(self, state: Any) -> Iterable[Record]:
        """Flush the per-input state at the end of the media."""
        return ()

    def report(self, state: Any) -> dict[str, Any]:
        """Counters for the run report (e.g. model calls saved), read after :meth:`finish`."""
        return {}

    def model_stats(self) -> dict[str, Any]:
        """Counters of the resident model across every input (e.g. model calls and batch
        sizes), for the run report of a model actor."""
        return {}

    def teardown(self) -> None:
        """Release models."""

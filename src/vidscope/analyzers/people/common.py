"""What the people analyzers share: the sidecar's life cycle, batching frames to it, and
holding per-frame results until the shot that contains them is known.

Shot records reach an analyzer only after the frames they cover (the shot detector closes a
shot when it sees the next one begin).  The model runs on every batch as it arrives; only the
small per-frame results wait, and are turned into records, with their shot and anything
computed over the whole shot (face ids, movement), when the covering shot record comes in or
at the end of the input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pydantic import Field

from vidscope.analyzers.base import (
    Analyzer,
    Availability,
    Frame,
    FrameSpec,
    Item,
    Params,
    Record,
    Requirements,
    TrackRecord,
)
from vidscope.analyzers.people import runtime
from vidscope.analyzers.people.gate import FACE_SCORE, NOBODY, UNGATED, PersonGate, Verdict
from vidscope.analyzers.shot_groups import ShotGroups
from vidscope.media.probe import MediaInfo
from vidscope.models.detectors import NANODET_ID


class PeopleParams(Params):
    """Parameters every people analyzer has."""

    python: str | None = Field(
        None,
        description=(
            f"Python of the people environment (default: ${runtime.ENV_VAR}, then the "
            "environment made by `vidscope setup people`)"
        ),
    )
    # Every people analyzer samples frames; each declares its own defaults and bounds.
    fps: float
    width: int


class GatedParams(PeopleParams):
    """Parameters of the people analyzers whose model assumes a person is there."""

    gate: bool = Field(
        True, description="keep a frame's person only with a face or person detection there"
    )


@dataclass(frozen=True, slots=True)
class Observation:
    """What the model said about one sampled frame."""

    start: float
    end: float
    width: int
    height: int
    result: dict[str, Any]
    verdict: Verdict = UNGATED
    """Whether the person the model claims in this frame is kept (see :mod:`.gate`)."""


@dataclass
class PeopleState:
    """Per-input state: the media and the observations waiting for their shot."""

    media: MediaInfo
    groups: ShotGroups[Observation] = field(default_factory=ShotGroups)


PP = TypeVar("PP", bound=PeopleParams)


class PeopleAnalyzer(Analyzer[PP]):
    """Base class: runs a sidecar model over sampled RGB frames.

    Subclasses set ``kind`` (the sidecar model) and implement :meth:`records`.  With
    ``by_shot`` the analyzer consumes the ``shots`` track and :meth:`records` gets the
    observations of one shot at a time; otherwise it gets each batch's observations at once.
    An analyzer whose parameters have ``gate`` implements :meth:`claim`, and each observation
    carries the gate's verdict on the person claimed, judged as its batch arrives.
    """

    kind: ClassVar[str]
    by_shot: ClassVar[bool] = True
    extra = "people"
    needs_video = True

    def configured(self) -> Availability:
        # The interpreter may come from this analyzer's own `python` parameter, so the check
        # needs the parameters (the class-level availability has no extra packages to check).
        return runtime.availability(self.kind, self.params.python)

    def requirements(self) -> Requirements:
        p = self.params
        frames = FrameSpec(fps=p.fps, width=p.width, format="rgb24")
        return Requirements(frames=frames, tracks=("shots",) if self.by_shot else ())

    def worker_config(self) -> dict[str, Any]:
        """Settings sent to the sidecar when it starts."""
        # The sidecar looks for faces as evidence only where the gate will ask for it.
        return {"gate_faces": FACE_SCORE} if self.gated else {}

    @property
    def gated(self) -> bool:
        """Whether claimed people need evidence (parameter ``gate``)."""
        return isinstance(self.params, GatedParams) and self.params.gate

    def gate_info(self) -> dict[str, str]:
        """The gate's models, for :meth:`model_info` (none with the gate off)."""
        if not self.gated:
            return {}
        faces = f"mediapipe {runtime.MEDIAPIPE} face detection (short, then full range)"
        return {"gate": f"{faces} + {NANODET_ID} person"}

    def claim(self, result: dict[str, Any]) -> tuple[bool, list[float] | None]:
        """Whether the sidecar's ``result`` claims a person, and the claim's box (None:
        anywhere in the frame)."""
        raise NotImplementedError

    def frame_meta(self, state: PeopleState, frame: Frame) -> dict[str, Any]:
        """Extra per-frame fields sent with the frame."""
        return {"time": frame.time}

    def records(self, shot: Record | None, observations: list[Observation]) -> list[Record]:
        """Records for ``observations`` (in time order), all inside ``shot`` when given."""
        raise NotImplementedError

    def setup(self) -> None:
        self._sidecar = runtime.Sidecar(
            self.kind,
            self.worker_config(),
            self.params.python,
        )
        self._sidecar.start()
        self._gate = PersonGate.load() if self.gated else None

    def teardown(self) -> None:
        sidecar = getattr(self, "_sidecar", None)
        if sidecar is not None:
            sidecar.close()

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> PeopleState:
        # A sidecar that died on an earlier input is restarted rather than failing every
        # later input of a long-lived engine.
        self._sidecar.start()
        return PeopleState(media)

    def process_batch(self, state: PeopleState, items: Sequence[Item]) -> Iterable[Record]:
        frames = [item for item in items if isinstance(item, Frame)]
        results = iter(
            self._sidecar.request(
                [f.image for f in frames], [self.frame_meta(state, f) for f in frames]
            )
        )
        step = 1.0 / self.params.fps
        fresh: list[Observation] = []
        for item in items:
            if isinstance(item, Frame):
                h, w = item.image.shape[:2]
                result = next(results)
                seen = Observation(
                    item.time, item.time + step, w, h, result, self._judge(item.image, result)
                )
                if self.by_shot:
                    state.groups.add(item.time, seen)
                else:
                    fresh.append(seen)
            elif isinstance(item, TrackRecord) and item.track == "shots":
                state.groups.add_shot(item.record)
        if not self.by_shot:
            return self.records(None, fresh) if fresh else []
        return self._release(state, final=False)

    def _judge(self, image: Any, result: dict[str, Any]) -> Verdict:
        if self._gate is None:
            return UNGATED
        claimed, box = self.claim(result)
        if not claimed:
            return NOBODY
        return self._gate.judge(image, box, result.get("faces", []))

    def finish(self, state: PeopleState) -> Iterable[Record]:
        return self._release(state, final=True)

    def _release(self, state: PeopleState, final: bool) -> list[Record]:
        out: list[Record] = []
        for shot, group in state.groups.ready(final):
            out.extend(self.records(shot, group))
        return out

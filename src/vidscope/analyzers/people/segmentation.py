"""Person segmentation: how much of each sampled frame is person, and where.

One record per sampled frame::

    {"start", "end", "person_share", "box": [x1, y1, x2, y2] | None,
     "basis", "confidence", "model_share", "mask"?}

``person_share`` is the share of the frame (0-1) whose MediaPipe Selfie Segmentation score
reaches ``threshold``; ``box`` bounds those pixels (normalised), None when there are none.
With ``mask_dir`` set, each frame's soft mask (0-255 grey PNG, frame size) is written there as
``<media name>_<time>.png`` and the record's ``mask`` names the file.

The model was trained on people near the camera (video calls): it is reliable for people who
fill a good part of the frame and weak for small figures in wide shots.  It also assumes there
is a person: on a leaf or a metal texture it marks most of the frame.  So with ``gate`` on (the
default) the person pixels count only with a face or a person detection inside their box
(:mod:`vidscope.analyzers.people.gate`): ``basis`` says which (``face``, ``person``; ``model``
with the gate off; None when no person is kept) and ``confidence`` is that detector's score.
Without evidence ``person_share`` is 0, ``box`` None and the frame's mask file is removed;
``model_share`` always keeps the share the model itself reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from vidscope.analyzers.base import Frame, ModelInfo, Record, Resources, TrackView
from vidscope.analyzers.people.common import (
    GatedParams,
    Observation,
    PeopleAnalyzer,
    PeopleState,
)
from vidscope.analyzers.people.runtime import MEDIAPIPE
from vidscope.media.probe import MediaInfo

MODELS = {"general": 0, "landscape": 1}


class SegmentationParams(GatedParams):
    """Parameters of :class:`SegmentationAnalyzer`."""

    client_settable = frozenset({"fps", "gate", "threshold"})

    fps: float = Field(2.0, gt=0, le=30, description="frames sampled per second")
    width: int = Field(480, ge=32, description="analysis width in pixels")
    model: Literal["general", "landscape"] = Field(
        "general", description="general (256x256 input) or landscape (144x256, faster)"
    )
    threshold: float = Field(0.5, gt=0, lt=1, description="mask score counted as person")
    mask_dir: str | None = Field(None, description="write each frame's mask PNG here")


class SegmentationAnalyzer(PeopleAnalyzer[SegmentationParams]):
    """Share and box of the frame covered by people, per sampled frame."""

    name = "segmentation"
    version = "2"
    description = "person segmentation: share of the frame that is person, and its box"
    kind = "segmentation"
    by_shot = False
    resources = Resources(cpus=1.0, batch_size=4)
    views = (
        TrackView(
            "segmentation",
            kind="line",
            title="person share",
            value="person_share",
            hi=1.0,
            order=70,
        ),
    )
    Params = SegmentationParams

    def model_info(self) -> ModelInfo | None:
        model = self.params.model
        return ModelInfo(
            id=f"mediapipe {MEDIAPIPE} selfie segmentation ({model})", extra=self.gate_info()
        )

    def worker_config(self) -> dict[str, Any]:
        p = self.params
        return {**super().worker_config(), "model": MODELS[p.model], "threshold": p.threshold}

    def claim(self, result: dict[str, Any]) -> tuple[bool, list[float] | None]:
        box = result["box"]
        return box is not None, box

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> PeopleState:
        mask_dir = self.params.mask_dir
        if mask_dir:
            Path(mask_dir).mkdir(parents=True, exist_ok=True)
        return super().start(media, inputs)

    def frame_meta(self, state: PeopleState, frame: Frame) -> dict[str, Any]:
        meta = super().frame_meta(state, frame)
        mask_dir = self.params.mask_dir
        if mask_dir:
            name = f"{Path(state.media.path).stem}_{frame.time:09.3f}.png"
            meta["mask"] = str((Path(mask_dir) / name).resolve())
        return meta

    def records(self, shot: Record | None, observations: list[Observation]) -> list[Record]:
        out: list[Record] = []
        for o in observations:
            box = o.result["box"]
            share = round(float(o.result["person_share"]), 4)
            kept = box is not None and o.verdict.admitted
            record: Record = {
                "start": round(o.start, 3),
                "end": round(o.end, 3),
                "person_share": share if kept else 0.0,
                "box": [round(float(v), 4) for v in box] if kept else None,
                "basis": o.verdict.basis if kept else None,
                "confidence": o.verdict.confidence if kept else None,
                "model_share": share,
            }
            if "mask" in o.result:
                if kept or box is None:
                    record["mask"] = Path(o.result["mask"]).name
                else:
                    # A mask drawing a person the gate found no evidence for would mislead.
                    Path(o.result["mask"]).unlink(missing_ok=True)
            out.append(record)
        return out

"""Body pose: MediaPipe Pose's 33 landmarks per sampled frame, and a summary per shot.

``pose`` has one record per sampled frame that shows a person::

    {"start", "end", "shot", "basis", "confidence",
     "people": [{"box": [x1, y1, x2, y2], "landmarks": 33 x [x, y, z, visibility]}]}

(x, y normalised to the frame; z is depth relative to the hips, in about the units of x;
visibility 0-1).  ``shot_pose`` has one record per shot::

    {"start", "end", "shot", "frames", "people", "frames_with_people", "movement",
     "unconfirmed"}

``people`` is the most people seen in one frame, ``frames_with_people`` the share of sampled
frames with someone, and ``movement`` the mean displacement of the landmarks visible in two
consecutive sampled frames, in frame widths per second (None without two such frames).

The pose model fits a skeleton to animals and textures too, with landmarks it calls visible,
so with ``gate`` on (the default) a frame's person is kept only with a face or a person
detection where the skeleton is (:mod:`vidscope.analyzers.people.gate`): ``basis`` says which
(``face``, ``person``; ``model`` with the gate off) and ``confidence`` is that detector's score.
The per-shot figures count kept people only; ``unconfirmed`` is the number of sampled frames
whose skeleton was dropped for want of evidence.

MediaPipe's Pose solution finds **one person per frame** (the most prominent): ``people`` is
at most 1, and in a crowd the record describes whoever the detector picked.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import numpy as np
from pydantic import Field

from vidscope.analyzers.base import ModelInfo, Record, Resources
from vidscope.analyzers.people.common import GatedParams, Observation, PeopleAnalyzer
from vidscope.analyzers.people.runtime import MEDIAPIPE


class PoseParams(GatedParams):
    """Parameters of :class:`PoseAnalyzer`."""

    client_settable = frozenset({"fps", "gate", "min_score", "min_visibility"})

    fps: float = Field(2.0, gt=0, le=30, description="frames sampled per second")
    width: int = Field(640, ge=32, description="analysis width in pixels")
    min_score: float = Field(0.5, gt=0, lt=1, description="lowest person detection score")
    min_visibility: float = Field(
        0.5, ge=0, le=1, description="landmarks less visible than this are left out of boxes"
    )


def person(landmarks: list[list[float]], min_visibility: float) -> dict[str, Any]:
    """Pure: one person as reported, with the box around the landmarks visible enough."""
    lm = np.asarray(landmarks, np.float64)
    visible = lm[lm[:, 3] >= min_visibility] if len(lm) else lm
    box = None
    if len(visible):
        x0, y0 = np.clip(visible[:, :2].min(axis=0), 0, 1)
        x1, y1 = np.clip(visible[:, :2].max(axis=0), 0, 1)
        box = [round(float(v), 4) for v in (x0, y0, x1, y1)]
    return {"box": box, "landmarks": [[round(float(v), 4) for v in p] for p in landmarks]}


def movement(observations: list[Observation], min_visibility: float) -> float | None:
    """Mean landmark speed (frame widths per second) over consecutive frames with a person."""
    speeds = []
    for a, b in itertools.pairwise(observations):
        if not (a.result["people"] and b.result["people"]) or b.start <= a.start:
            continue
        pa = np.asarray(a.result["people"][0]["landmarks"], np.float64)
        pb = np.asarray(b.result["people"][0]["landmarks"], np.float64)
        both = (pa[:, 3] >= min_visibility) & (pb[:, 3] >= min_visibility)
        if not both.any():
            continue
        # y is in frame heights: scale it to widths so a move counts the same either way.
        aspect = b.height / b.width
        delta = (pb[both, :2] - pa[both, :2]) * [1.0, aspect]
        speeds.append(float(np.linalg.norm(delta, axis=1).mean()) / (b.start - a.start))
    return round(float(np.mean(speeds)), 4) if speeds else None


class PoseAnalyzer(PeopleAnalyzer[PoseParams]):
    """Body landmarks per sampled frame (one person per frame) and a per-shot summary."""

    name = "pose"
    version = "2"
    description = "body pose: 33 landmarks per frame (one person), people and movement per shot"
    tracks = ("pose", "shot_pose")
    kind = "pose"
    resources = Resources(cpus=1.0, batch_size=4)
    # People per frame are counted in the report's composite faces/people lane.
    views = ()
    Params = PoseParams

    def model_info(self) -> ModelInfo | None:
        return ModelInfo(
            id=f"mediapipe {MEDIAPIPE} pose (BlazePose full, model_complexity=1)",
            extra=self.gate_info(),
        )

    def worker_config(self) -> dict[str, Any]:
        return {**super().worker_config(), "min_score": self.params.min_score}

    def claim(self, result: dict[str, Any]) -> tuple[bool, list[float] | None]:
        people = result["people"]
        if not people:
            return False, None
        return True, person(people[0]["landmarks"], self.params.min_visibility)["box"]

    def records(self, shot: Record | None, observations: list[Observation]) -> list[Record]:
        p = self.params
        index = None if shot is None else shot["index"]
        unconfirmed = sum(bool(o.result["people"]) and not o.verdict.admitted for o in observations)
        # From here on, a skeleton without evidence is a frame without people.
        observations = [
            o if o.verdict.admitted else replace(o, result={**o.result, "people": []})
            for o in observations
        ]
        out: list[Record] = [
            {
                "start": round(o.start, 3),
                "end": round(o.end, 3),
                "shot": index,
                "basis": o.verdict.basis,
                "confidence": o.verdict.confidence,
                "people": [person(x["landmarks"], p.min_visibility) for x in o.result["people"]],
            }
            for o in observations
            if o.result["people"]
        ]
        if shot is not None:
            counts = [len(o.result["people"]) for o in observations]
            out.append(
                {
                    "_track": "shot_pose",
                    "start": shot["start"],
                    "end": shot["end"],
                    "shot": index,
                    "frames": len(observations),
                    "people": max(counts, default=0),
                    "frames_with_people": (
                        round(sum(c > 0 for c in counts) / len(counts), 3) if counts else None
                    ),
                    "movement": movement(observations, p.min_visibility),
                    "unconfirmed": unconfirmed,
                }
            )
        return out

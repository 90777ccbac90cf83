"""Faces: boxes, a few landmarks, gaze, eye openness and expression, with ids within a shot.

One record per sampled frame that shows at least one face::

    {"start", "end", "shot", "basis": "face", "confidence",
     "faces": [{"id", "box": [x1, y1, x2, y2], "score",
                "landmarks": {name: [x, y]}, "head": {"yaw", "pitch"},
                "gaze": {"yaw", "pitch"}, "looking_at_camera": bool,
                "eyes_open": {"left": bool, "right": bool}, "eye_ratio": {"left", "right"},
                "expression": {"label", "scores": {label: p}}}]}

``confidence`` is the best face's detection score: faces are their own evidence of a person
(``basis``, as in the gated ``pose`` and ``segmentation`` records).  Every field after ``score``
is None when the face mesh could not be fitted (tiny or profile faces), ``gaze`` and
``looking_at_camera`` also while both eyes are shut (the mesh then only guesses the irises),
``expression`` when it is switched off.

Coordinates are normalised to the frame (0-1).  ``left``/``right`` are the person's own (the
person's left eye is usually on the image's right).  Angles are degrees: yaw > 0 turns toward
the image's right, pitch > 0 looks up; ``head`` comes from the 3-D face mesh, ``gaze`` adds the
iris' offset between the eye corners and lids to it.  Both are coarse, uncalibrated estimates;
"looking at the camera" means the gaze points within ``gaze_tolerance`` of straight at the
lens.  An eye counts as open while its aspect ratio (lid gap over eye width; about 0.3 for an
open human eye, under 0.15 for a shut one) reaches ``eye_closed_ratio``.  Expressions are
FER's seven classes, which were trained on photographs of people.

Detection is MediaPipe's BlazeFace, short range (faces filling much of the frame) and/or full
range (smaller faces, further away): ``both`` (the default) runs the two and merges them,
because close-ups and background faces need different models.  The 478-point face mesh with
irises is fitted on a crop around each detected face.  Ids follow faces by box overlap within a
shot and start again at 0 in every shot: they do not recognise a person across shots.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import Field

from vidscope.analyzers.base import ModelInfo, Record, Resources
from vidscope.analyzers.boxes import iou
from vidscope.analyzers.people.common import Observation, PeopleAnalyzer, PeopleParams
from vidscope.analyzers.people.runtime import MEDIAPIPE

EXPRESSIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# Face-mesh indices.  Reported landmarks, in output order:
NAMED = {
    "right_eye_outer": 33,
    "right_eye_inner": 133,
    "left_eye_inner": 362,
    "left_eye_outer": 263,
    "right_iris": 468,
    "left_iris": 473,
    "nose_tip": 1,
    "mouth_right": 61,
    "mouth_left": 291,
}
# Per eye: the corner on the image's left, on its right, then two upper/lower lid pairs for
# the aspect ratio, the mid lids, and the iris centre.
EYES: dict[str, dict[str, Any]] = {
    "right": {
        "corners": (33, 133),
        "lids": ((160, 144), (158, 153)),
        "mid": (159, 145),
        "iris": NAMED["right_iris"],
    },
    "left": {
        "corners": (362, 263),
        "lids": ((385, 380), (387, 373)),
        "mid": (386, 374),
        "iris": NAMED["left_iris"],
    },
}
FOREHEAD, CHIN = 10, 152
POINTS = sorted(
    {
        *NAMED.values(),
        *(i for eye in EYES.values() for pair in eye["lids"] for i in pair),
        *(i for eye in EYES.values() for i in (*eye["corners"], *eye["mid"], eye["iris"])),
        FOREHEAD,
        CHIN,
    }
)
# An eyeball's radius is about 0.42 of the visible eye's width (12 mm against 28-30 mm), so an
# iris displaced by r half-widths from the eye's centre is rotated by asin(r / 0.84).
_EYE_RADIUS = 0.84


class FacesParams(PeopleParams):
    """Parameters of :class:`FacesAnalyzer`."""

    client_settable = frozenset(
        {
            "fps", "detector", "min_score", "max_faces", "mesh", "expression",
            "gaze_tolerance", "eye_closed_ratio", "track_gap",
        }
    )  # fmt: skip

    fps: float = Field(5.0, gt=0, le=30, description="frames sampled per second")
    width: int = Field(640, ge=32, description="analysis width in pixels")
    detector: Literal["short", "full", "both"] = Field(
        "both", description="BlazeFace short range (close-ups), full range (far), or both merged"
    )
    min_score: float = Field(0.6, gt=0, lt=1, description="lowest detection score kept")
    max_faces: int = Field(8, ge=1, le=100, description="most faces reported per frame")
    mesh: bool = Field(True, description="fit the face mesh: landmarks, gaze and eyes")
    expression: bool = Field(True, description="classify facial expression (FER, 7 classes)")
    gaze_tolerance: float = Field(
        12.0, gt=0, le=90, description="degrees off the lens still counted as looking at the camera"
    )
    eye_closed_ratio: float = Field(
        0.18, gt=0, le=1, description="eye aspect ratio below which an eye counts as closed"
    )
    track_gap: float = Field(
        1.0, ge=0, le=600, description="seconds a face may go unseen and keep its id"
    )


def _xy(points: dict[int, np.ndarray], i: int) -> np.ndarray:
    return points[i][:2]


def eye_ratio(points: dict[int, np.ndarray], eye: str) -> float:
    """Eye aspect ratio: mean lid gap over eye width (about 0.3 open, under 0.15 shut)."""
    spec = EYES[eye]
    width = np.linalg.norm(_xy(points, spec["corners"][1]) - _xy(points, spec["corners"][0]))
    gaps = [np.linalg.norm(_xy(points, a) - _xy(points, b)) for a, b in spec["lids"]]
    return float(np.mean(gaps) / width) if width > 0 else 0.0


def head_angles(points: dict[int, np.ndarray]) -> tuple[float, float]:
    """Head yaw and pitch (degrees) from the face mesh's 3-D points in pixel units."""
    across = (points[263] - points[33]) + (points[291] - points[61])
    up = points[FOREHEAD] - points[CHIN]
    # x right, y down, z away from the camera: across x up points at the camera when frontal.
    normal = np.cross(across, up)
    norm = np.linalg.norm(normal)
    if norm == 0:
        return 0.0, 0.0
    nx, ny, nz = normal / norm
    yaw = math.degrees(math.atan2(nx, -nz))
    pitch = math.degrees(math.atan2(-ny, math.hypot(nx, nz)))
    return yaw, pitch


def eye_angles(points: dict[int, np.ndarray], eye: str) -> tuple[float, float]:
    """The eye's rotation in the head (yaw, pitch in degrees) from where its iris sits."""
    spec = EYES[eye]
    a, b = _xy(points, spec["corners"][0]), _xy(points, spec["corners"][1])
    axis = b - a
    half = float(np.linalg.norm(axis)) / 2
    if half == 0:
        return 0.0, 0.0
    along = axis / (2 * half)
    upward = np.array([along[1], -along[0]])  # perpendicular, toward the top of the image
    iris = _xy(points, spec["iris"])
    lids = (_xy(points, spec["mid"][0]) + _xy(points, spec["mid"][1])) / 2
    r_x = float(np.dot(iris - (a + b) / 2, along)) / half
    r_y = float(np.dot(iris - lids, upward)) / half

    def angle(r: float) -> float:
        return math.degrees(math.asin(max(-1.0, min(1.0, r / _EYE_RADIUS))))

    return angle(r_x), angle(r_y)


def describe(raw: dict[str, Any], width: int, height: int, p: FacesParams) -> dict[str, Any]:
    """Pure: one sidecar face (box, score, mesh points, expression scores) as reported."""
    face: dict[str, Any] = {
        "box": [round(float(v), 4) for v in raw["box"]],
        "score": round(float(raw["score"]), 3),
        "landmarks": None,
        "head": None,
        "gaze": None,
        "looking_at_camera": None,
        "eyes_open": None,
        "eye_ratio": None,
        "expression": None,
    }
    mesh = raw.get("landmarks")
    if mesh:
        normalised = dict(zip(POINTS, mesh, strict=True))
        face["landmarks"] = {
            name: [round(float(v), 4) for v in normalised[i][:2]] for name, i in NAMED.items()
        }
        scale = np.array([width, height, width], np.float64)
        points = {i: np.asarray(xyz, np.float64) * scale for i, xyz in normalised.items()}
        head_yaw, head_pitch = head_angles(points)
        eyes = [eye_angles(points, e) for e in EYES]
        # Both eyes measure toward the image's right and up, as the head's angles do.
        yaw = head_yaw + float(np.mean([e[0] for e in eyes]))
        pitch = head_pitch + float(np.mean([e[1] for e in eyes]))
        ratios = {e: eye_ratio(points, e) for e in EYES}
        face["head"] = {"yaw": round(head_yaw, 1), "pitch": round(head_pitch, 1)}
        face["eye_ratio"] = {e: round(r, 3) for e, r in ratios.items()}
        face["eyes_open"] = {e: r >= p.eye_closed_ratio for e, r in ratios.items()}
        # Behind closed lids the mesh only guesses where the irises are.
        if any(face["eyes_open"].values()):
            face["gaze"] = {"yaw": round(yaw, 1), "pitch": round(pitch, 1)}
            face["looking_at_camera"] = math.hypot(yaw, pitch) <= p.gaze_tolerance
    scores = raw.get("expression")
    if scores:
        best = int(np.argmax(scores))
        face["expression"] = {
            "label": EXPRESSIONS[best],
            "scores": {k: round(float(v), 3) for k, v in zip(EXPRESSIONS, scores, strict=True)},
        }
    return face


def _near(a: list[float], b: list[float]) -> bool:
    """Centres closer than half the larger box: the same face after a quick move."""
    dx = (a[0] + a[2] - b[0] - b[2]) / 2
    dy = (a[1] + a[3] - b[1] - b[3]) / 2
    size = max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1])
    return math.hypot(dx, dy) < size / 2


def assign_ids(frames: list[tuple[float, list[list[float]]]], max_gap: float) -> list[list[int]]:
    """Pure: ids for the boxes of each ``(time, boxes)`` frame of one shot.

    Greedy matching, best overlap first, against the faces seen within ``max_gap`` seconds;
    a box that matches none starts a new id (0, 1, ... in order of appearance).
    """
    tracks: list[tuple[float, list[float]]] = []  # id -> (last seen, last box)
    out: list[list[int]] = []
    for time, boxes in frames:
        live = [k for k, (seen, _) in enumerate(tracks) if time - seen <= max_gap + 1e-9]
        pairs = []
        for k in live:
            for j, box in enumerate(boxes):
                overlap = iou(tracks[k][1], box)
                if overlap >= 0.2 or _near(tracks[k][1], box):
                    pairs.append((overlap, k, j))
        ids = [-1] * len(boxes)
        used: set[int] = set()
        for _, k, j in sorted(pairs, reverse=True):
            if k not in used and ids[j] < 0:
                ids[j] = k
                used.add(k)
        for j in sorted(range(len(boxes)), key=lambda j: boxes[j][0]):
            if ids[j] < 0:
                ids[j] = len(tracks)
                tracks.append((time, boxes[j]))
        for j, k in enumerate(ids):
            tracks[k] = (time, boxes[j])
        out.append(ids)
    return out


class FacesAnalyzer(PeopleAnalyzer[FacesParams]):
    """Faces per sampled frame, with mesh landmarks, gaze, eyes and expression."""

    name = "faces"
    version = "2"
    description = "faces: boxes, landmarks, gaze, eyes open, expression; ids within a shot"
    kind = "faces"
    resources = Resources(cpus=1.0, batch_size=8)
    # Faces per frame are counted in the report's composite faces/people lane.
    views = ()
    Params = FacesParams

    def model_info(self) -> ModelInfo | None:
        p = self.params
        return ModelInfo(
            id=f"mediapipe {MEDIAPIPE} face detection ({p.detector} range) + face mesh with iris",
            extra={"expression": "fer 25.10.3 emotion_model_quantized.tflite (7 classes)"},
        )

    def worker_config(self) -> dict[str, Any]:
        p = self.params
        return {
            "detector": p.detector,
            "min_score": p.min_score,
            "max_faces": p.max_faces,
            "landmarks": POINTS if p.mesh else [],
            "expression": p.expression,
        }

    def records(self, shot: Record | None, observations: list[Observation]) -> list[Record]:
        p = self.params
        seen = [o for o in observations if o.result["faces"]]
        boxes = [(o.start, [f["box"] for f in o.result["faces"]]) for o in seen]
        ids = assign_ids(boxes, p.track_gap)
        out: list[Record] = []
        for o, frame_ids in zip(seen, ids, strict=True):
            faces = [
                {"id": k, **describe(raw, o.width, o.height, p)}
                for k, raw in zip(frame_ids, o.result["faces"], strict=True)
            ]
            out.append(
                {
                    "start": round(o.start, 3),
                    "end": round(o.end, 3),
                    "shot": None if shot is None else shot["index"],
                    "basis": "face",
                    "confidence": max(f["score"] for f in faces),
                    "faces": sorted(faces, key=lambda f: f["id"]),
                }
            )
        return out

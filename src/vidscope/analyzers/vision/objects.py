"""COCO objects, detected in sampled frames and tracked within each shot.

**Detection.**  Frames are sampled at ``fps`` (2 per second by default) at ``width`` pixels
(640: the detector resizes to its own input anyway, so a smaller frame saves scaling work and
loses nothing) and go through the bundled NanoDet-m (80 COCO classes, see
``vidscope/models/data/NANODET.md``) or a YOLO ONNX export named by ``model``, as they arrive.

**Tracking.**  Shot records come on their own schedule (after the frames they cover when both
are computed live, all at once when the shot track is reused), so each frame's detections wait
until a frame past the end of their shot has been seen, or the media ends; then ByteTrack
(the ``trackers`` package, through :mod:`vidscope.analyzers.vision.tracking`) runs over the
shot's frames at the sampling rate, starting afresh at every shot: an object is never followed
across a cut.  A track must be seen in ``min_frames`` sampled frames (every sampled frame of a
shorter shot will do) to be reported.  Ids count the reported tracks of the whole video from 1,
in order of shot and then of first appearance, so an id never appears in two shots.

Records of track ``objects``, one per object track::

    {start, end, id, label, class_id, shot, score, max_score, frames,
     boxes: [[t, x1, y1, x2, y2], ...]}

``end`` is half-open (the last frame showing the object plus one sampling step, capped at the
shot's end), ``score`` the mean and ``max_score`` the best detection confidence, ``frames`` the
number of sampled frames it was detected in, and ``boxes`` one detection box per such frame,
as fractions (0–1) of the displayed frame's width and height.

Records of track ``shot_objects``, one per shot::

    {start, end, shot, counts: {label: n}, summary: "3 people, a cup", tracks}

``counts`` is the largest number of tracks of each label seen in one frame of the shot, most
numerous first, ``summary`` the same in words, ``tracks`` the number of object tracks.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import Field

from vidscope.analyzers.base import (
    Analyzer,
    Availability,
    Frame,
    FrameSpec,
    Item,
    ModelInfo,
    Params,
    Record,
    Requirements,
    Resources,
    TrackRecord,
    TrackView,
)
from vidscope.analyzers.shot_groups import ShotGroups
from vidscope.errors import ModelError, UsageError
from vidscope.media.probe import MediaInfo
from vidscope.models.detectors import NANODET_ID, Detections, Detector

if TYPE_CHECKING:
    from vidscope.analyzers.vision.tracking import Track


class ObjectsParams(Params):
    client_settable = frozenset(
        {"fps", "score", "low_score", "iou", "classes", "min_frames", "lost_seconds"}
    )

    fps: float = Field(2.0, gt=0, le=30, description="frames sampled per second")
    width: int = Field(640, ge=32, description="frame width given to the detector (pixels)")
    model: str | None = Field(
        None, description="a YOLO ONNX export (Ultralytics layout); default: bundled NanoDet-m"
    )
    score: float = Field(
        0.35, gt=0, le=1, description="confidence that starts a track (NanoDet-m: 0.35)"
    )
    low_score: float = Field(
        0.2, gt=0, le=1, description="weaker detections down to this only extend tracks"
    )
    iou: float = Field(0.5, gt=0, le=1, description="IoU above which same-class boxes merge")
    classes: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None, max_length=1000, description="labels to keep (default: all)"
    )
    min_frames: int = Field(
        2, ge=1, le=1000, description="sampled frames a track needs to be reported"
    )
    lost_seconds: float = Field(
        2.0, ge=0, le=600, description="how long an undetected object may still be picked up again"
    )
    threads: int = Field(
        2, ge=1, description="onnxruntime threads per frame (2: lower latency, same CPU time)"
    )


@dataclass(frozen=True, slots=True)
class _Sampled:
    time: float
    detections: Detections
    size: tuple[int, int]
    """Width and height of the frame the boxes are in."""


@dataclass
class _State:
    groups: ShotGroups[_Sampled] = field(default_factory=ShotGroups)
    next_id: int = 1
    sampled: int = 0
    detections: int = 0


_PLURALS = {"person": "people", "mouse": "mice", "knife": "knives", "sheep": "sheep"}
_UNCOUNTABLE = {"broccoli"}
_PAIRS = {"skis", "scissors"}


def count_phrase(label: str, n: int) -> str:
    """``"a cup"``, ``"an apple"``, ``"3 people"``, ``"2 wine glasses"``."""
    if label in _PAIRS:
        return f"a pair of {label}" if n == 1 else f"{n} pairs of {label}"
    if label in _UNCOUNTABLE:
        return label if n == 1 else f"{n} pieces of {label}"
    if n == 1:
        return f"{'an' if label[:1].lower() in 'aeiou' else 'a'} {label}"
    if label in _PLURALS:
        return f"{n} {_PLURALS[label]}"
    suffix = "es" if label.endswith(("s", "sh", "ch", "x", "z")) else "s"
    return f"{n} {label}{suffix}"


def summary(counts: dict[str, int]) -> str:
    """The counts in words, in their order: ``"3 people, a cup, a wine glass"``."""
    return ", ".join(count_phrase(label, n) for label, n in counts.items())


TRACKERS = "trackers==2.6.1"
"""The ByteTrack package, installed with ``--no-deps``: it requires opencv-python, a second
build of ``cv2`` that would replace the headless one (``vidscope[vision]`` lists its other
requirements, ``scripts/setup.sh`` installs it)."""


class ObjectsAnalyzer(Analyzer[ObjectsParams]):
    """Objects per shot: tracks with boxes, and a per-shot count of what is on screen."""

    name = "objects"
    version = "1"
    description = "COCO objects tracked within shots, with per-shot counts (NanoDet-m or YOLO)"
    tracks = ("objects", "shot_objects")
    extra = "vision"
    dependencies = ("onnxruntime", "cv2", "trackers")
    needs_video = True
    resources = Resources(cpus=1.0, batch_size=4)
    views = (TrackView("objects", label="{label}", rows=True, tint=True, order=80),)
    Params = ObjectsParams

    @classmethod
    def availability(cls) -> Availability:
        found = super().availability()
        if found.ok or importlib.util.find_spec("trackers") is not None:
            return found
        # An extra cannot install trackers without its dependencies, so the fix takes two steps.
        return Availability(
            False,
            found.reason,
            f"pip install 'vidscope[vision]' && pip install --no-deps {TRACKERS}",
        )

    def __init__(self, params: ObjectsParams | None = None, *, device: str = "cpu") -> None:
        super().__init__(params, device=device)
        self._detector: Detector | None = None
        self._keep: np.ndarray | None = None
        self._tracker: Callable[[Sequence[Detections]], list[Track]] | None = None

    def requirements(self) -> Requirements:
        p = self.params
        return Requirements(
            frames=FrameSpec(fps=p.fps, width=p.width, format="bgr24"), tracks=("shots",)
        )

    def model_info(self) -> ModelInfo | None:
        from vidscope.models.detectors import resolve_detector

        p = self.params
        try:
            model = resolve_detector(p.model)
        except ModelError:
            # setup() raises the same error where the engine reports it for this track only.
            return ModelInfo(id=NANODET_ID if p.model is None else str(p.model))
        return ModelInfo(model.id, str(model.file), model.sha256, {"source": model.source})

    def setup(self) -> None:
        # Imported here, not with this module: trackers (with supervision and scipy) takes
        # about 0.7 s to load.
        from vidscope.analyzers.vision.tracking import ByteTrackConfig, track_shot
        from vidscope.models.detectors import load_detector

        p = self.params
        detector = load_detector(
            p.model,
            score=min(p.score, p.low_score),
            iou=p.iou,
            threads=p.threads,
            device=self.device,
        )
        if p.classes is not None:
            unknown = sorted(set(p.classes) - set(detector.names))
            if unknown:
                raise UsageError(
                    f"objects: unknown class(es) {', '.join(map(repr, unknown))} for "
                    f"{detector.model.id} (known: {', '.join(detector.names)})"
                )
            self._keep = np.array([detector.names.index(c) for c in p.classes], np.int64)
        self._detector = detector
        self._tracker = partial(
            track_shot,
            config=ByteTrackConfig(
                score=p.score,
                low_score=min(p.low_score, p.score),
                lost_seconds=p.lost_seconds,
                fps=p.fps,
            ),
        )

    def detect(self, image: np.ndarray) -> Detections:
        """The detections of one BGR frame that pass the ``classes`` filter."""
        assert self._detector is not None, "setup() was not called"
        found = self._detector.detect(image)
        if self._keep is not None:
            found = found[np.isin(found.class_ids, self._keep)]
        return found

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> _State:
        return _State()

    def process_batch(self, state: _State, items: Sequence[Item]) -> Iterable[Record]:
        for item in items:
            if isinstance(item, TrackRecord):
                state.groups.add_shot(item.record)
                continue
            assert isinstance(item, Frame)
            found = self.detect(item.image)
            h, w = item.image.shape[:2]
            state.groups.add(item.time, _Sampled(item.time, found, (w, h)))
            state.sampled += 1
            state.detections += len(found)
        return self._close_shots(state, final=False)

    def finish(self, state: _State) -> Iterable[Record]:
        return self._close_shots(state, final=True)

    def report(self, state: _State) -> dict[str, Any]:
        return {"frames_detected": state.sampled, "detections": state.detections}

    def teardown(self) -> None:
        self._detector = self._tracker = None

    def _close_shots(self, state: _State, final: bool) -> list[Record]:
        out: list[Record] = []
        for shot, frames in state.groups.ready(final):
            if shot is None:
                # Frames after the last shot (none when the shot list tiles the video).
                step = 1 / self.params.fps
                span = {"start": frames[0].time, "end": frames[-1].time + step}
                out += self._shot_records(state, span, None, frames)
            else:
                out += self._shot_records(state, shot, int(shot["index"]), frames)
        return out

    def _shot_records(
        self, state: _State, shot: Record, index: int | None, frames: list[_Sampled]
    ) -> list[Record]:
        """Records of one shot: its object tracks, then (for a real shot) its counts."""
        p = self.params
        assert self._detector is not None and self._tracker is not None
        names = self._detector.names
        found = self._tracker([f.detections for f in frames])
        need = min(p.min_frames, len(frames))
        shot_end, step = float(shot["end"]), 1 / p.fps
        per_frame: list[Counter[str]] = [Counter() for _ in frames]
        out: list[Record] = []
        for track in (t for t in found if len(t.frames) >= need):
            label = names[track.class_id]
            boxes = []
            for f, box in zip(track.frames, track.boxes, strict=True):
                per_frame[f][label] += 1
                w, h = frames[f].size
                xyxy = np.clip(np.asarray(box) / (w, h, w, h), 0.0, 1.0)
                boxes.append([frames[f].time, *(round(float(v), 4) for v in xyxy)])
            out.append(
                {
                    "_track": "objects",
                    "start": frames[track.frames[0]].time,
                    "end": min(frames[track.last].time + step, shot_end),
                    "id": state.next_id,
                    "label": label,
                    "class_id": track.class_id,
                    "shot": index,
                    "score": round(float(np.mean(track.scores)), 3),
                    "max_score": round(float(np.max(track.scores)), 3),
                    "frames": len(track.frames),
                    "boxes": boxes,
                }
            )
            state.next_id += 1
        if index is None:
            return out
        counts: Counter[str] = Counter()
        for frame_counts in per_frame:
            counts |= frame_counts  # union keeps the largest count per label
        ranked = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        out.append(
            {
                "_track": "shot_objects",
                "start": shot["start"],
                "end": shot["end"],
                "shot": index,
                "counts": ranked,
                "summary": summary(ranked),
                "tracks": len(out),
            }
        )
        return out

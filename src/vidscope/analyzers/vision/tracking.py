"""Stable ids for the objects of one shot: ByteTrack (Zhang et al., ECCV 2022) as implemented
by Roboflow's ``trackers`` package, run over the shot's sampled frames.

Every detection from ``low_score`` up takes part in the association: confident ones
(``score`` and above) are matched first and may start tracks, weaker ones may only extend
tracks, which keeps a track alive through a frame where the detector hesitated.  A new track is
confirmed when it is matched again in the next frame (at once in a shot's first frame, as in
the paper) and dropped otherwise.  Boxes of different classes never share a track.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from vidscope.models.detectors import Detections

_LIBRARY_FPS = 30.0
"""``ByteTrackTracker`` counts ``lost_track_buffer`` in frames at this rate, scaled by its
``frame_rate`` to frames of the video it is given."""


@dataclass(frozen=True)
class ByteTrackConfig:
    score: float = 0.35
    """Detections at least this confident are matched first and may start tracks."""
    low_score: float = 0.2
    """Weaker detections down to this score may only extend tracks."""
    lost_seconds: float = 2.0
    """How long a track may go undetected and still be picked up again."""
    fps: float = 2.0
    """Rate at which the frames given to :func:`track_shot` were sampled."""
    match_iou: float = 0.3
    """Overlap a detection needs with a track's predicted box.  The library uses one threshold
    for both stages where the paper has 0.2 for confident and 0.5 for weak detections: lower
    lets a loose weak box of a neighbouring person take over a track, higher loses objects that
    move far between frames sampled a few times a second."""


@dataclass
class Track:
    """One object followed through a shot: its detections, frame by frame."""

    class_id: int
    frames: list[int] = field(default_factory=list)
    """Positions, in the shot's frame list, of the frames where the object was detected."""
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    @property
    def last(self) -> int:
        return self.frames[-1]

    def add(self, frame: int, box: np.ndarray, score: float) -> None:
        self.frames.append(frame)
        self.boxes.append(box)
        self.scores.append(score)


class _ClassTracker:
    """ByteTrack over the detections of one class.

    ``ByteTrackTracker`` ignores classes, so each class gets its own: association within a
    class is then exactly the class-aware matching, with no box offsets or post-hoc splitting
    of tracks that swallowed another class's detection.
    """

    def __init__(self, class_id: int, config: ByteTrackConfig) -> None:
        self.class_id = class_id
        self.tracker = ByteTrackTracker(
            lost_track_buffer=round(config.lost_seconds * _LIBRARY_FPS),
            frame_rate=config.fps,
            track_activation_threshold=config.score,
            high_conf_det_threshold=config.score,
            minimum_consecutive_frames=2,
            minimum_iou_threshold=config.match_iou,
        )
        self.confirmed: dict[int, Track] = {}
        # The library reports a track's first detection with tracker_id -1, before the track
        # has an id, so that detection is kept with the tracklet until the id comes.
        self.pending: dict[Any, Track] = {}

    def update(self, frame: int, dets: Detections) -> None:
        out = self.tracker.update(
            sv.Detections(
                xyxy=dets.boxes, confidence=dets.scores, data={"row": np.arange(len(dets))}
            )
        )
        for tracklet in self.tracker.tracks:
            if tracklet.tracker_id != -1 and tracklet in self.pending:
                self.confirmed[tracklet.tracker_id] = self.pending.pop(tracklet)
        rows = out.data.get("row", np.zeros(0, np.int64))
        assert out.tracker_id is not None  # the tracker gives every row an id (-1: unconfirmed)
        for tracker_id, row in zip(out.tracker_id, rows, strict=True):
            if tracker_id != -1:
                self.confirmed[tracker_id].add(frame, dets.boxes[row], float(dets.scores[row]))
        unclaimed = [int(r) for t, r in zip(out.tracker_id, rows, strict=True) if t == -1]
        for tracklet in self.tracker.tracks:
            if tracklet.tracker_id != -1 or tracklet in self.pending or not unclaimed:
                continue
            # A tracklet starts exactly on the box that spawned it.
            gap = np.abs(dets.boxes[unclaimed] - tracklet.get_state_bbox()).sum(axis=1)
            row = unclaimed.pop(int(np.argmin(gap)))
            self.pending[tracklet] = track = Track(self.class_id)
            track.add(frame, dets.boxes[row], float(dets.scores[row]))

    def tracks(self) -> list[Track]:
        first = [t for t in self.pending.values() if t.frames[0] == 0]
        return [*self.confirmed.values(), *first]


def track_shot(frames: Sequence[Detections], config: ByteTrackConfig) -> list[Track]:
    """Confirmed tracks of one shot, given each sampled frame's detections in time order."""
    per_class: dict[int, _ClassTracker] = {}
    for f, dets in enumerate(frames):
        dets = dets[dets.scores >= min(config.low_score, config.score)]
        for c in np.unique(dets.class_ids).tolist():
            if c not in per_class:
                per_class[c] = _ClassTracker(c, config)
        # Classes absent from this frame still step, so that their lost tracks age.
        for c, tracker in per_class.items():
            tracker.update(f, dets[dets.class_ids == c])
    found = [t for tracker in per_class.values() for t in tracker.tracks()]
    return sorted(found, key=lambda t: (t.frames[0], -t.scores[0]))

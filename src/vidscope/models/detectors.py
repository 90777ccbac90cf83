"""Object detectors on ONNX Runtime: the bundled NanoDet-m and YOLO exports a user points at.

Both take a BGR ``uint8`` image of any size and return :class:`Detections` in that image's
pixel coordinates.

- **NanoDet-m** (COCO-80, 416×416) ships inside vidscope (``data/nanodet_m_coco_416.onnx``,
  see ``data/NANODET.md``) and is verified against its pinned SHA-256 on every load.  Its
  decoding follows the reference implementation: stretch resize, BGR, mean/std
  normalisation, per-cell best class, distances from a softmax over 11 bins per side.
- **YOLO exports** in the Ultralytics layout: input ``[1, 3, H, W]`` RGB in 0–1, letterboxed
  with grey (114) padding; output ``[1, 4 + nc, N]`` (YOLOv8/11: centre, size, class scores)
  or ``[1, N, 5 + nc]`` (YOLOv5: centre, size, objectness, class scores).  Class names come
  from the ``names`` metadata Ultralytics writes, else COCO-80 when there are 80 classes.
  End-to-end exports with built-in NMS (``[1, 300, 6]``) are not supported.

onnxruntime and OpenCV are imported when a detector is loaded, not when this module is.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidscope.errors import ModelError
from vidscope.models.resolve import ResolvedModel, sha256_file, verify

COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich",
    "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

NANODET_FILE = Path(__file__).with_name("data") / "nanodet_m_coco_416.onnx"
NANODET_SHA256 = "5dbcdd01edc0c38c7f396dbc9f688e18579f8c65ef91ab127e9f8d518d9cdd45"
NANODET_ID = "nanodet-m coco 416"

MAX_DETECTIONS = 300
"""Kept per image after NMS, best first (as Ultralytics does)."""


@dataclass(frozen=True, slots=True)
class Detections:
    """Detections of one image as parallel arrays, best score first."""

    boxes: np.ndarray
    """``(n, 4)`` float32 ``x1, y1, x2, y2`` in pixels of the image given to the detector."""
    scores: np.ndarray
    """``(n,)`` float32 confidences in 0–1."""
    class_ids: np.ndarray
    """``(n,)`` int64 indices into the detector's ``names``."""

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, index: Any) -> Detections:
        """The detections picked by an index array or boolean mask."""
        return Detections(self.boxes[index], self.scores[index], self.class_ids[index])


def nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy per-class non-maximum suppression, best score first.

    Boxes of different classes are shifted apart so that one pass never lets them suppress
    each other.
    """
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    shifted = boxes + (class_ids * (float(boxes.max()) + 1.0))[:, None]
    x1, y1, x2, y2 = shifted.T
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[overlap <= iou]
    return np.asarray(keep, np.int64)


def _finish(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou: float) -> Detections:
    """Drop empty boxes, suppress duplicates, keep the best :data:`MAX_DETECTIONS`."""
    solid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    found = Detections(boxes.astype(np.float32), scores.astype(np.float32), class_ids)[solid]
    return found[nms(found.boxes, found.scores, found.class_ids, iou)[:MAX_DETECTIONS]]


class Detector:
    """A loaded ONNX detector with its thresholds.  ``detect`` is safe to call from one thread
    at a time per detector (onnxruntime itself uses ``threads`` threads per call)."""

    def __init__(
        self, session: Any, model: ResolvedModel, names: tuple[str, ...], score: float, iou: float
    ) -> None:
        self.session = session
        self.model = model
        self.names = names
        self.score = score
        self.iou = iou
        self._input = session.get_inputs()[0].name

    def detect(self, image: np.ndarray) -> Detections:
        """Objects in one BGR ``uint8`` image, in its pixel coordinates."""
        raise NotImplementedError


class NanoDet(Detector):
    """The bundled NanoDet-m: three strides, each a class-score map and a box-distribution map."""

    MEAN = np.array([103.53, 116.28, 123.675], np.float32)
    SCALE = 1.0 / np.array([57.375, 57.12, 58.395], np.float32)

    def __init__(self, session: Any, model: ResolvedModel, score: float, iou: float) -> None:
        super().__init__(session, model, COCO_CLASSES, score, iou)
        _, _, self.height, self.width = session.get_inputs()[0].shape
        by_cells: dict[int, dict[str, str]] = {}
        for out in session.get_outputs():
            _, cells, channels = out.shape
            kind = "scores" if channels == len(COCO_CLASSES) else "dists"
            by_cells.setdefault(cells, {})[kind] = out.name
        # (score output, distance output, stride, cell centres), finest stride first.
        self.levels: list[tuple[str, str, int, np.ndarray]] = []
        for cells, names in sorted(by_cells.items(), reverse=True):
            side = math.isqrt(cells)
            stride = self.width // side
            ys, xs = np.divmod(np.arange(cells, dtype=np.float32), side)
            centres = np.stack([(xs + 0.5) * stride, (ys + 0.5) * stride], axis=1)
            self.levels.append((names["scores"], names["dists"], stride, centres))
        self._outputs = [name for level in self.levels for name in level[:2]]

    def detect(self, image: np.ndarray) -> Detections:
        import cv2

        h, w = image.shape[:2]
        resized = cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        blob = ((resized.astype(np.float32) - self.MEAN) * self.SCALE).transpose(2, 0, 1)
        results = self.session.run(self._outputs, {self._input: blob[None]})
        boxes, scores, class_ids = [], [], []
        for k, (_, _, stride, centres) in enumerate(self.levels):
            cls_map, dist_map = results[2 * k][0], results[2 * k + 1][0]
            best = cls_map.max(axis=1)
            keep = np.flatnonzero(best >= self.score)
            if not keep.size:
                continue
            bins = dist_map.shape[1] // 4
            logits = dist_map[keep].reshape(-1, 4, bins)
            prob = np.exp(logits - logits.max(axis=2, keepdims=True))
            dist = (prob @ np.arange(bins, dtype=np.float32)) / prob.sum(axis=2) * stride
            c = centres[keep]
            boxes.append(np.concatenate([c - dist[:, :2], c + dist[:, 2:]], axis=1))
            scores.append(best[keep])
            class_ids.append(cls_map[keep].argmax(axis=1))
        if not boxes:
            return Detections.empty()
        xyxy = np.concatenate(boxes)
        np.clip(xyxy[:, 0::2], 0, self.width, out=xyxy[:, 0::2])
        np.clip(xyxy[:, 1::2], 0, self.height, out=xyxy[:, 1::2])
        xyxy *= np.array([w / self.width, h / self.height] * 2, np.float32)
        return _finish(xyxy, np.concatenate(scores), np.concatenate(class_ids), self.iou)


def _metadata_names(meta: dict[str, str]) -> tuple[str, ...] | None:
    """Class names from Ultralytics metadata: ``"{0: 'person', 1: 'bicycle', ...}"``."""
    raw = meta.get("names")
    if raw is None:
        return None
    try:
        names = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return None
    if isinstance(names, dict):
        return tuple(str(names[k]) for k in sorted(names))
    if isinstance(names, list | tuple):
        return tuple(str(n) for n in names)
    return None


class YoloDetector(Detector):
    """An Ultralytics-layout YOLO export (v5 or v8/v11 head), letterboxed input."""

    PAD = 114

    def __init__(
        self,
        session: Any,
        model: ResolvedModel,
        names: tuple[str, ...] | None,
        size: tuple[int, int],
        score: float,
        iou: float,
    ) -> None:
        super().__init__(session, model, names or (), score, iou)
        self.height, self.width = size
        half = session.get_inputs()[0].type == "tensor(float16)"
        self.dtype: type[np.floating] = np.float16 if half else np.float32
        self._output = session.get_outputs()[0].name
        self._layout: str | None = None
        shape = session.get_outputs()[0].shape
        if all(isinstance(d, int) for d in shape[1:]):
            self._set_layout(tuple(shape[1:]))

    def _set_layout(self, shape: tuple[int, ...]) -> None:
        """Tell v8 ``(4 + nc, N)`` from v5 ``(N, 5 + nc)`` by the class count (the metadata's,
        else COCO's 80), and for an unnamed other count by which axis is the short one."""
        rows, cols = shape
        expected = len(self.names) or len(COCO_CLASSES)
        if rows == 4 + expected:
            layout, nc = "v8", expected
        elif cols == 5 + expected:
            layout, nc = "v5", expected
        elif not self.names and min(rows - 4, cols - 5) >= 1:
            layout, nc = ("v8", rows - 4) if rows < cols else ("v5", cols - 5)
        else:
            raise ModelError(
                f"{self.model.path}: output shape {list(shape)} is neither [4 + classes, boxes] "
                f"nor [boxes, 5 + classes] for {expected} classes"
            )
        if not self.names:
            self.names = (
                COCO_CLASSES if nc == len(COCO_CLASSES) else tuple(f"class{i}" for i in range(nc))
            )
        self._layout = layout

    def letterbox(self, image: np.ndarray) -> tuple[np.ndarray, tuple[float, float, int, int]]:
        """The model input and ``(x scale, y scale, left pad, top pad)`` to map boxes back."""
        import cv2

        h, w = image.shape[:2]
        ratio = min(self.height / h, self.width / w)
        nw, nh = max(1, round(w * ratio)), max(1, round(h * ratio))
        # Ultralytics rounds the padding this way; the -0.1 puts an odd pixel at the bottom.
        left, top = round((self.width - nw) / 2 - 0.1), round((self.height - nh) / 2 - 0.1)
        canvas = np.full((self.height, self.width, 3), self.PAD, np.uint8)
        canvas[top : top + nh, left : left + nw] = cv2.resize(
            image, (nw, nh), interpolation=cv2.INTER_LINEAR
        )
        return canvas, (nw / w, nh / h, left, top)

    def detect(self, image: np.ndarray) -> Detections:
        canvas, (sx, sy, left, top) = self.letterbox(image)
        blob = canvas[..., ::-1].transpose(2, 0, 1)[None].astype(self.dtype) / self.dtype(255)
        pred = self.session.run([self._output], {self._input: blob})[0][0].astype(np.float32)
        if self._layout is None:
            self._set_layout(pred.shape)
        if self._layout == "v8":
            pred = pred.T
            class_scores = pred[:, 4:]
        else:
            class_scores = pred[:, 5:] * pred[:, 4:5]
        best = class_scores.max(axis=1)
        keep = np.flatnonzero(best >= self.score)
        if not keep.size:
            return Detections.empty()
        cx, cy, bw, bh = pred[keep, :4].T
        xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        xyxy -= np.array([left, top, left, top], np.float32)
        xyxy /= np.array([sx, sy, sx, sy], np.float32)
        h, w = image.shape[:2]
        np.clip(xyxy[:, 0::2], 0, w, out=xyxy[:, 0::2])
        np.clip(xyxy[:, 1::2], 0, h, out=xyxy[:, 1::2])
        return _finish(xyxy, best[keep], class_scores[keep].argmax(axis=1), self.iou)


def bundled_nanodet() -> ResolvedModel:
    """The NanoDet-m file shipped with vidscope, verified against its pinned SHA-256."""
    digest = verify(
        NANODET_FILE,
        NANODET_SHA256,
        "reinstall vidscope (pip install --force-reinstall vidscope), or give a YOLO ONNX "
        "export as the model parameter",
    )
    return ResolvedModel(NANODET_ID, NANODET_FILE, NANODET_FILE, digest, "package:vidscope")


def resolve_detector(model: str | Path | None) -> ResolvedModel:
    """The bundled NanoDet-m for ``None``, else the ONNX file at ``model``."""
    if model is None:
        return bundled_nanodet()
    path = Path(model).expanduser()
    if not path.is_file():
        raise ModelError(f"detector model not found: {path}")
    return ResolvedModel(f"yolo onnx {path.name}", path, path, sha256_file(path), "path")


def open_session(path: Path, threads: int, device: str = "cpu") -> Any:
    """An onnxruntime session on ``device`` (CUDA when asked for and available)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # Spinning workers would burn the cores the other analyzers need between two frames.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers: list[Any] = ["CPUExecutionProvider"]
    kind, _, index = device.partition(":")
    if kind == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": int(index or 0)}))
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    except Exception as exc:  # onnxruntime raises its own unexported exception types
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"cannot load detector model {path}: {first}") from None


def _yolo_size(session: Any, meta: dict[str, str]) -> tuple[int, int]:
    """Input height and width: the fixed input shape, else the ``imgsz`` metadata, else 640."""
    _, _, h, w = session.get_inputs()[0].shape
    if isinstance(h, int) and isinstance(w, int):
        return h, w
    try:
        size = ast.literal_eval(meta.get("imgsz", "640"))
    except (ValueError, SyntaxError):
        size = 640
    if isinstance(size, int):
        return size, size
    return int(size[0]), int(size[-1])


def load_detector(
    model: str | Path | None = None,
    *,
    score: float = 0.35,
    iou: float = 0.5,
    threads: int = 2,
    device: str = "cpu",
) -> Detector:
    """Load the bundled NanoDet-m (``model=None``) or a YOLO-layout ONNX export.

    :class:`~vidscope.errors.ModelError` when the file is missing, corrupt, or not a
    detector of a supported layout.
    """
    resolved = resolve_detector(model)
    session = open_session(resolved.path, threads, device)
    if model is None:
        return NanoDet(session, resolved, score, iou)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[1] != 3:
        shapes = [i.shape for i in inputs]
        raise ModelError(
            f"{resolved.path} is not a YOLO-layout detector: expected one [1, 3, H, W] image "
            f"input, found {shapes}"
        )
    if len(outputs[0].shape) != 3:
        raise ModelError(
            f"{resolved.path} is not a YOLO-layout detector: its first output has shape "
            f"{outputs[0].shape}, expected [1, 4 + classes, boxes] or [1, boxes, 5 + classes]"
        )
    meta = dict(session.get_modelmeta().custom_metadata_map)
    size = _yolo_size(session, meta)
    return YoloDetector(session, resolved, _metadata_names(meta), size, score, iou)

"""On-screen text: ``ocr`` spans of text lines read with PP-OCR (RapidOCR on onnxruntime).

**Reading.**  Frames are sampled at ``fps`` (1 per second by default) and scaled to ``width``
pixels (never upscaled).  RapidOCR's bundled PP-OCRv6 small detector and recogniser read each
one; the detector sees the frame as it is, its long side capped at ``width`` (portrait
video), and the recogniser reads the line crops from the same frame.  960 px reads the 720p
burned-in line of PySceneDetect's ``testvideo.mp4`` at 0.98-1.0 confidence in about 0.2 s per
frame on one core; 640 px halves the cost and still reads that line, but loses small text
(names on the computer screen of ``goldeneye-vfr-drop3.mp4``) that 960 px reads.  Lines with
no letter or digit (stray strokes, lone symbols) are dropped.
The upside-down classifier is off unless ``upside_down`` is set (video text is upright).

**Still frames.**  A sampled frame whose luma, averaged over 4x4 blocks, differs from the
previous sampled frame's by less than ``still_level`` grey levels everywhere reuses that
frame's lines instead of being read again, so title cards, slides and still shots are read
once.  Between still frames of ``testvideo.mp4`` no block moves by more than 3 levels; one
digit of a 1-pixel-stroke caption 10 pixels high turning into another moves a block by 17 or
more (with 16x16 blocks that margin is gone: noise up to 1.1, such a change as little as 1.4).

**Spans.**  A line read in consecutive sampled frames at roughly the same place (box IoU at
least ``min_iou``) with the same normalised text (NFKC, casefolded, whitespace collapsed;
``difflib`` similarity at least ``similarity``, so a misread letter does not break it, and the
same digits) is one record.  It starts at the first frame showing it and ends, half-open, at
the first sampled frame without it, or at the shot boundary: text that stays on screen across
a cut gives one record per shot, the later ones starting at the cut.  The reported text is the
reading with the most confidence summed over the span's frames.

**Shots.**  Shot records arrive on their own schedule (after the frames they cover when both
are computed live, all at once when the shot track is reused), so read lines wait until the
shot list covers their time, up to ``MAX_PENDING`` frames; records are emitted as soon as a
span closes, hence in order of their end, not their start.

Record: ``{start, end, text, box: [x0, y0, x1, y1], score, score_max, frames, shot}``, the box
as fractions (0-1) of the displayed frame's width and height (the mean box over the span),
``score`` the mean recognition confidence, ``frames`` the number of sampled frames it was
read in.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from vidscope.analyzers.base import (
    Analyzer,
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
from vidscope.analyzers.shot_index import ShotIndex
from vidscope.analyzers.vision.text_spans import Line, TextSpanTracker, normalise
from vidscope.errors import ModelError
from vidscope.media.probe import MediaInfo
from vidscope.models.resolve import package_dir, sha256_file

MODEL_ID = "PP-OCRv6 small (RapidOCR)"
MODEL_FILES = {
    "det": "PP-OCRv6_det_small.onnx",
    "rec": "PP-OCRv6_rec_small.onnx",
    "cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}
"""The models rapidocr 3.10 bundles and loads by default; any other model type downloads."""
MAX_PENDING = 3600
"""Sampled frames held back waiting for their shot; beyond this they are placed without one."""
BLOCK = 4
"""Side of the luma blocks compared to detect still frames (pixels)."""


class OcrParams(Params):
    """Parameters of :class:`OcrAnalyzer`."""

    client_settable = frozenset({"fps", "min_score", "similarity", "min_iou", "upside_down"})
    fps: float = Field(1.0, gt=0, le=30, description="frames read per second")
    width: int = Field(
        960, ge=64, description="analysis width in pixels; also caps the long side for detection"
    )
    min_score: float = Field(0.6, ge=0, le=1, description="lowest recognition confidence kept")
    similarity: float = Field(
        0.8, gt=0, le=1, description="text similarity (0-1) for two readings to be one line"
    )
    min_iou: float = Field(
        0.3, ge=0, le=1, description="box overlap (IoU) for two readings to be at one place"
    )
    still_level: float = Field(
        6.0,
        ge=0,
        description="largest 4x4-block luma change (0-255) for which a frame reuses the "
        "previous frame's lines; 0 reads every frame",
    )
    upside_down: bool = Field(False, description="also read upside-down lines (slower)")
    threads: int = Field(1, ge=0, description="onnxruntime threads per model; 0 = one per CPU")


def to_lines(
    boxes: Any,
    texts: Sequence[str],
    scores: Sequence[float],
    size: tuple[int, int],
    min_score: float,
) -> list[Line]:
    """RapidOCR's quadrilaterals, texts and scores for a ``size = (w, h)`` image as lines."""
    w, h = size
    lines: list[Line] = []
    for quad, text, score in zip(boxes, texts, scores, strict=True):
        key = normalise(text)
        if score < min_score or not any(c.isalnum() for c in key):
            continue
        pts = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
        x0, x1 = np.clip([pts[:, 0].min() / w, pts[:, 0].max() / w], 0.0, 1.0)
        y0, y1 = np.clip([pts[:, 1].min() / h, pts[:, 1].max() / h], 0.0, 1.0)
        if x1 > x0 and y1 > y0:
            box = (float(x0), float(y0), float(x1), float(y1))
            lines.append(Line(text.strip(), key, box, float(score)))
    return lines


def block_luma(image: np.ndarray) -> np.ndarray:
    """Mean luma of the BGR image's ``BLOCK`` x ``BLOCK`` blocks (edge remainders dropped)."""
    h, w = image.shape[:2]
    b = max(1, min(BLOCK, h, w))
    crop = image[: h - h % b, : w - w % b].astype(np.float32)
    luma = crop @ np.array([0.114, 0.587, 0.299], np.float32)
    return luma.reshape(h // b, b, w // b, b).mean(axis=(1, 3))


def is_still(blocks: np.ndarray, previous: np.ndarray | None, level: float) -> bool:
    """Whether no block changed by ``level`` grey levels or more since ``previous``."""
    return (
        previous is not None
        and previous.shape == blocks.shape
        and float(np.abs(blocks - previous).max()) < level
    )


@dataclass
class _State:
    media: MediaInfo
    tracker: TextSpanTracker
    shots: ShotIndex = field(default_factory=ShotIndex)
    pending: deque[tuple[float, list[Line]]] = field(default_factory=deque)
    blocks: np.ndarray | None = None
    lines: list[Line] = field(default_factory=list)
    read: int = 0
    reused: int = 0


@cache
def _sha256(path: Path) -> str:
    return sha256_file(path)


def model_files() -> dict[str, Path]:
    """The bundled RapidOCR model files; :class:`ModelError` when any is missing."""
    root = package_dir("rapidocr")
    if root is None:
        raise ModelError("rapidocr is not installed: pip install 'vidscope[vision]'")
    files = {role: root / "models" / name for role, name in MODEL_FILES.items()}
    missing = [p.name for p in files.values() if not p.is_file()]
    if missing:
        raise ModelError(
            f"RapidOCR's bundled models are missing from {root / 'models'} "
            f"({', '.join(missing)}); reinstall rapidocr==3.10.0 (pip install 'vidscope[vision]'):"
            " vidscope only runs the models shipped in that wheel and never downloads them"
        )
    return files


def _warmup_image() -> np.ndarray:
    """A small frame with a word on it, so setup loads the detector and the recogniser."""
    import cv2

    image = np.full((64, 256, 3), 255, np.uint8)
    cv2.putText(image, "vidscope", (12, 44), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 0), 2)
    return image


class OcrAnalyzer(Analyzer[OcrParams]):
    """Text on screen, one record per line per stretch of frames showing it within a shot."""

    name = "ocr"
    version = "1"
    description = "on-screen text lines with boxes, one span per line and shot (PP-OCR)"
    extra = "vision"
    dependencies = ("rapidocr", "onnxruntime")
    needs_video = True
    resources = Resources(cpus=1.0, batch_size=4)
    views = (
        TrackView("ocr", title="on-screen text", label="{text}", rows=True, search=True, order=50),
    )
    Params = OcrParams

    def __init__(self, params: OcrParams | None = None, *, device: str = "cpu") -> None:
        super().__init__(params, device=device)
        self._engine: Any = None

    def requirements(self) -> Requirements:
        p = self.params
        return Requirements(
            frames=FrameSpec(fps=p.fps, width=p.width, format="bgr24"), tracks=("shots",)
        )

    def model_info(self) -> ModelInfo | None:
        p = self.params
        try:
            files = model_files()
        except ModelError:
            # setup() raises the same error where the engine reports it for this track only.
            return ModelInfo(id=MODEL_ID)
        try:
            runtime = f"rapidocr {version('rapidocr')}"
        except PackageNotFoundError:
            runtime = "rapidocr"
        roles = ("det", "cls") if p.upside_down else ("det",)
        return ModelInfo(
            id=MODEL_ID,
            file=str(files["rec"]),
            sha256=_sha256(files["rec"]),
            extra={
                "runtime": runtime,
                **{r: {"file": str(files[r]), "sha256": _sha256(files[r])} for r in roles},
            },
        )

    def setup(self) -> None:
        from rapidocr import RapidOCR

        p = self.params
        files = model_files()
        cuda = self.device.startswith("cuda")
        config: dict[str, Any] = {
            # "No text in this frame" is logged as a warning; it is the common case here.
            "Global.log_level": "error",
            "Global.text_score": p.min_score,
            "Global.use_cls": p.upside_down,
            # Explicit paths: with none, rapidocr resolves (and may download) by model type.
            "Det.model_path": str(files["det"]),
            "Rec.model_path": str(files["rec"]),
            "Cls.model_path": str(files["cls"]),
            # Detect at the analysis size; rapidocr's default upscales the short side to 736.
            "Det.limit_type": "max",
            "Det.limit_side_len": p.width,
            "EngineConfig.onnxruntime.intra_op_num_threads": p.threads or os.cpu_count() or 1,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            "EngineConfig.onnxruntime.use_cuda": cuda,
        }
        if cuda and ":" in self.device:
            config["EngineConfig.onnxruntime.cuda_ep_cfg.device_id"] = int(
                self.device.partition(":")[2]
            )
        try:
            engine = RapidOCR(params=config)
            engine(_warmup_image())
        except Exception as exc:
            raise ModelError(
                f"cannot load the PP-OCR models ({files['rec'].parent}): {exc}"
            ) from exc
        self._engine = engine

    def read(self, image: np.ndarray) -> list[Line]:
        """The text lines of one BGR frame."""
        p = self.params
        result = self._engine(image)
        boxes, texts = getattr(result, "boxes", None), getattr(result, "txts", None)
        if boxes is None or texts is None:
            return []
        h, w = image.shape[:2]
        return to_lines(boxes, texts, result.scores, (w, h), p.min_score)

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> _State:
        p = self.params
        state = _State(media, TextSpanTracker(p.similarity, p.min_iou))
        if "shots" not in inputs:
            state.shots.until = float("inf")
        return state

    def _advance(self, state: _State, final: bool) -> list[Record]:
        out: list[Record] = []
        while state.pending:
            time, lines = state.pending[0]
            if time >= state.shots.until and not final and len(state.pending) <= MAX_PENDING:
                break
            state.pending.popleft()
            state.shots.prune(time)
            out += state.tracker.observe(time, state.shots.find(time), lines)
        return out

    def process_batch(self, state: _State, items: Sequence[Item]) -> Iterable[Record]:
        p = self.params
        for item in items:
            if isinstance(item, TrackRecord):
                state.shots.add(item.record)
                continue
            assert isinstance(item, Frame)
            blocks = block_luma(item.image)
            if is_still(blocks, state.blocks, p.still_level):
                state.reused += 1
            else:
                state.lines = self.read(item.image)
                state.read += 1
            state.blocks = blocks
            state.pending.append((item.time, state.lines))
        return self._advance(state, final=False)

    def finish(self, state: _State) -> Iterable[Record]:
        return self._advance(state, final=True) + state.tracker.close(state.media.end)

    def report(self, state: _State) -> dict[str, Any]:
        return {"frames_read": state.read, "frames_reused": state.reused}

    def teardown(self) -> None:
        self._engine = None

"""On-screen text: ``ocr`` spans of text lines read with PP-OCR (RapidOCR on onnxruntime).

**Reading.**  Frames are sampled at ``fps`` (1 per second by default) and scaled to ``width``
pixels (never upscaled).  They arrive as the decoded I420 planes at ``edge_fps`` (the planes
the shot detector already receives, so decoding does no extra work) and only the sampled
ones are converted to BGR here.  RapidOCR's bundled PP-OCRv6 small detector and recogniser read each
one; the detector sees the frame as it is, its long side capped at ``width`` (portrait
video), and the recogniser reads the line crops from the same frame.  960 px reads the 720p
burned-in line of PySceneDetect's ``testvideo.mp4`` at 0.98-1.0 confidence in about 0.2 s per
frame on one core; 640 px halves the cost and still reads that line, but loses small text
(names on the computer screen of ``goldeneye-vfr-drop3.mp4``) that 960 px reads.  Lines with
no letter or digit (stray strokes, lone symbols) are dropped.

**Blocks.**  The lines of one frame that belong together (pieces of one row, rows of one
caption: :mod:`~vidscope.analyzers.vision.text_blocks`) become one block, read top to bottom
with a line break between rows; everything below works on blocks.  Lines near each other
that came on screen at different samples (a caption beside a burned-in copyright line, a
clock) stay apart, and a block that the next sample shows to be two is cut in two.
The upside-down classifier is off unless ``upside_down`` is set (video text is upright).

**Still frames.**  A sampled frame that differs from the previous one by less than
``still_level`` grey levels everywhere (:mod:`~vidscope.analyzers.vision.still`) reuses its
lines instead of being read again: title cards, slides and still shots are read once.

**Spans.** A block read in consecutive sampled frames at roughly the same place (box IoU at
least ``min_iou``) with the same normalised text (NFKC, casefolded, whitespace collapsed;
``difflib`` similarity at least ``similarity``, so a misread letter does not break it, and the
same digits) is one record, and so is one that moved at the same size with text at least 0.9
alike and six or more letters and digits long (scrolling credits, a ticker: a line height or
more between samples), and so is a reading of six or more letters in its place that is a part
of it (the detector missed the rest in that sample). It starts at the first frame showing it
and ends, half-open, at the first frame without it, or at the shot boundary: text that stays on
screen across a cut gives one record per shot, the later ones starting at the cut. The reported
text is the reading with the most confidence summed over the span's frames.

**Edges.** Where a block appeared or vanished from one sample to the next, the frames between
the two (at ``edge_fps``) are searched for the frame where it did
(:mod:`~vidscope.analyzers.vision.text_edges`): the step where the block's box changed (its
luma, frame to frame), a pixel comparison of the box with the two samples, a correlation of the
text's strokes with the frame where the text may have moved (scrolling), and only where those
cannot tell, the recogniser on the block's line crops alone. Edges land on the first frame at
or after a tick of ``1/edge_fps`` seconds, so within 0.1 s at the default 10; ``edge_fps`` at
or below ``fps`` keeps them on the sampled frames. A block that seems to vanish exactly at a
sample where nothing else was read in its place is read there by the recogniser: if it is still
there, the detector missed it and the block goes on.

**Stray readings.**  A block read in fewer than ``persist`` samples is kept only if it looks
like text (:mod:`~vidscope.analyzers.vision.text_filter`: two letters or digits, confident, in
a script the video's text uses); those spans are held back to the end of the video.

**Shots.**  Shot records arrive on their own schedule (after the frames they cover when both
are computed live, all at once when the shot track is reused), so read lines wait until the
shot list covers their time, up to ``MAX_PENDING`` frames; records are emitted as soon as a
span closes (one sample later, when its edge is known), hence in order of their end, not
their start.

Record: ``{start, end, text, box: [x0, y0, x1, y1], score, score_max, frames, shot, lines}``,
the box as fractions (0-1) of the displayed frame's width and height (the mean box over the
span), ``score`` the mean recognition confidence, ``frames`` the number of sampled frames it
was read in, ``lines`` the block's rows as ``{text, box}`` (from a frame that read ``text``).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
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
from vidscope.analyzers.vision.ocr_models import (
    MODEL_ID,
    model_files,
    sha256,
    to_lines,
    warmup_image,
)
from vidscope.analyzers.vision.still import block_luma, is_still
from vidscope.analyzers.vision.text_blocks import merge_lines, split_back
from vidscope.analyzers.vision.text_edges import Step, pixel_box
from vidscope.analyzers.vision.text_filter import SpanFilter
from vidscope.analyzers.vision.text_spans import (
    Line,
    TextSpanTracker,
    covered,
    normalise,
    pair_up,
    similarity,
)
from vidscope.errors import ModelError
from vidscope.media.decode import FrameClock, rotate, scaled_size
from vidscope.media.probe import MediaInfo

MAX_PENDING = 3600
"""Sampled frames held back waiting for their shot; beyond this they are placed without one."""
CROP_PAD = 0.3
"""Margin around a line crop read in place, in line heights (half that above and below)."""


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
    edge_fps: float = Field(
        10.0,
        ge=0,
        le=30,
        description="frames per second searched where text appears or vanishes, to time its "
        "edges; at or below fps the edges stay on the sampled frames",
    )
    persist: int = Field(
        3, ge=1, description="samples a block must be read in to be kept without sanity rules"
    )
    threads: int = Field(1, ge=0, description="onnxruntime threads per model; 0 = one per CPU")


@dataclass
class _Sample:
    time: float
    lines: list[Line]
    image: np.ndarray
    """BGR at the analysis size."""
    raw: np.ndarray
    """The decoded I420 planes."""


@dataclass
class _State:
    media: MediaInfo
    tracker: TextSpanTracker
    clock: FrameClock
    filter: SpanFilter
    shots: ShotIndex = field(default_factory=ShotIndex)
    pending: deque[tuple[float, list[Line]]] = field(default_factory=deque)
    blocks: np.ndarray | None = None
    previous: _Sample | None = None
    earlier: list[Line] = field(default_factory=list)
    """The blocks of the sample before ``previous`` (a line missed in one sample)."""
    between: list[tuple[float, np.ndarray]] = field(default_factory=list)
    """Frames since the previous sample, as decoded I420 planes."""
    read: int = 0
    reused: int = 0
    edges: int = 0
    by_change: int = 0
    by_pixels: int = 0
    by_reading: int = 0


class OcrAnalyzer(Analyzer[OcrParams]):
    """Text on screen, one record per line per stretch of frames showing it within a shot."""

    name = "ocr"
    version = "2"
    description = "on-screen text blocks with boxes, one span per block and shot (PP-OCR)"
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
            frames=FrameSpec(fps=max(p.fps, p.edge_fps), width=None, format="yuv420p"),
            tracks=("shots",),
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
            sha256=sha256(files["rec"]),
            extra={
                "runtime": runtime,
                **{r: {"file": str(files[r]), "sha256": sha256(files[r])} for r in roles},
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
            engine(warmup_image())
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

    def recognise(self, image: np.ndarray, line: Line) -> bool:
        """Whether at least half the rows of block ``line`` read back as their text at their
        place in the BGR ``image`` (recogniser only, no detection)."""
        from rapidocr.ch_ppocr_rec import TextRecInput

        p = self.params
        parts = line.parts or ((line.text, line.box),)
        crops = []
        for _, box in parts:
            x0, y0, x1, y1 = pixel_box(box, image.shape, CROP_PAD)
            crops.append(np.ascontiguousarray(image[y0:y1, x0:x1]))
        result = self._engine.text_rec(TextRecInput(img=crops))
        if result.txts is None:
            return False
        hits = sum(
            score >= p.min_score and similarity(normalise(text), normalise(want)) >= p.similarity
            for (want, _), text, score in zip(parts, result.txts, result.scores, strict=True)
        )
        return 2 * hits >= len(parts)

    def picture(self, state: _State, planes: np.ndarray) -> np.ndarray:
        """A decoded I420 frame as BGR at the analysis width, displayed orientation."""
        import cv2

        image = cv2.cvtColor(planes, cv2.COLOR_YUV2BGR_I420)
        h, w = image.shape[:2]
        video = state.media.video
        rotation = video.rotation if video else 0
        size = scaled_size(w, h, self.params.width, rotation)
        if size != (w, h):
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return rotate(image, rotation)

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> _State:
        p = self.params
        state = _State(
            media,
            TextSpanTracker(p.similarity, p.min_iou),
            FrameClock(p.fps, media.start),
            SpanFilter(p.persist),
        )
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
        return state.filter.add(out)

    def _step(self, state: _State, after: _Sample | None) -> Step:
        previous = state.previous
        assert previous is not None
        video = state.media.video
        return Step(
            previous.image,
            after.image if after else None,
            state.between,
            lambda planes: self.picture(state, planes),
            self.recognise,
            (previous.raw, after.raw if after else None),
            video.rotation if video else 0,
        )

    def _count(self, state: _State, step: Step) -> None:
        state.by_change += step.by_change
        state.by_pixels += step.by_pixels
        state.by_reading += step.by_reading

    def _edges(self, state: _State, sample: _Sample) -> None:
        """Time the edges of the blocks that appeared or vanished since the previous sample
        (its lines get ``until``, the new ``sample``'s get ``since``)."""
        previous = state.previous
        assert previous is not None
        p = self.params
        lines, time = sample.lines, sample.time
        pairs = pair_up(previous.lines, lines, p.similarity, p.min_iou)
        gone = set(range(len(previous.lines))) - {i for i, _ in pairs}
        new = set(range(len(lines))) - {j for _, j in pairs}
        if not gone and not new:
            return
        step = self._step(state, sample)
        last = state.between[-1][0] if state.between else float("inf")  # no frame looked at
        read = [b.box for b in lines]
        for i in gone:
            line = previous.lines[i]
            until = step.vanished(line, time)
            # Gone just at the new sample, nothing else read in its place: the detector may
            # have missed it (faint text over moving footage), which the recogniser tells.
            suspect = until is not None and until >= last and covered(line.box, read) < 0.5
            state.by_reading += suspect
            if suspect and self.recognise(sample.image, line):
                lines.append(line._replace(since=None, until=None))
                continue
            previous.lines[i] = line._replace(until=until)
        for j in new:
            lines[j] = lines[j]._replace(since=step.appeared(lines[j], time))
        state.edges += len(gone) + len(new)
        self._count(state, step)

    def _sample(self, state: _State, time: float, planes: np.ndarray) -> None:
        p = self.params
        image = self.picture(state, planes)
        blocks = block_luma(image)
        previous = state.previous
        still = previous is not None and is_still(blocks, state.blocks, p.still_level)
        if previous is not None and still:
            lines = list(previous.lines)
            state.reused += 1
        else:
            h, w = image.shape[:2]
            recent = [*(previous.lines if previous else ()), *state.earlier]
            lines = merge_lines(self.read(image), w / h, recent, time)
            if previous is not None:
                previous.lines = split_back(previous.lines, lines)
            state.read += 1
        sample = _Sample(time, lines, image, planes)
        if previous is not None and not still and p.edge_fps > p.fps:
            self._edges(state, sample)
        state.blocks = blocks
        if previous is not None:
            state.pending.append((previous.time, previous.lines))
        state.earlier = previous.lines if previous else []
        state.previous = sample
        state.between = []

    def process_batch(self, state: _State, items: Sequence[Item]) -> Iterable[Record]:
        for item in items:
            if isinstance(item, TrackRecord):
                state.shots.add(item.record)
                continue
            assert isinstance(item, Frame)
            if state.clock.due(item.time):
                self._sample(state, item.time, item.image)
            else:
                state.between.append((item.time, item.image))
        return self._advance(state, final=False)

    def finish(self, state: _State) -> Iterable[Record]:
        last = state.previous
        if last is not None:
            if state.between:
                # Frames after the last sample: where its blocks vanish before the end.
                step = self._step(state, None)
                last.lines = [
                    line._replace(until=step.vanished(line, state.media.end)) for line in last.lines
                ]
                self._count(state, step)
            state.pending.append((last.time, last.lines))
            state.previous = None
        out = self._advance(state, final=True)
        out += state.filter.add(state.tracker.close(state.media.end))
        return out + state.filter.finish()

    def report(self, state: _State) -> dict[str, Any]:
        return {
            "frames_read": state.read,
            "frames_reused": state.reused,
            "edges_timed": state.edges,
            "edges_by_change": state.by_change,
            "edge_frames_compared": state.by_pixels,
            "edge_frames_read": state.by_reading,
            "spans_dropped": state.filter.dropped,
        }

    def teardown(self) -> None:
        self._engine = None

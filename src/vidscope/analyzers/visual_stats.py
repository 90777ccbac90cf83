"""Per-second picture statistics: brightness/darkness, colourfulness, motion.

Motion is the mean absolute luma difference between consecutive sampled frames (0–1); it is
cheap, needs no model, and tracks camera and subject movement well enough for pacing and
"intensity" signals.  Colourfulness is Hasler & Süsstrunk's M (0 = grey, ~50 colourful,
>100 extremely colourful).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from pydantic import Field

from vidscope.analyzers.base import Analyzer, Frame, FrameSpec, Item, Params, Record, Requirements
from vidscope.analyzers.windows import second_index, second_span
from vidscope.media.probe import MediaInfo


class VisualStatsParams(Params):
    fps: float = Field(6.0, gt=0, description="frames sampled per second")
    width: int = Field(160, ge=16, description="analysis width in pixels")
    dark_level: float = Field(0.15, ge=0, le=1, description="luma below this counts as dark")


def frame_stats(image: np.ndarray, previous: np.ndarray | None, dark_level: float) -> dict:
    """Statistics of one BGR frame (and its luma, for the next motion difference)."""
    f = image.astype(np.float32)
    b, g, r = f[..., 0], f[..., 1], f[..., 2]
    luma = (0.299 * r + 0.587 * g + 0.114 * b) / 255.0
    rg, yb = r - g, 0.5 * (r + g) - b
    colourfulness = float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
    motion = None if previous is None else float(np.abs(luma - previous).mean())
    return {
        "luma": luma,
        "brightness": float(luma.mean()),
        "dark_share": float((luma < dark_level).mean()),
        "colourfulness": colourfulness,
        "motion": motion,
    }


@dataclass
class _State:
    media: MediaInfo
    previous: np.ndarray | None = None
    second: int | None = None
    rows: list[dict] = field(default_factory=list)


def _summary(media: MediaInfo, k: int, rows: list[dict]) -> Record:
    start, end = second_span(media, k)
    motions = [r["motion"] for r in rows if r["motion"] is not None]
    brightness = float(np.mean([r["brightness"] for r in rows]))
    return {
        "start": start,
        "end": end,
        "brightness": round(brightness, 4),
        "darkness": round(1.0 - brightness, 4),
        "dark_share": round(float(np.mean([r["dark_share"] for r in rows])), 4),
        "colourfulness": round(float(np.mean([r["colourfulness"] for r in rows])), 2),
        "motion": round(float(np.mean(motions)), 4) if motions else None,
        "motion_max": round(float(np.max(motions)), 4) if motions else None,
        "frames": len(rows),
    }


class VisualStatsAnalyzer(Analyzer):
    """One record per second of video with picture statistics."""

    name = "visual_stats"
    version = "1"
    description = "per-second brightness, darkness, colourfulness and motion"
    per_second = ("visual_stats",)
    needs_video = True
    Params = VisualStatsParams

    def requirements(self) -> Requirements:
        p: VisualStatsParams = self.params  # type: ignore[assignment]
        return Requirements(frames=FrameSpec(fps=p.fps, width=p.width, format="bgr24"))

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> _State:
        return _State(media)

    def process_batch(self, state: _State, items: Sequence[Item]) -> Iterable[Record]:
        out: list[Record] = []
        for frame in items:
            assert isinstance(frame, Frame)
            k = second_index(state.media, frame.time)
            if state.second is not None and k != state.second and state.rows:
                out.append(_summary(state.media, state.second, state.rows))
                state.rows = []
            state.second = k
            stats = frame_stats(frame.image, state.previous, self.params.dark_level)  # type: ignore[attr-defined]
            state.previous = stats.pop("luma")
            state.rows.append(stats)
        return out

    def finish(self, state: _State) -> Iterable[Record]:
        if state.second is None or not state.rows:
            return []
        return [_summary(state.media, state.second, state.rows)]

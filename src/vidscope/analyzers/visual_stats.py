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

from vidscope.analyzers.base import (
    Analyzer,
    Frame,
    FrameSpec,
    Item,
    Params,
    Record,
    Requirements,
    TrackView,
)
from vidscope.analyzers.windows import second_index, second_span
from vidscope.media.probe import MediaInfo


class VisualStatsParams(Params):
    client_settable = frozenset({"fps", "dark_level"})

    fps: float = Field(6.0, gt=0, le=60, description="frames sampled per second")
    width: int = Field(160, ge=16, description="analysis width in pixels")
    dark_level: float = Field(0.15, ge=0, le=1, description="luma below this counts as dark")


def frame_stats(
    images: np.ndarray, previous: np.ndarray | None, dark_level: float
) -> tuple[list[dict], np.ndarray]:
    """Statistics of consecutive BGR frames stacked as ``(n, h, w, 3)``, and the last frame's
    luma for the next batch's motion difference.

    The whole batch goes through each NumPy operation at once: per frame, a dozen calls on a
    small image spent most of their time in Python holding the GIL that decoding and the
    other analyzers wait for.  Sums accumulate in float64, so a frame's figures do not depend
    on how many frames share its batch.
    """
    f = images.astype(np.float32)
    b, g, r = f[..., 0], f[..., 1], f[..., 2]
    luma = (0.299 * r + 0.587 * g + 0.114 * b) / 255.0
    rg, yb = r - g, 0.5 * (r + g) - b

    def mean(x: np.ndarray) -> np.ndarray:
        return x.mean(axis=(1, 2), dtype=np.float64)

    def std(x: np.ndarray) -> np.ndarray:
        return x.std(axis=(1, 2), dtype=np.float64)

    colourfulness = np.hypot(std(rg), std(yb)) + 0.3 * np.hypot(mean(rg), mean(yb))
    chain = luma if previous is None else np.concatenate([previous[None], luma])
    motion = [None] * (previous is None) + mean(np.abs(np.diff(chain, axis=0))).tolist()
    rows = [
        {"brightness": br, "dark_share": ds, "colourfulness": c, "motion": m}
        for br, ds, c, m in zip(
            mean(luma).tolist(),
            mean(luma < dark_level).tolist(),
            colourfulness.tolist(),
            motion,
            strict=True,
        )
    ]
    return rows, luma[-1]


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


class VisualStatsAnalyzer(Analyzer[VisualStatsParams]):
    """One record per second of video with picture statistics."""

    name = "visual_stats"
    version = "2"
    description = "per-second brightness, darkness, colourfulness and motion"
    per_second = ("visual_stats",)
    needs_video = True
    views = (TrackView("visual_stats", kind="line", title="motion", value="motion", order=140),)
    Params = VisualStatsParams

    def requirements(self) -> Requirements:
        p = self.params
        return Requirements(frames=FrameSpec(fps=p.fps, width=p.width, format="bgr24"))

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> _State:
        return _State(media)

    def process_batch(self, state: _State, items: Sequence[Item]) -> Iterable[Record]:
        frames = [f for f in items if isinstance(f, Frame)]
        if not frames:
            return []
        rows, state.previous = frame_stats(
            np.stack([f.image for f in frames]),
            state.previous,
            self.params.dark_level,
        )
        out: list[Record] = []
        for frame, row in zip(frames, rows, strict=True):
            k = second_index(state.media, frame.time)
            if state.second is not None and k != state.second and state.rows:
                out.append(_summary(state.media, state.second, state.rows))
                state.rows = []
            state.second = k
            state.rows.append(row)
        return out

    def finish(self, state: _State) -> Iterable[Record]:
        if state.second is None or not state.rows:
            return []
        return [_summary(state.media, state.second, state.rows)]

"""Per-second editing pace from the shot list: cuts per minute and average shot length in a
window centred on each second."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import Field

from vidscope.analyzers.base import Analyzer, Item, Params, Record, Requirements, TrackRecord
from vidscope.analyzers.shot_index import ShotIndex
from vidscope.analyzers.windows import second_span, seconds_count
from vidscope.media.probe import MediaInfo


class PacingParams(Params):
    client_settable = frozenset({"window"})

    window: float = Field(
        10.0, gt=0, le=600, description="window length in seconds, centred on each second"
    )


@dataclass
class _State:
    media: MediaInfo
    shots: ShotIndex = field(default_factory=ShotIndex)
    """Recent shots; older ones are dropped once no window needs them."""
    next_second: int = 0


class PacingAnalyzer(Analyzer[PacingParams]):
    """Cut rate and average shot length around every second."""

    name = "pacing"
    version = "1"
    description = "per-second cut rate and average shot length (from shots)"
    per_second = ("pacing",)
    needs_video = True
    # No lane of its own: the shots lane shows the cuts pacing counts.
    views = ()
    Params = PacingParams

    def requirements(self) -> Requirements:
        return Requirements(tracks=("shots",))

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> _State:
        return _State(media)

    def _emit(self, state: _State, final: bool) -> list[Record]:
        half = self.params.window / 2
        out: list[Record] = []
        total = seconds_count(state.media)
        while state.next_second < total:
            start, end = second_span(state.media, state.next_second)
            centre = (start + end) / 2
            lo, hi = max(state.media.start, centre - half), min(state.media.end, centre + half)
            if not final and hi > state.shots.until:
                break
            inside = state.shots.between(lo, hi)
            cuts = sum(1 for s in inside if lo < s.start < hi)
            span = hi - lo
            out.append(
                {
                    "start": start,
                    "end": end,
                    "shot": state.shots.at(centre),
                    "cuts_in_window": cuts,
                    "cut_rate_per_min": round(cuts * 60.0 / span, 3) if span > 0 else 0.0,
                    "avg_shot_length": round(sum(s.end - s.start for s in inside) / len(inside), 3)
                    if inside
                    else None,
                }
            )
            state.next_second += 1
            state.shots.prune(centre - half)
        return out

    def process_batch(self, state: _State, items: Sequence[Item]) -> Iterable[Record]:
        for item in items:
            assert isinstance(item, TrackRecord)
            state.shots.add(item.record)
        return self._emit(state, final=False)

    def finish(self, state: _State) -> Iterable[Record]:
        return self._emit(state, final=True)

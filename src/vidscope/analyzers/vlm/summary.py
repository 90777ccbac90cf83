"""``summary``: a short description of the whole video and chapter titles, written by the
vision-language model from the shot captions and the transcript (text only, no images).

The prompt lists every shot with its times and caption, and what is said.  A long video's
listing is thinned to ``max_prompt_chars`` by keeping evenly spaced shots (and the transcript
is cut to a third of that budget), so the prompt stays within the model's context.  The
answer is parsed strictly (:class:`~vidscope.models.vlm.prompts.SummaryAnswer`): chapter
starts must rise and lie within the video, or the model gets one repair turn.

Record (one, spanning the media): ``{"start", "end", "summary", "chapters": [{"start",
"end", "title"}], "shots"}`` (``shots``: how many shot captions the prompt listed), or
``error`` with ``summary`` null.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from vidscope.analyzers.base import Item, Record, Requirements, TrackRecord
from vidscope.analyzers.vlm.common import Usage, VlmAnalyzer, VlmParams, base_track
from vidscope.media.probe import MediaInfo
from vidscope.models.vlm.base import VlmRequest
from vidscope.models.vlm.prompts import SummaryAnswer, summary_prompt
from vidscope.models.vlm.structured import ask


class SummaryParams(VlmParams):
    """Parameters of :class:`SummaryAnalyzer` (backend parameters in :class:`VlmParams`)."""

    client_settable = frozenset({"max_new_tokens", "max_prompt_chars"})

    max_new_tokens: int = Field(512, ge=1, le=4096, description="longest answer, in tokens")
    max_prompt_chars: int = Field(
        16000,
        ge=1000,
        le=200_000,
        description="longest shot listing + transcript put in the prompt",
    )


@dataclass
class _State:
    media: MediaInfo
    usage: Usage
    shots: list[tuple[float, float, str]] = field(default_factory=list)
    speech: list[str] = field(default_factory=list)
    calls: int = 0


def thin(lines: Sequence[str], budget: int) -> list[int]:
    """Indices of evenly spaced ``lines`` whose total length fits ``budget`` (at least one)."""
    total = sum(len(s) + 1 for s in lines)
    if total <= budget:
        return list(range(len(lines)))
    keep = max(1, len(lines) * budget // total)
    return sorted({round(i * (len(lines) - 1) / max(1, keep - 1)) for i in range(keep)})


class SummaryAnalyzer(VlmAnalyzer[SummaryParams]):
    """One description of the whole video, with chapters (see the module notes)."""

    name = "summary"
    version = "1"
    description = "a short description of the video and chapter titles (VLM, from shot captions)"
    needs_video = True
    # The summary's chapters are a composite lane of the report.
    views = ()
    Params = SummaryParams

    def requirements(self) -> Requirements:
        return Requirements(tracks=("shot_captions",), optional_tracks=("transcript",))

    def start(self, media: MediaInfo, inputs: frozenset[str] = frozenset()) -> _State:
        return _State(media, usage=self.usage_mark())

    def process_batch(self, state: _State, items: Sequence[Item]) -> Iterable[Record]:
        origin = state.media.start
        for item in items:
            assert isinstance(item, TrackRecord)
            r = item.record
            if base_track(item.track) == "shot_captions" and r.get("caption"):
                state.shots.append(
                    (float(r["start"]) - origin, float(r["end"]) - origin, r["caption"])
                )
            elif item.track == "transcript" and r.get("text"):
                state.speech.append(str(r["text"]))
        return ()

    def _prompt(self, state: _State) -> tuple[str, int]:
        p = self.params
        speech = " ".join(state.speech)[: p.max_prompt_chars // 3]
        lines = [f"{s:.1f}-{e:.1f} {c}" for s, e, c in state.shots]
        kept = [state.shots[i] for i in thin(lines, p.max_prompt_chars - len(speech))]
        return summary_prompt(kept, speech or None, state.media.duration), len(kept)

    def finish(self, state: _State) -> Iterable[Record]:
        p = self.params
        assert self.backend is not None
        media = state.media
        record: Record = {"start": media.start, "end": media.end, "summary": None, "chapters": []}
        if not state.shots:
            record["error"] = "no shot captions to summarise"
            return [record]
        prompt, record["shots"] = self._prompt(state)
        (answer,) = ask(
            self.backend,
            [VlmRequest.ask(prompt)],
            SummaryAnswer,
            max_new_tokens=p.max_new_tokens,
            batch_size=1,
            context={"duration": media.duration},
        )
        state.calls += 1 + answer.repaired
        if answer.value is None:
            record["error"] = answer.error
            if answer.answer:
                record["answer"] = answer.answer[:1000]
            return [record]
        chapters = answer.value.chapters
        ends = [c.start for c in chapters[1:]] + [media.duration]
        record["summary"] = answer.value.summary
        record["chapters"] = [
            {
                "start": round(media.start + c.start, 3),
                "end": round(media.start + e, 3),
                "title": c.title,
            }
            for c, e in zip(chapters, ends, strict=True)
        ]
        return [record]

    def report(self, state: _State) -> dict[str, Any]:
        return {
            "model_calls": state.calls,
            **self.usage_since(state.usage),
        }

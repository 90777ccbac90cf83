"""What vidscope asks the vision-language model, and the shapes of the structured answers.

Prompts are plain English and model-neutral; images are attached by the backend.  Structured
answers are JSON objects checked against the pydantic models below in strict mode: no missing
or extra keys, numbers must be JSON numbers within ``[0, 1]``, nothing is coerced.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

ATTRIBUTES = ("suspense", "darkness", "ambiguity", "emotional_tension", "intensity", "motion")
"""The six 0–1 attributes of a shot, in the order of the trailer tools' API."""

_MEANINGS = {
    "suspense": "how much the shot makes the viewer anticipate something about to happen",
    "darkness": "how dark the picture and its mood are",
    "ambiguity": "how unclear it is what is going on",
    "emotional_tension": "how strained or charged the emotions shown are",
    "intensity": "how forceful and energetic the moment is",
    "motion": "how much the camera and the subjects move",
}

Score = Annotated[float, Field(ge=0.0, le=1.0)]
Text = Annotated[str, Field(min_length=1, max_length=2000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


class ShotAttributes(BaseModel):
    """How a shot feels, each from 0 to 1: the same six in the model's answer and in the
    server's shot-analysis responses."""

    suspense: Score
    darkness: Score
    ambiguity: Score
    emotional_tension: Score
    intensity: Score
    motion: Score


class ShotAnswer(_Strict, ShotAttributes):
    """The model's answer about one shot."""

    caption: Text

    def attributes(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in ATTRIBUTES}


class Chapter(_Strict):
    start: Annotated[float, Field(ge=0.0)]
    title: Annotated[str, Field(min_length=1, max_length=200)]


class SummaryAnswer(_Strict):
    """The model's answer about a whole video."""

    summary: Text
    chapters: Annotated[list[Chapter], Field(min_length=1, max_length=100)]

    @model_validator(mode="after")
    def _chapters_in_order(self, info: ValidationInfo) -> SummaryAnswer:
        starts = [c.start for c in self.chapters]
        if any(b <= a for a, b in itertools.pairwise(starts)):
            raise ValueError("chapter starts must increase")
        duration = (info.context or {}).get("duration")
        if duration is not None and starts[-1] >= duration:
            raise ValueError(f"a chapter starts after the video ends ({duration:.1f} s)")
        return self


def quote(text: str, limit: int = 600) -> str:
    """Text from another track (speech, on-screen text, earlier captions), made unable to
    close its quotes or to forge the chat format's control tokens."""
    return text.replace("<|", "<").replace("|>", ">").replace('"', "'")[:limit]


def caption_prompt(frames: int, speech: str | None = None, on_screen: str | None = None) -> str:
    """One second of video.  Context from other tracks helps the model name what it cannot
    see (who speaks, what a sign says), but the caption must still describe the picture."""
    what = "this video frame" if frames == 1 else f"these {frames} frames from one second of video"
    lines = [
        f"Describe {what} in one or two sentences: who or what is visible, what is happening "
        "and where."
    ]
    if speech:
        lines.append(f'Words spoken at this moment: "{quote(speech)}"')
    if on_screen:
        lines.append(f'Text on screen: "{quote(on_screen)}"')
    if speech or on_screen:
        lines.append("Use these only where they help to describe the picture.")
    return "\n".join(lines)


def _json_form(fields: dict[str, str]) -> str:
    body = ", ".join(f'"{k}": {v}' for k, v in fields.items())
    return "{" + body + "}"


def shot_prompt(frames: int, stitched: bool, duration: float) -> str:
    """One shot shown as ``frames`` frames (separate images, or one image side by side)."""
    if frames == 1:
        shown = "This image is a frame from one shot of a video"
    elif stitched:
        shown = f"This image shows {frames} frames of one video shot side by side, left to right"
    else:
        shown = f"These {frames} images are frames of one video shot, in order"
    form = _json_form({"caption": '"<one or two sentences>"'} | dict.fromkeys(ATTRIBUTES, "<0-1>"))
    meanings = "\n".join(f"- {k}: {v}" for k, v in _MEANINGS.items())
    return (
        f"{shown} ({duration:.1f} seconds long).\n"
        "Describe the shot in a caption and rate it from 0 (not at all) to 1 (extremely):\n"
        f"{meanings}\n"
        f"Answer with only this JSON object and nothing else:\n{form}"
    )


def summary_prompt(
    shots: Sequence[tuple[float, float, str]], speech: str | None, duration: float
) -> str:
    """A whole video from its shot captions (start, end, caption) and what is said."""
    listing = "\n".join(f"[{s:.1f}-{e:.1f} s] {quote(c)}" for s, e, c in shots)
    said = f'\nWhat is said in the video:\n"{quote(speech, len(speech))}"\n' if speech else ""
    form = _json_form(
        {
            "summary": '"<two to four sentences>"',
            "chapters": '[{"start": <seconds>, "title": "<a few words>"}]',
        }
    )
    return (
        f"A video of {duration:.0f} seconds, described shot by shot:\n{listing}\n{said}\n"
        "Write a short description of the whole video and divide it into chapters "
        "(the first starts at 0), each with a short title.\n"
        f"Answer with only this JSON object and nothing else:\n{form}"
    )


def repair_prompt(error: str) -> str:
    """The follow-up turn after an answer that did not fit the schema."""
    return (
        f"That answer could not be used: {error}. Reply again with only the JSON object, in "
        "exactly the requested form, with no other text."
    )

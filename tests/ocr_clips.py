"""A clip with known on-screen text over real footage, and how well an ``ocr`` track reads it.

The footage is Megamind.avi (no text of its own), frozen on one frame for the first seconds
(a still background) and then playing (a moving one, with its cuts).  The phrases are drawn
with Pillow in several DejaVu faces and sizes: one-line phrases, a two-line block, a phrase
with wide word gaps and one that moves, starting and ending off whole seconds, and a lone
letter shown for half a second.  Shared by
``tests/test_ocr_spans.py`` and ``bench/bench_ocr.py``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from synth import encode_frames, h264_stream

FONTS = Path("/usr/share/fonts/truetype/dejavu")
FPS = 25
STILL_UNTIL = 3.0
"""Seconds the footage stays on its first frame."""


@dataclass(frozen=True)
class Phrase:
    """Text shown on frames ``start <= t < end`` with its top left at ``xy`` (moving by
    ``velocity`` pixels per second from ``start`` on)."""

    text: str
    start: float
    end: float
    font: str
    size: int
    xy: tuple[int, int]
    velocity: tuple[float, float] = (0.0, 0.0)
    fade: float = 0.0
    """Seconds over which it fades in from ``start`` and out to ``end``."""
    outline: bool = True
    """A dark outline around white letters (else white letters alone)."""

    @property
    def shown(self) -> tuple[float, float]:
        """The first frame showing it and the first frame after it, in seconds."""
        return math.ceil(self.start * FPS) / FPS, math.ceil(self.end * FPS) / FPS


PHRASES = (
    Phrase("HELLO BRIGHT WORLD", 1.3, 4.7, "DejaVuSans-Bold.ttf", 30, (40, 296)),
    Phrase("Meet the team\nat nine tonight", 2.5, 7.8, "DejaVuSerif-Bold.ttf", 24, (380, 24)),
    Phrase(
        "Scrolling credits roll", 5.2, 9.6, "DejaVuSansMono-Bold.ttf", 22, (40, 150), (24.0, 0.0)
    ),
    # Gaps this wide make the detector cut the row into three lines.
    Phrase("Final     notice     today", 6.9, 10.4, "DejaVuSansCondensed-Bold.ttf", 32, (90, 232)),
)
STRAYS = (Phrase("m", 3.8, 4.3, "DejaVuSans.ttf", 30, (570, 300)),)
CREDITS = (
    Phrase(
        "Directed by Someone Famous", 1.3, 5.7, "DejaVuSans-Bold.ttf", 26, (60, 300), (0.0, -40.0)
    ),
    Phrase("FADING TITLE", 2.4, 6.6, "DejaVuSerif-Bold.ttf", 34, (330, 40), fade=0.5),
    Phrase("Lower third caption", 6.3, 9.7, "DejaVuSans.ttf", 24, (40, 300)),
)
"""Credits that scroll up a line height a second, a title fading in and out, a thin caption."""
"""Marks that are not text to report: shown briefly, read in one sample at most."""


def footage(source: Path, size: tuple[int, int], count: int) -> list[np.ndarray]:
    """``count`` RGB frames of ``source`` at ``size``, frozen on the first for ``STILL_UNTIL``
    seconds, then playing at the source's rate (looping)."""
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or FPS)
        frames = [
            f.to_ndarray(width=size[0], height=size[1], format="rgb24")
            for f in container.decode(stream)
        ]
    still = round(STILL_UNTIL * FPS)
    return [
        frames[0] if n < still else frames[round((n - still) * rate / FPS) % len(frames)]
        for n in range(count)
    ]


def generated(spec: str, path: Path, seconds: float = 4.0) -> Path:
    """FFmpeg's generated footage ``spec`` (a lavfi source, e.g. ``smptehdbars``), 640x360 at
    ``FPS``, encoded to ``path``: the test patterns a clip is often drawn over."""
    count = round(seconds * FPS)
    source = f"{spec}=size=640x360:rate={FPS}"
    with av.open(source, format="lavfi") as container, av.open(str(path), "w") as out:
        frames = (f.to_ndarray(format="rgb24") for f in container.decode(video=0))
        images = (image for _, image in zip(range(count), frames, strict=False))
        encode_frames(out, h264_stream(out, FPS, (640, 360), crf=20), images, FPS)
    return path


def _draw(image: np.ndarray, phrase: Phrase, t: float) -> None:
    if phrase.fade:
        alpha = min(1.0, (t - phrase.start) / phrase.fade, (phrase.end - t) / phrase.fade)
        drawn = image.copy()
        _draw(drawn, replace(phrase, fade=0.0), t)
        image[...] = np.round(image * (1 - alpha) + drawn * alpha).astype(np.uint8)
        return
    canvas = Image.fromarray(image)
    font = ImageFont.truetype(str(FONTS / phrase.font), phrase.size)
    dt = t - phrase.start
    x, y = phrase.xy[0] + phrase.velocity[0] * dt, phrase.xy[1] + phrase.velocity[1] * dt
    ImageDraw.Draw(canvas).multiline_text(
        (round(x), round(y)),
        phrase.text,
        font=font,
        fill=(255, 255, 255),
        stroke_width=max(1, phrase.size // 12) if phrase.outline else 0,
        stroke_fill=(0, 0, 0),
        spacing=phrase.size // 4,
    )
    image[...] = np.asarray(canvas)


def render(
    path: Path,
    source: Path,
    phrases: Sequence[Phrase] = PHRASES + STRAYS,
    seconds: float = 11.0,
    size: tuple[int, int] = (640, 360),
) -> Path:
    """Encode the clip (H.264, ``FPS``) to ``path``."""
    count = round(seconds * FPS)

    def images() -> Iterable[np.ndarray]:
        for n, background in enumerate(footage(source, size, count)):
            image = background.copy()
            for phrase in phrases:
                if phrase.start <= n / FPS < phrase.end:
                    _draw(image, phrase, n / FPS)
            yield image

    with av.open(str(path), "w") as out:
        encode_frames(out, h264_stream(out, FPS, size, crf=20), images(), FPS)
    return path


def words(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.casefold())


def alike(a: str, b: str) -> bool:
    """Whether two readings say the same, letters and digits compared."""
    return difflib.SequenceMatcher(None, words(a), words(b), autojunk=False).ratio() >= 0.9


def joined(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records of one text that touch (a span split at a shot boundary) made one."""
    out: list[dict[str, Any]] = []
    for r in sorted(records, key=lambda r: r["start"]):
        same = [o for o in out if alike(o["text"], r["text"]) and abs(o["end"] - r["start"]) < 1e-3]
        if same:
            same[0]["end"] = r["end"]
        else:
            out.append(dict(r))
    return out


@dataclass
class Score:
    found: int
    phrases: int
    edge_errors: list[float]
    """|start error| and |end error| of each phrase found, in seconds."""
    unlisted: list[str]

    @property
    def recall(self) -> float:
        return self.found / self.phrases

    @property
    def worst_edge(self) -> float:
        return max(self.edge_errors, default=math.inf)


def score(records: Sequence[dict[str, Any]], phrases: Sequence[Phrase] = PHRASES) -> Score:
    """Phrase recall, edge errors and the texts read that no phrase says."""
    spans = joined(records)
    errors, found = [], 0
    for phrase in phrases:
        hits = [s for s in spans if alike(s["text"], phrase.text)]
        if len(hits) == 1:
            found += 1
            start, end = phrase.shown
            errors += [abs(hits[0]["start"] - start), abs(hits[0]["end"] - end)]
    unlisted = [s["text"] for s in spans if not any(alike(s["text"], p.text) for p in phrases)]
    return Score(found, len(phrases), errors, unlisted)

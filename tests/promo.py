"""Synthetic promos: espeak-ng narration of an organisation's name with the name drawn on
screen, so the spoken words, their times and the on-screen text are all known.

Each phrase is spoken on its own and the pieces are joined with short pauses, so the span of
every spoken name is exact (the voiced samples of its own piece).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from espeak import RATE, speak
from synth import encode_frames, h264_stream

PAUSE_S = 0.25
FPS = 10
SIZE = (480, 270)
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


@dataclass
class Promo:
    """A narration built from pieces; ``spans`` holds where each named piece is spoken."""

    audio: np.ndarray = field(default_factory=lambda: np.zeros(int(RATE * 0.5), np.float32))
    text: list[str] = field(default_factory=list)
    spans: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return len(self.audio) / RATE

    def say(self, pieces: Sequence[str], voice: str, speed: int = 160, name: str = "") -> None:
        """Speak ``pieces`` one after the other; the times of pieces equal to ``name`` are
        recorded."""
        for piece in pieces:
            start = self.duration
            self.audio = np.concatenate([self.audio, speak(piece, voice, speed)])
            if piece == name:
                self.spans.setdefault(name, []).append((start, self.duration))
            self.audio = np.concatenate([self.audio, np.zeros(int(RATE * PAUSE_S), np.float32)])
            self.text.append(piece)

    def pause(self, seconds: float) -> None:
        self.audio = np.concatenate([self.audio, np.zeros(int(RATE * seconds), np.float32)])


def narration(name: str, voice: str, speed: int = 160) -> Promo:
    """Three sentences that name the organisation ``name`` three times."""
    promo = Promo()
    for pieces in (
        ["Welcome to", name, "where ideas grow."],
        ["At", name, "we build tools for people."],
        ["Join", name, "today."],
    ):
        promo.say(pieces, voice, speed, name)
        promo.pause(0.4)
    return promo


def card(text: str, size: tuple[int, int] = SIZE) -> np.ndarray:
    """A dark frame with ``text`` in large white letters, centred."""
    image = Image.new("RGB", size, (20, 40, 90))
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, size[1] // 7)
    box = draw.textbbox((0, 0), text, font=font)
    x = (size[0] - (box[2] - box[0])) // 2
    y = (size[1] - (box[3] - box[1])) // 2
    draw.text((x, y), text, fill=(255, 255, 255), font=font)
    return np.asarray(image)


def write_promo(path: Path, promo: Promo, caption: str) -> Path:
    """An MP4 (H.264 + AAC) showing ``caption`` for the whole narration."""
    frames = round(promo.duration * FPS)
    image = card(caption)
    with av.open(str(path), "w") as out:
        video = h264_stream(out, FPS, SIZE)
        audio = out.add_stream("aac", rate=RATE)
        audio.layout = "mono"
        encode_frames(out, video, (image for _ in range(frames)), FPS)
        pcm = promo.audio[: round(frames / FPS * RATE)]
        for i in range(0, len(pcm), 1024):
            frame = av.AudioFrame.from_ndarray(
                pcm[i : i + 1024].reshape(1, -1), format="flt", layout="mono"
            )
            frame.sample_rate, frame.pts, frame.time_base = RATE, i, Fraction(1, RATE)
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    return path

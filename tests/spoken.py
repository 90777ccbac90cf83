"""Short spoken commands with known text, synthesised with espeak-ng or recorded, and word
error rate.

Shared by ``tests/test_short_utterances.py`` and ``bench/bench_short_utterances.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from espeak import RATE, speak

COMMANDS = (
    "turn left now",
    "stop",
    "open the door",
    "go back",
    "turn right",
    "close the window",
    "yes",
    "play music",
    "next page please",
    "call mom",
    "lights off",
    "start recording",
    "no",
    "pause",
    "volume up",
    "take a picture",
    "help",
    "cancel that",
)
VOICES = (
    "en-us",
    "en-gb",
    "en-us+f3",
    "en-gb-scotland",
    "en-us+m3",
    "en-029",
    "en-gb-x-rp",
    "en-us+f4",
    "en-gb+croak",
)
SPEEDS = (130, 160, 190, 220)
"""espeak-ng words per minute: from deliberate to hurried."""


@dataclass(frozen=True)
class Utterance:
    start: float
    end: float
    text: str


def words(text: str) -> list[str]:
    """Lower-case words without punctuation ("Mom." and "mom" are the same word)."""
    return re.sub(r"[^\w\s']", " ", text.lower()).split()


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: substitutions, insertions and deletions over the reference's words."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (r != h))
    return row[-1] / max(1, len(ref))


def commands(
    count: int, seed: int, *, gain: float = 0.5, noise: float = 0.002
) -> tuple[np.ndarray, list[Utterance]]:
    """``count`` commands in a random order, voice and speed, 1-3 s of silence between them
    (0.5 s before the first and after the last), under white noise of RMS ``noise``."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(COMMANDS))[:count]
    parts = [np.zeros(RATE // 2, np.float32)]
    spoken: list[Utterance] = []
    t = 0.5
    for i, k in enumerate(order.tolist()):
        voice = VOICES[int(rng.integers(len(VOICES)))]
        speed = SPEEDS[int(rng.integers(len(SPEEDS)))]
        speech = gain * speak(COMMANDS[k], voice, speed, silence=1e-3)
        spoken.append(Utterance(t, t + len(speech) / RATE, COMMANDS[k]))
        gap = round(float(rng.uniform(1.0, 3.0)) * RATE) if i < count - 1 else RATE // 2
        parts += [speech, np.zeros(gap, np.float32)]
        t += (len(speech) + gap) / RATE
    audio = np.concatenate(parts)
    audio += noise * rng.standard_normal(len(audio)).astype(np.float32)
    return np.clip(audio, -1.0, 1.0), spoken


CHANNELS = (
    "Front_Center",
    "Front_Left",
    "Front_Right",
    "Rear_Center",
    "Rear_Left",
    "Rear_Right",
    "Side_Left",
    "Side_Right",
)
"""alsa-utils' recorded channel names (/usr/share/sounds/alsa/NAME.wav): one human voice
saying two words ("front center"), 48 kHz."""


ALSA_SOUNDS = "/usr/share/sounds/alsa"


def channel_clips(folder: str = ALSA_SOUNDS) -> dict[str, np.ndarray]:
    """The recorded channel names in ``folder``, decoded to 16 kHz mono."""
    from vidscope.media.decode import load_audio
    from vidscope.media.probe import probe

    return {name: load_audio(probe(Path(folder) / f"{name}.wav"))[1] for name in CHANNELS}


def recorded(
    clips: dict[str, np.ndarray], seed: int, *, gain: float = 1.0, noise: float = 0.002
) -> tuple[np.ndarray, list[Utterance]]:
    """Each of the recorded channel names ``clips`` (16 kHz samples by name) twice, in a
    random order, 1-3 s of silence between them, scaled by ``gain``, under white noise."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(CHANNELS)).tolist() * 2
    parts = [np.zeros(RATE // 2, np.float32)]
    said: list[Utterance] = []
    t = 0.5
    for k in order:
        speech = gain * clips[CHANNELS[k]]
        said.append(Utterance(t, t + len(speech) / RATE, CHANNELS[k].replace("_", " ").lower()))
        gap = round(float(rng.uniform(1.0, 3.0)) * RATE)
        parts += [speech, np.zeros(gap, np.float32)]
        t += (len(speech) + gap) / RATE
    audio = np.concatenate(parts)
    audio += noise * rng.standard_normal(len(audio)).astype(np.float32)
    return np.clip(audio, -1.0, 1.0), said


def filtered(asr: Any, audio: np.ndarray) -> list[dict[str, Any]]:
    """The records the ``transcript`` analyzer ``asr`` (set up) writes for ``audio``, fed in
    the engine's 1-second chunks: Whisper behind vidscope's voice-activity filtering."""
    from vidscope.analyzers.base import AudioChunk

    state = asr.start(None, frozenset())
    records = []
    for t in range(0, len(audio), RATE):
        records += asr.process_batch(state, [AudioChunk(t / RATE, audio[t : t + RATE])])
    return records + list(asr.finish(state))


def unfiltered(asr: Any, audio: np.ndarray) -> str:
    """What the same Whisper model writes for ``audio`` with no voice-activity filtering (one
    faster-whisper call, the analyzer's other decoding options)."""
    segments, _ = asr._model.transcribe(
        audio,
        beam_size=asr.params.beam_size,
        vad_filter=False,
        word_timestamps=True,
        condition_on_previous_text=False,
    )
    return " ".join(s.text.strip() for s in segments)

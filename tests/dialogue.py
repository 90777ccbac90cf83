"""Conversations with known turns: espeak-ng voices taking turns, and the two speakers of the
shared ``stereo_diarization.wav`` one after the other, written as 16 kHz mono WAV files.

Also the diarization error rate the ``speakers`` tests and benchmark score them with.
"""

from __future__ import annotations

import itertools
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import espeak
from espeak import RATE

Turn = tuple[float, float, str]

VOICES = {
    # espeak-ng voice, pitch, words per minute: far enough apart for a speaker encoder (the
    # plain en-us and en-gb voices sound alike to it).
    "A": ("en-us+m1", 35, 150),
    "B": ("en-us+f4", 60, 160),
    "C": ("en+klatt2", 50, 160),
    "D": ("en-gb+f2", 75, 170),
}
SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "She sells sea shells by the sea shore every summer morning.",
    "Please call Stella and ask her to bring these things from the store.",
    "We will meet again at the station after the rain has stopped.",
    "The museum opens at nine and closes late on Thursday evenings.",
    "A large wooden table stood in the middle of the quiet kitchen.",
    "Nobody expected the small team to win the final match so easily.",
    "Turn left at the bakery and walk until you see the blue door.",
]


def speak(text: str, voice: str) -> np.ndarray:
    """``text`` in one of :data:`VOICES`, 16 kHz mono float32, edge silence cut."""
    name, pitch, speed = VOICES[voice]
    return espeak.speak(text, name, speed, pitch=pitch)


def join(
    pieces: Sequence[tuple[str, np.ndarray]], pause: float = 0.8
) -> tuple[np.ndarray, list[Turn]]:
    """Pieces of (speaker, audio) one after the other with ``pause`` seconds of silence
    around each: the audio and the reference turns."""
    gap = np.zeros(round(pause * RATE), np.float32)
    parts, turns, at = [gap], [], len(gap)
    for speaker, audio in pieces:
        turns.append((at / RATE, (at + len(audio)) / RATE, speaker))
        parts += [audio, gap]
        at += len(audio) + len(gap)
    return np.concatenate(parts), turns


def conversation(
    speakers: str, sentences: int = 1, pause: float = 0.8
) -> tuple[np.ndarray, list[Turn]]:
    """Each letter of ``speakers`` (keys of :data:`VOICES`) says ``sentences`` sentences in
    turn, the sentences taken in order from :data:`SENTENCES`."""
    texts = itertools.cycle(SENTENCES)
    pieces = [
        (s, np.concatenate([speak(next(texts), s) for _ in range(sentences)])) for s in speakers
    ]
    return join(pieces, pause)


def stereo_turns(path: Path) -> tuple[np.ndarray, list[Turn]]:
    """The two voices of ``stereo_diarization.wav`` (one per channel, talking over each other)
    taken apart: left's first 2.2 s, right's 2.2 s, then the rest of left."""
    import soundfile as sf

    stereo, rate = sf.read(str(path), dtype="float32")
    assert rate == RATE
    cut = lambda ch, a, b: stereo[round(a * RATE) : round(b * RATE), ch]  # noqa: E731
    return join([("L", cut(0, 0.3, 2.5)), ("R", cut(1, 0.3, 2.5)), ("L", cut(0, 2.5, 4.7))])


def write_wav(path: Path, audio: np.ndarray) -> Path:
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    return path


def der(reference: Sequence[Turn], hypothesis: Sequence[Turn], collar: float = 0.25) -> float:
    """Diarization error rate: (missed + false alarm + confusion) / reference speech, on a
    10 ms grid, ignoring ``collar`` seconds around each reference boundary, with hypothesis
    labels mapped one-to-one onto reference labels to minimise the error (the NIST
    definition, as pyannote.metrics computes it; single-speaker reference only)."""
    step = 0.01
    end = max([t[1] for t in (*reference, *hypothesis)], default=0.0)
    n = int(np.ceil(end / step)) + 1
    times = (np.arange(n) + 0.5) * step
    scored = np.ones(n, bool)
    ref_labels = sorted({t[2] for t in reference})
    hyp_labels = sorted({t[2] for t in hypothesis})
    ref = np.full(n, -1)
    hyp = np.full(n, -1)
    for start, stop, label in reference:
        ref[(times >= start) & (times < stop)] = ref_labels.index(label)
        for edge in (start, stop):
            scored &= np.abs(times - edge) > collar
    for start, stop, label in hypothesis:
        hyp[(times >= start) & (times < stop)] = hyp_labels.index(label)
    ref, hyp = ref[scored], hyp[scored]
    total = int((ref >= 0).sum())
    missed = int(((ref >= 0) & (hyp < 0)).sum())
    false_alarm = int(((ref < 0) & (hyp >= 0)).sum())
    both = (ref >= 0) & (hyp >= 0)
    best_match = 0
    # Few labels: try every one-to-one mapping.
    size = max(len(ref_labels), len(hyp_labels))
    for perm in itertools.permutations(range(size), len(hyp_labels)):
        mapped = np.array(perm)[hyp[both]]
        best_match = max(best_match, int((mapped == ref[both]).sum()))
    confusion = int(both.sum()) - best_match
    return (missed + false_alarm + confusion) / max(total, 1)

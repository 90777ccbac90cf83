"""Spoken-language identification with the Whisper model already loaded, on a few seconds of
speech.

faster-whisper's own detection pads its input to 30 s, so it costs a full encoder pass (about
0.65 s for base on two cores, a quarter of the time spent transcribing a 30-second window).
The CTranslate2 encoder accepts shorter inputs, so 4 s of speech is identified in about
0.05 s with the same model and the same answer on clean speech.

A window is identified at its first and last seconds of speech.  When the two disagree and
are sure, its speech (cut into pieces of at most 2 s) is bisected to find where the language
changes, and the window is transcribed in two parts, cut in the pause between the pieces or,
when the speaker did not pause, at the quietest moment of the two pieces around the change.
This finds one switch per window (windows are at most 30 s).

**Doubtful windows.**  Quiet or sparse speech, such as short commands of a word or three (a
few seconds of speech joined from snippets cut where the voice starts and stops), is where
Whisper's identification wanders: base says "vi", "la" or "zh" for quiet English commands,
sometimes with a probability of 0.85 on a 1.3 s snippet.  So a window keeps the input's
language unless the evidence for another is good:

- two sure snippets that do not overlap and agree, or a sure snippet that agrees with the
  input so far, decide;
- otherwise the window's first 30 s, pauses included, are identified too, and decide when
  they are sure or when the window is the input's first;
- otherwise the window takes the language with the most probability summed over every
  identification of the input so far, its own included (:class:`Evidence`).

On quiet English commands (espeak-ng and a recorded voice, 32 recordings peaking at -29 to
-37 dBFS) this finds English in 69 of 74 windows, where trusting one sure snippet and
otherwise the 30 s found it in 64 (``bench/bench_short_utterances.py`` in ``BENCHMARKS.md``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vidscope.analyzers.base import Record
from vidscope.analyzers.speech.buffer import SAMPLE_RATE, quiet_cut

SNIPPET_S = 4.0
"""Seconds of speech behind each identification."""
PIECE_S = 2.0
"""Resolution of the search for a language switch."""
SURE = 0.7
"""Probability below which an identification does not count as evidence of a switch (on a
4 s snippet, base says "lv 0.40" for German once in a while; it is sure of real switches)."""
WHOLE_S = 30
"""Seconds of the window identified when the snippets do not settle its language."""

Ident = Callable[[np.ndarray], tuple[str, float]]


@dataclass
class Evidence:
    """The probability each language was identified with, summed over an input so far."""

    totals: dict[str, float] = field(default_factory=dict)

    def recording(self, ident: Ident) -> Ident:
        """``ident``, adding what it finds to the evidence."""

        def recorded(audio: np.ndarray) -> tuple[str, float]:
            language, p = ident(audio)
            self.totals[language] = self.totals.get(language, 0.0) + p
            return language, p

        return recorded

    def likeliest(self) -> str | None:
        return max(self.totals, key=self.totals.__getitem__) if self.totals else None


def identify(model: Any, audio: np.ndarray) -> tuple[str, float]:
    """The language Whisper ``model`` hears in ``audio`` (16 kHz, at most 30 s), and its
    probability."""
    features = model.feature_extractor(audio)[..., :-1]
    token, probability = model.model.detect_language(model.encode(features))[0][0]
    return token[2:-2], probability  # "<|de|>" -> "de"


def speech_from(audio: np.ndarray, time: float, spans: Sequence[Record]) -> np.ndarray:
    """Up to :data:`SNIPPET_S` seconds of the speech in ``spans``, in order, joined.

    ``time`` is the media time of ``audio[0]``.
    """
    parts, left = [], int(SNIPPET_S * SAMPLE_RATE)
    for span in spans:
        lo = max(0, round((span["start"] - time) * SAMPLE_RATE))
        hi = min(len(audio), round((span["end"] - time) * SAMPLE_RATE), lo + left)
        if hi > lo:
            parts.append(audio[lo:hi])
            left -= hi - lo
        if left <= 0:
            break
    return np.concatenate(parts) if parts else audio[:0]


def _last_speech(pieces: Sequence[Record]) -> list[Record]:
    """The trailing pieces holding the last :data:`SNIPPET_S` seconds of speech."""
    total, start = 0.0, len(pieces)
    while start > 0 and total < SNIPPET_S:
        start -= 1
        total += pieces[start]["end"] - pieces[start]["start"]
    return list(pieces[start:])


def pieces(spans: Sequence[Record]) -> list[Record]:
    """Speech spans cut into equal pieces of at most :data:`PIECE_S` seconds."""
    out: list[Record] = []
    for span in spans:
        start, end = float(span["start"]), float(span["end"])
        n = max(1, math.ceil((end - start) / PIECE_S))
        step = (end - start) / n
        out += [{"start": start + i * step, "end": start + (i + 1) * step} for i in range(n)]
    return out


def language_parts(
    audio: np.ndarray,
    time: float,
    spans: Sequence[Record],
    ident: Ident,
    evidence: Evidence | None = None,
) -> list[tuple[int, str]]:
    """``(first sample, language)`` of each part of a window with speech ``spans``.

    ``ident`` identifies the language of a snippet; it is called 2 times when the snippets
    settle the window's language (3 when they do not), about
    ``2 + log2(seconds of speech / 2)`` times when it switches.  ``evidence`` is the input's
    so far (a new one when None); the window's identifications are added to it.
    """
    evidence = Evidence() if evidence is None else evidence
    settled = evidence.likeliest()
    ident = evidence.recording(ident)
    speech = pieces(spans)
    first, p_first = ident(speech_from(audio, time, speech))
    last, p_last = ident(speech_from(audio, time, _last_speech(speech)))
    if min(p_first, p_last) >= SURE and first != last and len(speech) >= 2:
        return _switch(audio, time, speech, ident, first, last)
    seconds = sum(s["end"] - s["start"] for s in speech)
    if min(p_first, p_last) >= SURE and seconds >= 2 * SNIPPET_S:
        return [(0, first)]  # two snippets of different speech agree
    sure, p_sure = (first, p_first) if p_first >= p_last else (last, p_last)
    if p_sure >= SURE and sure == settled:
        return [(0, sure)]
    whole, p_whole = ident(audio[: WHOLE_S * SAMPLE_RATE])
    if p_whole >= SURE or settled is None:
        return [(0, whole)]
    likeliest = evidence.likeliest()
    assert likeliest is not None
    return [(0, likeliest)]


def _switch(
    audio: np.ndarray,
    time: float,
    speech: list[Record],
    ident: Ident,
    first: str,
    last: str,
) -> list[tuple[int, str]]:
    """The two parts of a window whose speech starts in ``first`` and ends in ``last``."""
    lo, hi = 0, len(speech) - 1  # speech[lo] is in ``first``, speech[hi] in ``last``
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ident(speech_from(audio, time, speech[mid:]))[0] == last:
            hi = mid
        else:
            lo = mid
    end, start = speech[lo]["end"], speech[hi]["start"]
    if start > end:  # a pause between the pieces
        return [(0, first), (round(((end + start) / 2 - time) * SAMPLE_RATE), last)]
    lo_sample = round((speech[lo]["start"] - time) * SAMPLE_RATE)
    hi_sample = round((speech[hi]["end"] - time) * SAMPLE_RATE)
    return [(0, first), (quiet_cut(audio, max(0, lo_sample), min(len(audio), hi_sample)), last)]

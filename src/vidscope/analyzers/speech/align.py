"""Word times tightened with voice activity.

Whisper's word timings come from cross-attention and stretch over pauses: in the JFK clip
"ask" runs from 2.76 s to 3.74 s although the voice starts at 3.2 s.  Silero VAD knows where
the pauses are, so each word is clipped to the speech span it overlaps most.  Clipping only
shrinks a word, so word order is kept; a word that overlaps no span (quiet speech below the
VAD threshold) keeps Whisper's times.
"""

from __future__ import annotations

from collections.abc import Sequence

from vidscope.analyzers.base import Record


def _best_span(start: float, end: float, spans: Sequence[Record]) -> Record | None:
    best, best_overlap = None, 0.0
    for span in spans:
        overlap = min(end, span["end"]) - max(start, span["start"])
        if overlap > best_overlap:
            best, best_overlap = span, overlap
    return best


def snap_words(record: Record, spans: Sequence[Record]) -> Record:
    """Clip the words of a transcript segment to ``spans``; the segment then runs from its
    first word's start to its last word's end."""
    for word in record["words"]:
        span = _best_span(word["start"], word["end"], spans)
        if span is not None:
            word["start"] = max(word["start"], span["start"])
            word["end"] = min(word["end"], span["end"])
    if record["words"]:
        record["start"] = record["words"][0]["start"]
        record["end"] = record["words"][-1]["end"]
    return record

"""Text exports: SubRip (``srt``), WebVTT (``vtt``), plain text (``txt``) and JSON (``json``).

Subtitles and text come from any track whose records carry ``text`` (``transcript``,
``captions``, ``ocr``) or ``caption`` (``shot_captions``); JSON takes any track.  Records are
streamed from the bundle, so a transcript of any length is written with bounded memory.
Subtitle cues follow common broadcast limits: a segment longer than 84 characters (two lines
of 42) or 7 seconds is split at word boundaries into cues of about equal length, timed by its
words, and cue text is wrapped at 42 characters.  Times stay on the media's own clock, as in
the bundle.
"""

from __future__ import annotations

import itertools
import math
import textwrap
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO

import orjson

from vidscope.errors import UsageError
from vidscope.timeline.exports.common import Record, finished_records
from vidscope.timeline.result import Result

TEXT_FIELDS = ("text", "caption")
"""Where a record keeps its text, in order of preference."""
LINE_CHARS = 42
CUE_CHARS = 2 * LINE_CHARS
CUE_SECONDS = 7.0


@dataclass(frozen=True)
class Cue:
    """One subtitle: text shown from ``start`` to ``end`` seconds."""

    start: float
    end: float
    text: str


def _clean(text: str) -> str:
    # A blank line ends an SRT/VTT cue early, so a cue's own text has no line breaks.
    return " ".join(text.split())


def _cue(words: list[Record]) -> Cue:
    return Cue(words[0]["start"], words[-1]["end"], _clean("".join(w["word"] for w in words)))


def _break_cost(words: list[Record], j: int) -> float:
    """Cost of ending a cue after ``words[j - 1]``: low after punctuation or a pause."""
    if j == len(words):
        return 0.0
    punctuated = words[j - 1]["word"].rstrip()[-1:] in ",.;:!?"
    pause = min(1.0, max(0.0, words[j]["start"] - words[j - 1]["end"]))
    return (0.0 if punctuated else 0.5) - 0.5 * pause


def _split(words: list[Record], max_chars: int, max_seconds: float) -> Iterator[Cue]:
    """Split at word boundaries into cues within the limits and of about equal length,
    preferably at punctuation or pauses: the least-cost split over all break positions."""
    n = len(words)
    chars = len(_clean("".join(w["word"] for w in words)))
    duration = words[-1]["end"] - words[0]["start"]
    target = chars / max(math.ceil(chars / max_chars), math.ceil(duration / max_seconds), 1)
    # best[j] = (cost of the best split of words[:j], where its last cue starts)
    best: list[tuple[float, int]] = [(0.0, 0)] + [(math.inf, 0)] * n
    for j in range(1, n + 1):
        for i in range(j - 1, -1, -1):
            size = len(_clean("".join(w["word"] for w in words[i:j])))
            too_long = size > max_chars or words[j - 1]["end"] - words[i]["start"] > max_seconds
            if too_long and j - i > 1:
                break  # cues starting earlier are longer still
            cost = best[i][0] + ((size - target) / target) ** 2 + _break_cost(words, j)
            if cost < best[j][0]:
                best[j] = (cost, i)
    starts = [best[n][1]]
    while starts[-1]:
        starts.append(best[starts[-1]][1])
    for i, j in itertools.pairwise([*starts[::-1], n]):
        yield _cue(words[i:j])


def cues(
    records: Iterable[Record], max_chars: int = CUE_CHARS, max_seconds: float = CUE_SECONDS
) -> Iterator[Cue]:
    """Subtitle cues from text records, splitting long ones at word boundaries."""
    for record in records:
        text = _clean(str(record.get("text") or ""))
        if not text:
            continue
        start, end = float(record["start"]), float(record["end"])
        words = record.get("words") or []
        if words and (len(text) > max_chars or end - start > max_seconds):
            yield from _split(words, max_chars, max_seconds)
        else:
            yield Cue(start, end, text)


def timestamp(seconds: float, decimal: str) -> str:
    """``HH:MM:SS<decimal>mmm`` (SRT uses a comma, WebVTT a dot)."""
    ms = round(max(0.0, seconds) * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{ms:03d}"


def _wrap(text: str) -> str:
    return "\n".join(textwrap.wrap(text, LINE_CHARS)) or text


def write_srt(records: Iterable[Record], out: IO[str]) -> int:
    """SubRip cues, numbered from 1."""
    n = 0
    for n, cue in enumerate(cues(records), 1):
        out.write(
            f"{n}\n{timestamp(cue.start, ',')} --> {timestamp(cue.end, ',')}\n{_wrap(cue.text)}\n\n"
        )
    return n


def write_vtt(records: Iterable[Record], out: IO[str]) -> int:
    """A WebVTT file: the header, then one cue per block."""
    out.write("WEBVTT\n\n")
    n = 0
    for cue in cues(records):
        n += 1
        # "&" and "<" start entities and tags in WebVTT cue text.
        text = cue.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        out.write(f"{timestamp(cue.start, '.')} --> {timestamp(cue.end, '.')}\n{_wrap(text)}\n\n")
    return n


def write_txt(records: Iterable[Record], out: IO[str]) -> int:
    """One line per record."""
    n = 0
    for record in records:
        text = _clean(str(record.get("text") or ""))
        if text:
            out.write(text + "\n")
            n += 1
    return n


def write_json(records: Iterable[Record], out: IO[str], track: str) -> int:
    """``{"track": ..., "records": [...]}``, one record per line."""
    out.write(f'{{"track": {orjson.dumps(track).decode()}, "records": [')
    n = 0
    for n, record in enumerate(records, 1):
        out.write(("\n" if n == 1 else ",\n") + orjson.dumps(record).decode())
    out.write("\n]}\n")
    return n


_WRITERS: dict[str, Callable[[Iterable[Record], IO[str]], int]] = {
    "srt": write_srt,
    "vtt": write_vtt,
    "txt": write_txt,
}


def prepare(result: Result, track: str, fmt: str) -> Callable[[IO[str]], int]:
    """Check that ``track`` can be written as ``fmt`` and return the writer, which returns
    the number of cues (``srt``, ``vtt``), lines (``txt``) or records (``json``) written."""
    records = finished_records(result, track)
    if fmt == "json":
        return lambda out: write_json(records, out, track)
    first = next(records, None)
    if first is None:
        return lambda out: _WRITERS[fmt]([], out)
    field = next((f for f in TEXT_FIELDS if f in first), None)
    if field is None:
        raise UsageError(f"track {track!r} has no text for {fmt}; export it as json or csv")
    texts: Iterable[Record] = itertools.chain([first], records)
    if field != "text":
        texts = ({**r, "text": r.get(field)} for r in texts)
    return lambda out: _WRITERS[fmt](texts, out)

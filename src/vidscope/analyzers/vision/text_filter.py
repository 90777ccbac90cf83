"""Which text spans are real text and which are stray readings of lines, edges and textures.

A span read in at least ``persist`` sampled frames is kept as it is: text that stays is text,
whatever it says (a channel logo "O", a clock digit).  A briefer span is kept only if it has
at least ``MIN_CHARS`` letters or digits, a mean score of at least ``MIN_SCORE``, and its
letters are written in a script the video's text uses (the persistent spans' scripts, or
every span's when none persists): a lone "m" or a CJK glyph read once in an English video
goes.  It is decided as soon as it can be: at once when it fails the first two rules, or when
its script is one the persistent spans so far use (a name shown for two seconds then reaches
the transcript's screen hints while its audio is still being decoded); otherwise at the end
of the video, with every span's letters counted.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

from vidscope.analyzers.base import Record

MIN_CHARS = 2
"""Fewest letters or digits a brief span needs."""
MIN_SCORE = 0.8
"""Lowest mean recognition confidence a brief span needs."""
MIN_SHARE = 0.1
"""Smallest share of the video's letters a script needs for a brief span in it to stay."""


def script(char: str) -> str:
    """The script of a letter, from its Unicode name: ``LATIN``, ``CJK``, ``CYRILLIC``..."""
    name = unicodedata.name(char, "")
    return name.split(" ", 1)[0] if name else "UNKNOWN"


def scripts(text: str) -> Counter[str]:
    """How many letters of ``text`` each script has (digits and marks are in no script)."""
    return Counter(script(c) for c in text if c.isalpha())


class SpanFilter:
    """Spans in, plausible spans out: persistent ones at once, brief ones at :meth:`finish`."""

    def __init__(self, persist: int) -> None:
        self.persist = persist
        self.held: list[Record] = []
        self.dropped = 0
        self.letters: Counter[str] = Counter()
        """Letters per script over the persistent spans, weighted by frames."""

    def add(self, records: list[Record]) -> list[Record]:
        """The records that may be emitted now; the undecided ones wait for :meth:`finish`."""
        out = []
        for record in records:
            if record["frames"] >= self.persist:
                for name, n in scripts(record["text"]).items():
                    self.letters[name] += n * record["frames"]
                out.append(record)
            elif not _legible(record):
                self.dropped += 1
            elif self.letters and _in_scripts(record, _known(self.letters)):
                out.append(record)
            else:
                self.held.append(record)
        return out

    def finish(self) -> list[Record]:
        """The held records that pass the rules (``dropped`` counts the others)."""
        letters = self.letters
        if not letters:
            letters = Counter()
            for record in self.held:
                for name, n in scripts(record["text"]).items():
                    letters[name] += n * record["frames"]
        known = _known(letters)
        kept = [r for r in self.held if _in_scripts(r, known)]
        self.dropped += len(self.held) - len(kept)
        self.held = []
        return kept


def _known(letters: Counter[str]) -> set[str]:
    """The scripts with at least ``MIN_SHARE`` of ``letters``."""
    total = sum(letters.values())
    return {name for name, n in letters.items() if n >= MIN_SHARE * total}


def _legible(record: Record) -> bool:
    """Whether a brief span has enough letters or digits, read with enough confidence."""
    return sum(c.isalnum() for c in record["text"]) >= MIN_CHARS and record["score"] >= MIN_SCORE


def _in_scripts(record: Record, known: set[str]) -> bool:
    """Whether most of the span's letters are in the ``known`` scripts (or it has none)."""
    found = scripts(record["text"])
    if not found:
        return True
    return sum(n for name, n in found.items() if name in known) * 2 > sum(found.values())

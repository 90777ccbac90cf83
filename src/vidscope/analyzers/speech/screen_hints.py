"""Text seen on screen as hints for the transcriber.

A promo shows the name of the organisation its narrator keeps saying; Whisper, never having
heard the invented name, writes common words in its place ("bright well" for Brightwell, "no
balloon" for Novalune).  Given the name as a prompt it writes the name.  This module picks
the words worth hinting from ``ocr`` records, says which of them to hint for a stretch of
audio, and splices what a hinted decode heard into the plain decode.

**Terms.**  A term is a word of an ``ocr`` record read with a score of at least
``MIN_SCORE`` (when the record has one) that is at least four letters long and that the
model's tokenizer splits into two or more tokens (``rare``): words the model knows well
("people", "today", "sale") are one token and need no hint, OCR noise is dropped by the
score, and names are rarely one token.  Words written in capitals are hinted in title case,
as a narrator's name would be written.

**Which terms, where.**  A window is hinted with the terms seen on screen from
``MARGIN_S`` before it to ``MARGIN_S`` after it, longest seen first, then the names already
recognised earlier in the input (a term that was heard once, with or without a hint, stays
a candidate for the rest of the input), at most ``MAX_TERMS`` of them.

**When to decode again.**  Whisper decodes each window without hints first.  The window is
decoded again, with the terms as faster-whisper's ``hotwords`` (a prompt before each
decoding), only when a term seen on screen near it is missing from what it heard, or when it
heard words that an earlier hinted decode replaced with a name ("no balloon", once
Novalune took its place: how Whisper hears that voice say it).  A name recognised earlier
and neither on screen nor misheard so is no reason to decode again: otherwise every window
after a name was heard once would be decoded twice.  Nor is a term seen on screen that
``MAX_UNSAID`` hinted decodes did not hear (a channel's logo, a ticker, a title that stays
up): it is still hinted where a window is decoded again for another term.

**Splicing.**  Only where the two decodes differ *and*
the hinted one wrote a hinted term over the middle of words the plain one wrote does that
term replace them, keeping their times (so the words around stay in step) and their
trailing punctuation.  Every other word, its text and its times, is the plain decode's:
on-screen text that is never said changes nothing, and a hint can neither add a name over
silence nor rewrite the rest of the window.  A prompt of proper names alone makes Whisper
write the next compound name as one word ("Brightwell" for "Bright Well" with unrelated
names as the prompt), which only replacing *hinted* terms keeps out.
"""

from __future__ import annotations

import difflib
import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vidscope.analyzers.base import Record

MIN_SCORE = 0.8
"""Lowest OCR score of a record whose words may be hinted."""
MIN_LETTERS = 4
MARGIN_S = 10.0
"""Text seen this long before or after a window is a hint for it."""
MAX_TERMS = 12
"""Terms per hinted decode: Whisper's prompt holds 223 tokens, and a long list of unrelated
words makes it more likely to write one of them."""
MAX_KNOWN = 32
"""Names recognised earlier that stay candidates (the most recent)."""
HOLD_S = 30.0
"""Audio held beyond a window while waiting for on-screen text; then it goes unhinted."""
MAX_SIGHTINGS = 4000
"""Sightings kept waiting for the audio to reach them; beyond this the oldest go."""
MAX_UNSAID = 3
"""Hinted decodes that did not hear a term seen on screen after which it is no reason to
decode again: a logo, a ticker or a title stays on screen while nobody says it, and each
window near it would be decoded twice for nothing."""

_PUNCT = ".,;:!?…\"')»”"
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


def norm(word: str) -> str:
    """A word as compared: case-folded, without punctuation or a possessive ``'s``."""
    word = re.sub(r"['’]s\W*$", "", word.strip().casefold())
    return re.sub(r"[\W_]", "", word)


@dataclass(frozen=True, slots=True)
class Sighting:
    term: str
    start: float
    end: float


def rare(tokenizer: Any, word: str) -> bool:
    """Whether Whisper's ``tokenizer`` (a ``tokenizers.Tokenizer``) spells ``word``, as said
    after a space, with more than one token."""
    return len(tokenizer.encode(" " + word.lower(), add_special_tokens=False).ids) > 1


def terms_of(record: Record, rare: Callable[[str], bool]) -> list[str]:
    """The words of an ``ocr`` record worth hinting (see the module's *Terms*)."""
    score = record.get("score")
    if isinstance(score, int | float) and score < MIN_SCORE:
        return []
    out = []
    for word in _WORD.findall(str(record.get("text", ""))):
        if sum(c.isalpha() for c in word) < MIN_LETTERS:
            continue
        if word.isupper():
            word = word.title()
        if rare(word):
            out.append(word)
    return out


class ScreenText:
    """The terms seen on screen so far, as ``ocr`` records arrive (in order of their end)."""

    def __init__(self, rare: Callable[[str], bool]) -> None:
        self.rare = rare
        self._seen: deque[Sighting] = deque(maxlen=MAX_SIGHTINGS)
        self._known: dict[str, str] = {}
        self._misheard: dict[tuple[str, ...], str] = {}
        """Words a hinted decode replaced with a name -> that name (the most recent)."""
        self._unsaid: dict[str, int] = {}
        """Hinted decodes that did not hear a term seen on screen, by normalised term."""
        self.until = float("-inf")
        """Media time up to which every sighting is known (the latest record's end)."""

    def add(self, record: Record) -> None:
        start, end = float(record["start"]), float(record["end"])
        self.until = max(self.until, end)
        for term in terms_of(record, self.rare):
            self._seen.append(Sighting(term, start, end))

    def ready(self, end: float) -> bool:
        """Whether every sighting that could hint audio ending at ``end`` has arrived."""
        return self.until >= end + MARGIN_S

    def shown(self, start: float, end: float) -> list[str]:
        """Terms seen on screen near the audio ``[start, end)``, longest seen first."""
        seen: dict[str, tuple[float, str]] = {}
        for s in self._seen:
            if s.start < end + MARGIN_S and s.end > start - MARGIN_S:
                key = norm(s.term)
                seconds = seen.get(key, (0.0, s.term))[0] + s.end - s.start
                seen[key] = (seconds, s.term)
        return [term for _, term in sorted(seen.values(), key=lambda v: -v[0])]

    def hints(self, start: float, end: float) -> list[str]:
        """Terms for the audio ``[start, end)``: seen near it, then names known earlier."""
        return self._with_known(self.shown(start, end))

    def _with_known(self, shown: list[str]) -> list[str]:
        terms = {norm(term): term for term in shown}
        for key, term in reversed(self._known.items()):
            terms.setdefault(key, term)
        return list(terms.values())[:MAX_TERMS]

    def misheard(self, records: Sequence[Record]) -> list[str]:
        """The names whose earlier mishearing ``records`` say again."""
        said = tuple(norm(w["word"]) for r in records for w in r["words"])
        return [
            term
            for words, term in self._misheard.items()
            if any(said[i : i + len(words)] == words for i in range(len(said)))
        ]

    def recognised(self, terms: Iterable[str]) -> None:
        """Remember ``terms`` as heard: hints for the rest of the input."""
        for term in terms:
            self._known.pop(norm(term), None)
            self._known[norm(term)] = term
        while len(self._known) > MAX_KNOWN:
            del self._known[next(iter(self._known))]

    def improve(
        self, records: list[Record], start: float, end: float, redo: Callable[..., list[Record]]
    ) -> None:
        """Splice into ``records``, the plain decode of ``[start, end)``, what ``redo``
        (the same decode, given ``hotwords``) hears with the terms it missed as hints."""
        shown = self.shown(start, end)
        terms = self._with_known(shown)
        known = heard(records, terms)
        self.recognised(known)
        missing = [t for t in terms if t not in known]
        unheard = [t for t in missing if t in shown]
        if any(self._unsaid.get(norm(t), 0) < MAX_UNSAID for t in unheard) or self.misheard(
            records
        ):
            # hotwords rather than initial_prompt: the same text, but it reaches every 30 s
            # decode of the part, and "Name." as initial_prompt made tiny.en spend 4.5 times
            # the CPU for the same words (bench/bench_screen_hints.py).
            hinted = redo(hotwords=", ".join(missing))
            spliced = splice(records, hinted, missing)
            self.recognised(dict.fromkeys(s.term for s in spliced))
            got = {norm(s.term) for s in spliced}
            for key in {norm(t) for t in unheard} - got:
                self._unsaid[key] = self._unsaid.pop(key, 0) + 1
            while len(self._unsaid) > MAX_SIGHTINGS:
                del self._unsaid[next(iter(self._unsaid))]
            for s in spliced:
                self._misheard.pop(s.heard, None)
                self._misheard[s.heard] = s.term
            while len(self._misheard) > MAX_KNOWN:
                del self._misheard[next(iter(self._misheard))]

    def prune(self, before: float) -> None:
        """Forget sightings no audio from ``before`` on can be hinted with."""
        while self._seen and self._seen[0].end <= before - MARGIN_S:
            self._seen.popleft()


def heard(records: Sequence[Record], terms: Sequence[str]) -> list[str]:
    """The ``terms`` some word of ``records`` says."""
    said = {norm(w["word"]) for r in records for w in r["words"]}
    return [t for t in terms if norm(t) in said]


def _flat(records: Sequence[Record]) -> list[tuple[int, Record]]:
    return [(i, w) for i, r in enumerate(records) for w in r["words"]]


def _covers(word: Record, other: Record) -> bool:
    """Whether ``word`` is said over the middle of ``other``."""
    return word["start"] <= (other["start"] + other["end"]) / 2 <= word["end"]


def _merged(word: Record, victims: Sequence[Record]) -> Record:
    """The hinted ``word`` in place of the plain words ``victims``: their times (the plain
    decode's, so the words around it stay in step), their spacing and trailing
    punctuation, its spelling."""
    core = word["word"].strip().rstrip(_PUNCT)
    last = victims[-1]["word"]
    space = " " if victims[0]["word"].startswith(" ") else ""
    return {
        **word,
        "word": space + core + last[len(last.rstrip(_PUNCT)) :],
        "start": victims[0]["start"],
        "end": victims[-1]["end"],
        "screen": True,
    }


@dataclass(frozen=True, slots=True)
class Spliced:
    """A hinted term put in place of the plain words ``heard`` (normalised)."""

    term: str
    heard: tuple[str, ...]


def _replacements(
    old: Sequence[Record], new: Sequence[Record], keys: dict[str, str]
) -> dict[int, tuple[int, Record]]:
    """First replaced plain index -> (index after the last, the word that replaces them), for
    every hinted term the hinted decode wrote where the plain one wrote other words."""
    matcher = difflib.SequenceMatcher(
        None, [norm(w["word"]) for w in old], [norm(w["word"]) for w in new], autojunk=False
    )
    out: dict[int, tuple[int, Record]] = {}
    taken: set[int] = set()
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "replace":
            continue  # an insertion replaces nothing the plain decode heard
        for word in new[j1:j2]:
            if norm(word["word"]) not in keys:
                continue
            victims = [i for i in range(i1, i2) if i not in taken and _covers(word, old[i])]
            if victims:
                span = range(victims[0], victims[-1] + 1)
                taken.update(span)
                out[span.start] = (span.stop, _merged(word, [old[i] for i in span]))
    return out


def splice(plain: list[Record], hinted: Sequence[Record], terms: Sequence[str]) -> list[Spliced]:
    """Put into ``plain`` (in place) each hinted term the ``hinted`` decode wrote over other
    plain words (see the module's *Splicing*); flag it ``screen``, list the terms in its
    segment's ``hints``, and return what went in, in place of which words."""
    keys = {norm(t): t for t in terms}
    flat = _flat(plain)
    replaced = _replacements([w for _, w in flat], [w for _, w in _flat(hinted)], keys)
    if not replaced:
        return []
    rebuilt: list[list[Record]] = [[] for _ in plain]
    used: dict[int, list[str]] = {}
    out: list[Spliced] = []
    i = 0
    while i < len(flat):
        owner = flat[i][0]
        if i in replaced:
            stop, word = replaced[i]
            term = keys[norm(word["word"])]
            out.append(Spliced(term, tuple(norm(w["word"]) for _, w in flat[i:stop])))
            i = stop
            rebuilt[owner].append(word)
            hints = used.setdefault(owner, [])
            if term not in hints:
                hints.append(term)
        else:
            rebuilt[owner].append(flat[i][1])
            i += 1
    for index, record in enumerate(plain):
        words = rebuilt[index]
        if words != record["words"]:
            # A replacement may run from one segment into the next: the first one gets it.
            record.update(
                words=words,
                text="".join(w["word"] for w in words).strip(),
                start=words[0]["start"] if words else record["start"],
                end=words[-1]["end"] if words else record["start"],
            )
        if index in used:
            record["hints"] = used[index]
    plain[:] = [s for s in plain if s["words"]]
    return out

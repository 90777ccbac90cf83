"""The query language: words, ``"phrases"``, ``track:term`` and ``AND``.

::

    relief                     a word, in every text track (said, written, captioned)
    "a relief to hear"         a phrase: these words in this order
    judg*                      a word starting with judg
    ocr:"exit"  objects:dog    a term of one track (or of a family: audio, people, captions)
    captions@qwen2-vl:dog      a term of one model's own track, where a run had several
    speaker:S1 relief          what speaker S1 said, containing relief
    objects:person AND relief  both, in the same shot (or within --within seconds)

The parser is written by hand, and only this far, because neither FTS5's own syntax nor a
general one fits: user text must never reach ``MATCH`` as syntax (a stray quote, ``NEAR``,
``-`` or a column filter would be an error or a different query), and ``track:`` and a
cross-track ``AND`` mean things FTS5 cannot say: ``AND`` joins moments of different records
by shot or time, which the search (:mod:`vidscope.search.lookup`) does.  Every term reaches
FTS5 as a quoted string, so it can only ever be words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vidscope.errors import UsageError
from vidscope.search.text import tokens

FAMILIES: dict[str, tuple[str, ...]] = {
    "transcript": ("transcript",),
    "ocr": ("ocr",),
    "captions": ("captions", "shot_captions"),
    "shot_captions": ("shot_captions",),
    "summary": ("summary", "chapters"),
    "chapters": ("chapters",),
    "objects": ("objects",),
    "audio": ("audio_events", "audio_class"),
    "audio_events": ("audio_events",),
    "audio_class": ("audio_class",),
    "people": ("people", "faces"),
    "faces": ("faces",),
    "shots": ("shots",),
}
"""What ``name:`` searches; any other name is taken as a track of its own (a plugin's).  Each
name also covers the tracks of that name with a model's label (``captions@LABEL``)."""
SPEAKER = "speaker"
MAX_TERMS = 32

_TERM = re.compile(r'(?:([A-Za-z][A-Za-z0-9_]*(?:@[A-Za-z0-9_-]+)?):)?(?:"([^"]*)("?)|(\S+))')


@dataclass(frozen=True)
class Term:
    """A word or phrase, folded into tokens; ``prefix``: its last token may go on."""

    words: tuple[str, ...]
    prefix: bool = False

    def fts(self) -> str:
        """The term as an FTS5 string (tokens only: nothing in it is syntax)."""
        return '"' + " ".join(self.words) + '"' + (" *" if self.prefix else "")


@dataclass(frozen=True)
class Clause:
    """What one moment must hold: all ``terms`` in one record of ``tracks`` (every text
    track when None), said by ``speaker`` when given.  ``tracks`` are names without a
    model's label, and cover every model's track of that name (``captions@LABEL``) unless
    ``label`` narrows them to that model's."""

    terms: tuple[Term, ...]
    tracks: tuple[str, ...] | None = None
    speaker: str | None = None
    label: str | None = None

    def labelled(self) -> tuple[str, ...]:
        """The tracks of ``label`` (``captions@LABEL``, ...); none without one."""
        return tuple(f"{t}@{self.label}" for t in self.tracks or ()) if self.label else ()

    def match(self) -> str | None:
        """The FTS5 query of the clause; None for a speaker alone."""
        return " AND ".join(t.fts() for t in self.terms) or None


@dataclass(frozen=True)
class Query:
    """Clauses joined by ``AND``: a moment where every clause holds."""

    clauses: tuple[Clause, ...]
    text: str


def parse_query(text: str) -> Query:
    """Parse ``text``; :class:`~vidscope.errors.UsageError` says what is wrong with it."""
    groups: list[list[tuple[str | None, Term | str]]] = [[]]
    for m in _TERM.finditer(text.strip()):
        field, quoted, closed, bare = m.groups()
        if bare == "AND" and field is None:
            groups.append([])
            continue
        if quoted is not None and not closed:
            raise UsageError(f"unbalanced quote in the query: {text!r}")
        if field is not None and field.lower() == SPEAKER:
            groups[-1].append((SPEAKER, (quoted if quoted is not None else bare).strip()))
            continue
        raw = quoted if quoted is not None else bare
        prefix = quoted is None and raw.endswith("*")
        words = tuple(tokens(raw))
        if words:
            groups[-1].append((field and field.lower(), Term(words, prefix)))
    if any(not group for group in groups):
        raise UsageError(
            "nothing to search for" if len(groups) == 1 else "AND needs a term on either side"
        )
    clauses = tuple(_clause(group) for group in groups)
    if sum(len(c.terms) for c in clauses) > MAX_TERMS:
        raise UsageError(f"a query holds at most {MAX_TERMS} terms")
    return Query(clauses, text)


def _clause(group: list[tuple[str | None, Term | str]]) -> Clause:
    speakers = {value for field, value in group if field == SPEAKER}
    fields = {field for field, _ in group if field not in (None, SPEAKER)}
    if len(speakers) > 1 or len(fields) > 1 or (speakers and fields - {"transcript"}):
        raise UsageError(
            "one track per term group: join terms of different tracks with AND "
            "(objects:dog AND audio:music)"
        )
    terms = tuple(v for _, v in group if isinstance(v, Term))
    if speakers:
        return Clause(terms, ("transcript",), str(speakers.pop()))
    if not fields:
        return Clause(terms)
    name, _, label = fields.pop().partition("@")
    return Clause(terms, FAMILIES.get(name, (name,)), label=label or None)

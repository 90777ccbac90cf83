"""Words as the index sees them: case and accents folded, split where FTS5's ``unicode61``
tokenizer splits (anything that is not a letter or a digit), so that a hit can be traced back
to the words of a record: a transcript segment to the words said, a snippet to its matches."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_TOKEN = re.compile(r"[^\W_]+")
SNIPPET_CHARS = 160


def fold(text: str) -> str:
    """``text`` without case or accents (``Café`` -> ``cafe``), as ``remove_diacritics 2``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokens(text: str) -> list[str]:
    """The folded tokens of ``text``."""
    return _TOKEN.findall(fold(text))


def matches(token: str, term: str, prefix: bool) -> bool:
    return token.startswith(term) if prefix else token == term


def find_phrase(
    stream: Sequence[str], phrase: Sequence[str], prefix: bool = False
) -> list[tuple[int, int]]:
    """Every ``[i, j)`` of ``stream`` where the tokens of ``phrase`` follow one another (the
    last one as a prefix when ``prefix``)."""
    n, first, last = len(phrase), phrase[0], phrase[-1]
    if n == 1:
        return [(i, i + 1) for i, token in enumerate(stream) if matches(token, first, prefix)]
    head = list(phrase[:-1])
    return [
        (i, i + n)
        for i in range(len(stream) - n + 1)
        if stream[i] == first
        and list(stream[i : i + n - 1]) == head
        and matches(stream[i + n - 1], last, prefix)
    ]


def highlight(text: str, terms: Sequence[tuple[Sequence[str], bool]]) -> str:
    """``text`` with the words matching any term in ``[...]``, cut to about
    :data:`SNIPPET_CHARS` around the first match."""
    wanted = [(phrase, prefix) for phrase, prefix in terms if phrase]
    spans = [(m.start(), m.end(), fold(m.group())) for m in _TOKEN.finditer(text)]
    stream = [t for _, _, t in spans]
    marked: set[int] = set()
    for phrase, prefix in wanted:
        for i, j in find_phrase(stream, phrase, prefix):
            marked.update(range(i, j))
    if not marked:
        return _cut(text, 0)
    parts, pos = [], 0
    for k in sorted(marked):
        s, e, _ = spans[k]
        parts += [text[pos:s], "[", text[s:e], "]"]
        pos = e
    parts.append(text[pos:])
    marked_text = "".join(parts)
    return _cut(marked_text, marked_text.find("["))


def _cut(text: str, around: int) -> str:
    if len(text) <= SNIPPET_CHARS:
        return text
    lo = max(0, around - SNIPPET_CHARS // 3)
    hi = lo + SNIPPET_CHARS
    return ("…" if lo else "") + text[lo:hi].strip() + ("…" if hi < len(text) else "")

"""Answering a query: ranked moments of the indexed bundles.

A one-clause query is one FTS5 lookup, ranked by BM25 and paged in SQL.  A query with
``AND`` looks each clause up (the later ones only in bundles the earlier ones found), then
keeps the moments where every clause holds in the same shot, or, given ``within``, within
that many seconds of a hit of the clause with the fewest hits.  A transcript hit is
narrowed from its segment to the words that matched, so that a phrase is found at the time
it is said.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from vidscope.errors import UsageError
from vidscope.search.query import FAMILIES, Clause, Query
from vidscope.search.rows import TEXT
from vidscope.search.text import find_phrase, highlight

MAX_CLAUSE_ROWS = 100_000
"""Rows one clause of an ``AND`` query may bring back before the join: a bound on memory."""


# Not frozen: an AND query builds thousands, and a frozen init costs twice as much.
@dataclass(slots=True)
class Hit:
    """One moment: where (``bundle``, ``start``, ``end``, ``shot``), which ``track`` said
    what (``text``, ``snippet`` with the matched words in ``[...]``), and how well
    (``score``, higher is better)."""

    bundle: str
    start: float
    end: float
    track: str
    text: str
    score: float
    shot: int | None
    snippet: str = ""
    bid: int = field(default=0, repr=False, compare=False)
    terms: tuple[tuple[tuple[str, ...], bool], ...] = field(default=(), repr=False, compare=False)
    """The clause's terms, to mark in the snippet."""
    parts: tuple[Hit, ...] = field(default=(), repr=False, compare=False)
    """The hits of an ``AND`` query's clauses that make this moment."""

    def marked(self) -> Hit:
        """This hit with its snippet: made only for the hits shown (a tenth of a
        millisecond each, which a thousand rows of an ``AND`` clause would add up)."""
        if self.parts:
            snippet = " + ".join(p.marked().snippet for p in self.parts)
        else:
            snippet = highlight(self.text, self.terms)
        return replace(self, score=round(self.score, 4), snippet=snippet)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bundle": self.bundle,
            "start": self.start,
            "end": self.end,
            "track": self.track,
            "text": self.text,
            "score": self.score,
            "shot": self.shot,
            "snippet": self.snippet,
        }


@dataclass(frozen=True)
class Page:
    """A page of hits, best first, and whether more follow."""

    hits: list[Hit]
    more: bool


def search(
    db: sqlite3.Connection,
    query: Query,
    *,
    within: float | None = None,
    limit: int = 20,
    offset: int = 0,
    owner: str | None = None,
    bundles: Iterable[str] | None = None,
) -> Page:
    """The hits of ``query`` ranked ``offset`` to ``offset + limit``, among the bundles of
    ``owner`` (every bundle when None) and, when given, only the bundle keys ``bundles``;
    ``within`` only for a query of several clauses (``A AND B``)."""
    if within is not None and len(query.clauses) == 1:
        raise UsageError(
            "within applies to A AND B (moments where both hold within that many seconds "
            "of each other); this query has no AND"
        )
    bids = None if bundles is None else _bids(db, bundles)
    _check_tracks(db, query, owner)
    if len(query.clauses) == 1:
        hits = _lookup(db, query.clauses[0], owner, bids, limit + 1, offset)
        return Page([h.marked() for h in hits[:limit]], len(hits) > limit)
    # The rarest clause first: each later one is looked up only in the bundles the earlier
    # ones were found in.
    found: list[list[Hit]] = [[] for _ in query.clauses]
    for n in sorted(range(len(query.clauses)), key=lambda n: _count(db, query.clauses[n])):
        found[n] = _lookup(db, query.clauses[n], owner, bids, MAX_CLAUSE_ROWS, 0)
        bids = {h.bid for h in found[n]}
        if not bids:
            return Page([], False)
    joined = _join(db, found, within)
    page = joined[offset : offset + limit]
    return Page([h.marked() for h in page], len(joined) > offset + limit)


def _bids(db: sqlite3.Connection, keys: Iterable[str]) -> set[int]:
    wanted = list(keys)
    rows = db.execute(
        "SELECT bid FROM bundles WHERE key IN (SELECT value FROM json_each(?))",
        (orjson.dumps(wanted).decode(),),
    )
    return {row["bid"] for row in rows}


def _check_tracks(db: sqlite3.Connection, query: Query, owner: str | None) -> None:
    """A ``name:`` that is no family and no track in the index, or a ``name@LABEL:`` of no
    track of that model, is a typo, said as such."""
    named = {t for c in query.clauses if not c.label for t in c.tracks or () if t not in FAMILIES}
    labelled = [c.labelled() for c in query.clauses if c.label]
    if not named and not labelled:
        return
    sql = "SELECT DISTINCT m.track FROM moments m"
    if owner is not None:
        sql += " JOIN bundles b ON b.bid = m.bid WHERE b.owner = ?"
    present = {row[0] for row in db.execute(sql, () if owner is None else (owner,))}
    families = {track.partition("@")[0] for track in present}
    unknown = sorted(named - families) + [ts[0] for ts in labelled if not present.intersection(ts)]
    if unknown:
        known = ", ".join(sorted(set(FAMILIES) | present | {"speaker"}))
        raise UsageError(f"no track {unknown[0]!r} in the index (tracks: {known})")


def _count(db: sqlite3.Connection, clause: Clause) -> int:
    """About how many rows ``clause`` matches, every track and owner counted: a cheap
    estimate (FTS5 counts from its index) of how selective it is."""
    match = clause.match()
    if match is None:
        sql, args = "SELECT count(*) FROM moments WHERE speaker = ? COLLATE NOCASE", clause.speaker
    else:
        sql, args = "SELECT count(*) FROM fts WHERE fts MATCH ?", match
    return int(db.execute(sql, (args,)).fetchone()[0])


def _lookup(
    db: sqlite3.Connection,
    clause: Clause,
    owner: str | None,
    bids: set[int] | None,
    limit: int,
    offset: int,
) -> list[Hit]:
    match = clause.match()
    where, args = [], []
    if match is not None:
        where.append("fts MATCH ?")
        args.append(match)
    if clause.tracks is None:
        where.append("m.kind = ?")
        args.append(TEXT)
    elif clause.label is None:
        where.append("m.family IN (SELECT value FROM json_each(?))")
        args.append(orjson.dumps(clause.tracks).decode())
    else:
        where.append("m.track IN (SELECT value FROM json_each(?))")
        args.append(orjson.dumps(clause.labelled()).decode())
    if clause.speaker is not None:
        where.append("m.speaker = ? COLLATE NOCASE")
        args.append(clause.speaker)
    if owner is not None:
        where.append("b.owner = ?")
        args.append(owner)
    if bids is not None:
        where.append("m.bid IN (SELECT value FROM json_each(?))")
        args.append(orjson.dumps(sorted(bids)).decode())
    source = "fts JOIN moments m ON m.id = fts.rowid" if match is not None else "moments m"
    rank = "fts.rank" if match is not None else "0.0"
    order = "rank, m.bid, m.start" if match is not None else "m.bid, m.start"
    sql = (
        f"SELECT m.bid, b.key, m.track, m.start, m.end, m.shot, m.text, m.words, {rank} AS rank"
        f" FROM {source} JOIN bundles b ON b.bid = m.bid WHERE {' AND '.join(where)}"
        f" ORDER BY {order} LIMIT ? OFFSET ?"
    )
    try:
        rows = db.execute(sql, (*args, limit, offset)).fetchall()
    except sqlite3.OperationalError as exc:
        raise UsageError(f"cannot search for that ({exc})") from None
    terms = tuple((t.words, t.prefix) for t in clause.terms)
    return [_hit(row, terms) for row in rows]


def _hit(row: sqlite3.Row, terms: tuple[tuple[tuple[str, ...], bool], ...]) -> Hit:
    # Times are the records' own (microseconds); only a score is rounded, when shown.
    start, end = row["start"], row["end"]
    if row["words"] and terms:
        start, end = _narrow(orjson.loads(row["words"]), terms, start, end)
    return Hit(
        bundle=row["key"],
        start=start,
        end=end,
        track=row["track"],
        text=row["text"],
        score=-row["rank"] if row["rank"] else 1.0,
        shot=row["shot"],
        bid=row["bid"],
        terms=terms,
    )


def _narrow(
    words: list[list[Any]],
    terms: Sequence[tuple[Sequence[str], bool]],
    start: float,
    end: float,
) -> tuple[float, float]:
    """The span of the words of a segment that match ``terms`` (the segment's own span when
    none does: its words may be tokenized differently from its text).  ``words`` are stored
    folded (see :func:`vidscope.search.index._words`)."""
    owner_of = [k for k, (word, _, _) in enumerate(words) for _ in word.split()]
    stream = " ".join(w[0] for w in words).split()
    hit: set[int] = set()
    for phrase, prefix in terms:
        for i, j in find_phrase(stream, phrase, prefix):
            hit.update(owner_of[i:j])
    if not hit:
        return start, end
    return min(words[k][1] for k in hit), max(words[k][2] for k in hit)


def _join(db: sqlite3.Connection, found: list[list[Hit]], within: float | None) -> list[Hit]:
    """Moments where a hit of every clause falls in the same shot (or, given ``within``,
    within that many seconds of a hit of the anchor clause: the one with the fewest hits,
    see :func:`_anchor`), best first."""
    by_bundle: dict[int, list[list[Hit]]] = defaultdict(lambda: [[] for _ in found])
    for n, hits in enumerate(found):
        for h in hits:
            by_bundle[h.bid][n].append(h)
    both = [bid for bid, groups in by_bundle.items() if all(groups)]
    shots = {} if within is not None else _shots(db, both)
    out: list[Hit] = []
    for bid in both:
        if shots.get(bid):
            out += _same_shot(by_bundle[bid], shots[bid])
        else:
            out += _near(by_bundle[bid], within or 0.0)
    out.sort(key=lambda h: (-h.score, h.bundle, h.start))
    return out


def _shots(db: sqlite3.Connection, bids: list[int]) -> dict[int, list[tuple[int, float, float]]]:
    """The shots of each bundle of ``bids``, in time order."""
    rows = db.execute(
        "SELECT bid, shot, start, end FROM shots WHERE bid IN (SELECT value FROM json_each(?))"
        " ORDER BY bid, start",
        (orjson.dumps(bids).decode(),),
    )
    out: dict[int, list[tuple[int, float, float]]] = defaultdict(list)
    for r in rows:
        out[r["bid"]].append((r["shot"], r["start"], r["end"]))
    return out


def _overlapped(
    hit: Hit,
    shots: list[tuple[int, float, float]],
    starts: list[float],
    spans: dict[int, tuple[float, float]],
) -> set[int]:
    """The shots ``hit`` overlaps (an instant: the one it falls in)."""
    if hit.shot is not None and hit.shot in spans:
        lo, hi = spans[hit.shot]
        if lo <= hit.start and hit.end <= hi:
            return {hit.shot}
    first = max(0, bisect.bisect_right(starts, hit.start) - 1)
    out = set()
    for shot, lo, hi in shots[first:]:
        if lo > hit.end or (lo == hit.end and hit.end > hit.start):
            break
        if hi > hit.start or (hi == hit.start == hit.end):
            out.add(shot)
    return out


def _anchor(groups: list[list[Hit]]) -> int:
    """The clause a joined moment is placed at: the one with the fewest hits, the most
    specific (a word said, rather than a person on screen for the whole shot)."""
    return min(range(len(groups)), key=lambda n: len(groups[n]))


def _same_shot(groups: list[list[Hit]], shots: list[tuple[int, float, float]]) -> list[Hit]:
    starts = [s[1] for s in shots]
    spans = {shot: (lo, hi) for shot, lo, hi in shots}
    best: list[dict[int, Hit]] = []
    for hits in groups:
        per_shot: dict[int, Hit] = {}
        for h in hits:
            for shot in _overlapped(h, shots, starts, spans):
                if shot not in per_shot or h.score > per_shot[shot].score:
                    per_shot[shot] = h
        best.append(per_shot)
    anchor = _anchor(groups)
    out = []
    for shot in sorted(set(best[0]).intersection(*best[1:])):
        lo, hi = spans[shot]
        parts = [b[shot] for b in best]
        start = min(max(lo, parts[anchor].start), hi)
        out.append(_combined(parts, start, max(start, min(hi, parts[anchor].end)), shot))
    return out


def _near(groups: list[list[Hit]], within: float) -> list[Hit]:
    first = _anchor(groups)
    out = []
    for anchor in groups[first]:
        parts = []
        for hits in groups:
            close = [h for h in hits if max(h.start - anchor.end, anchor.start - h.end) <= within]
            if not close:
                break
            parts.append(anchor if hits is groups[first] else max(close, key=lambda h: h.score))
        else:
            out.append(_combined(parts, anchor.start, anchor.end, anchor.shot))
    return out


def _combined(parts: list[Hit], start: float, end: float, shot: int | None) -> Hit:
    return replace(
        parts[0],
        start=start,
        end=end,
        track="+".join(dict.fromkeys(p.track for p in parts)),
        text=" + ".join(p.text for p in parts),
        score=sum(p.score for p in parts),
        shot=shot,
        parts=tuple(parts),
    )

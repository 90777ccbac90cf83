"""``vidscope index`` and ``vidscope search``: put bundles into the search index, find moments
across all of them.

No postponed annotations: typer reads every command's signature on every invocation (see
:mod:`vidscope.cli`).
"""

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vidscope.cli.console import err, fail, out
from vidscope.cli.overrides import ConfigOpt, SetOpt, overrides
from vidscope.errors import UsageError, VidscopeError

if TYPE_CHECKING:
    from vidscope.search.index import SearchIndex
    from vidscope.search.lookup import Hit

IndexOpt = Annotated[
    Path | None,
    typer.Option(
        "--index",
        metavar="FILE",
        help="index file (default: search.index, else the data directory's)",
    ),
]
_DURATION = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|min)?\s*")
_UNIT = {None: 1.0, "s": 1.0, "ms": 0.001, "m": 60.0, "min": 60.0}


def _open_index(index_file: Path | None, config: Path | None, set_: list[str] | None) -> Path:
    from vidscope.config import read_settings
    from vidscope.search.index import index_path

    if index_file is not None:
        return index_file
    return index_path(read_settings(config, overrides(set_)).settings)


def _refresh(ix: "SearchIndex", roots: list[Path]) -> tuple[dict[str, int], set[str]]:
    """Index every bundle under ``roots`` and forget those gone from them: what changed, and
    the keys of the bundles found."""
    from vidscope.search.index import bundle_key, find_bundles

    counts = {"added": 0, "updated": 0, "unchanged": 0, "removed": 0, "skipped": 0}
    found: set[str] = set()
    for bundle in find_bundles(roots):
        try:
            counts[ix.add(bundle)] += 1
        except VidscopeError as exc:
            counts["skipped"] += 1
            err.print(f"[yellow]skipped:[/] {exc}", highlight=False, soft_wrap=True)
            continue
        found.add(bundle_key(bundle))
    gone = set().union(*(ix.keys(under=root) for root in roots)) - found
    counts["removed"] = ix.remove(gone)
    return counts, found


def index(
    dirs: Annotated[
        list[Path],
        typer.Argument(metavar="DIR", help="bundle directories, or folders of them"),
    ],
    index_file: IndexOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Add every result bundle under DIRS to the search index (again after a re-run; a bundle
    no longer there is dropped from it)."""
    from vidscope.search.index import SearchIndex

    began = time.perf_counter()
    try:
        path = _open_index(index_file, config, set_)
        with SearchIndex(path) as ix:
            counts, found = _refresh(ix, dirs)
            stats = ix.stats()
    except VidscopeError as exc:
        raise fail(exc) from None
    said = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
    took = time.perf_counter() - began
    err.print(
        f"indexed {len(found)} bundle(s) in {took:.1f} s ({said or 'none'}); "
        f"{path}: {stats['bundles']} bundles, {stats['moments']} moments, "
        f"{stats['bytes'] / 1e6:.1f} MB",
        highlight=False,
        soft_wrap=True,
    )


def add_to_index(path: Path, bundle: Path) -> None:
    """After ``analyze``: add ``bundle`` to the configured index; a failure is a warning (the
    bundle is written, and ``vidscope index`` can add it later)."""
    from vidscope.search.index import SearchIndex

    try:
        with SearchIndex(path) as ix:
            ix.add(bundle)
    except VidscopeError as exc:
        err.print(f"[yellow]warning:[/] not indexed: {exc}", highlight=False, soft_wrap=True)


def parse_seconds(text: str) -> float:
    """``5s``, ``2.5``, ``500ms``, ``1m``: seconds; :class:`UsageError` otherwise."""
    m = _DURATION.fullmatch(text)
    if m is None:
        raise UsageError(f"--within expects a duration such as 5s, 500ms or 1m, got {text!r}")
    return float(m.group(1)) * _UNIT[m.group(2)]


def open_hints(hit: "Hit") -> dict[str, str]:
    """How to look at a hit: the records at its start, and the report seeking there."""
    return {
        "show": f"vidscope show {hit.bundle} --at {hit.start:g}",
        "report": f"{Path(hit.bundle) / 'report.html'}#t={hit.start:g}",
    }


def search(
    query: Annotated[
        str, typer.Argument(metavar="QUERY", help='words, "phrases", track:term, A AND B')
    ],
    in_: Annotated[
        list[Path] | None,
        typer.Option(
            "--in",
            metavar="DIR",
            help="only the bundles under DIR (indexed first if they changed); repeatable",
        ),
    ] = None,
    within: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="A AND B only: within this long of each other (5s) instead of one shot",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, metavar="N", help="most hits shown")] = 20,
    json_out: Annotated[bool, typer.Option("--json", help="hits as JSON lines")] = False,
    index_file: IndexOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Find moments across every indexed bundle: what was said, written, captioned and heard,
    ranked best first.

    Words search every text track (case and accents do not matter); "a phrase" in quotes;
    track:term one track (ocr:"exit", objects:dog, audio:music, people:2, shots:dissolve,
    speaker:S1), captions@LABEL:dog one model's; A AND B moments where both hold in the same
    shot, or --within 5s of each other."""
    from vidscope.search import SearchIndex, parse_query
    from vidscope.search import search as run_search

    try:
        parsed = parse_query(query)
        seconds = None if within is None else parse_seconds(within)
        path = _open_index(index_file, config, set_)
        with SearchIndex(path, create=bool(in_)) as ix:
            keys = _refresh(ix, in_)[1] if in_ else None
            page = run_search(ix.db, parsed, within=seconds, limit=limit, bundles=keys)
    except VidscopeError as exc:
        raise fail(exc) from None
    if json_out:
        import json

        for hit in page.hits:
            print(json.dumps({**hit.as_dict(), "open": open_hints(hit)}, ensure_ascii=False))
        return
    if not page.hits:
        err.print("no moments found", highlight=False)
        return
    for n, hit in enumerate(page.hits, 1):
        _print_hit(n, hit)
    if page.more:
        err.print(f"(more than {limit}: --limit to see more)", highlight=False)


def _clock(t: float) -> str:
    minutes, seconds = divmod(max(0.0, t), 60)
    return f"{int(minutes)}:{seconds:06.3f}"


def _print_hit(n: int, hit: "Hit") -> None:
    from rich.markup import escape
    from rich.text import Text

    shot = "" if hit.shot is None else f"  shot {hit.shot}"
    snippet = Text("     " + hit.snippet)
    snippet.highlight_regex(r"\[[^\]]+\]", "bold")
    hints = open_hints(hit)
    out.print(
        f"{n:>3}. [cyan]{escape(hit.bundle)}[/]  {_clock(hit.start)}–{_clock(hit.end)}  "
        f"[magenta]{hit.track}[/]{shot}  score {hit.score:g}",
        highlight=False,
        soft_wrap=True,
    )
    out.print(snippet, highlight=False, soft_wrap=True)
    out.print(
        f"     [dim]{escape(hints['show'])}  ·  {escape(hints['report'])}[/]",
        highlight=False,
        soft_wrap=True,
    )

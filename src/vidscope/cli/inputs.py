"""What ``vidscope analyze`` was asked to read: files, directories of media files, CSV
manifests and URLs, each paired with the bundle it goes to."""

from pathlib import Path
from urllib.parse import urlsplit

from vidscope.errors import UsageError
from vidscope.media.names import safe_name

MEDIA_SUFFIXES = {
    ".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv",
    ".mp3", ".wav", ".flac", ".ogg", ".opus", ".m4a", ".aac",
}  # fmt: skip


def is_url(text: str) -> bool:
    """Whether ``text`` is an http(s) URL rather than a path."""
    return urlsplit(text).scheme in ("http", "https")


def _manifest_rows(path: Path) -> list[tuple[str, str | None]]:
    """``(input, name)`` rows of a CSV manifest: an ``input`` column (or ``path``/``url``, else
    the first column) and an optional ``name`` for the bundle folder; relative paths are
    relative to the manifest."""
    import csv

    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{path}: cannot read the manifest ({exc})") from None
    if not rows:
        raise UsageError(f"{path}: the manifest lists no inputs")
    columns = list(rows[0])
    column = next((c for c in ("input", "path", "url") if c in columns), columns[0])
    out: list[tuple[str, str | None]] = []
    for n, row in enumerate(rows, 2):
        item = (row.get(column) or "").strip()
        if not item:
            raise UsageError(f"{path}:{n}: no {column!r}")
        if not is_url(item) and not Path(item).is_absolute():
            item = str(path.parent / item)
        out.append((item, (row.get("name") or "").strip() or None))
    return out


def expand(inputs: list[str]) -> tuple[list[tuple[str, str | None]], bool]:
    """Inputs as given, directories expanded to their media files and CSV manifests to their
    rows, each with the bundle name it asks for; and whether each input gets its own
    sub-folder of the output."""
    expanded: list[tuple[str, str | None]] = []
    many = len(inputs) > 1
    for item in inputs:
        path = Path(item)
        if not is_url(item) and path.is_dir():
            many = True
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in MEDIA_SUFFIXES)
            if not files:
                raise UsageError(f"{path}: no media files in this directory")
            expanded.extend((str(p), None) for p in files)
        elif not is_url(item) and path.suffix.lower() == ".csv" and path.is_file():
            many = True
            expanded.extend(_manifest_rows(path))
        else:
            expanded.append((item, None))
    return expanded, many


def bundle_jobs(
    items: list[tuple[str, str | None]], output: Path, many: bool
) -> list[tuple[str, Path]]:
    """``(input, bundle)`` pairs: ``output`` itself for one input, else a distinct
    ``output/<name>`` per input."""
    if not many:
        return [(items[0][0], output)]
    used: set[str] = set()
    jobs: list[tuple[str, Path]] = []
    for item, wanted in items:
        stem = safe_name(wanted) if wanted else _stem(item)
        name, i = stem, 2
        while name in used:
            name, i = f"{stem}-{i}", i + 1
        used.add(name)
        jobs.append((item, output / name))
    return jobs


def _stem(item: str) -> str:
    return safe_name(Path(urlsplit(item).path).stem if is_url(item) else Path(item).stem)

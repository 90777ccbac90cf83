"""Any track as a table: CSV or Parquet, one row per record.

Nested objects become dotted columns (``{"counts": {"person": 2}}`` gives ``counts.person``);
columns come in the order they first appear.  In CSV a list is a JSON string and a missing or
null value an empty cell.  Parquet keeps lists (and the objects inside them) as native list
and struct columns.

Both read the track twice and never hold more than one batch of records, so a track of any
length is written with bounded memory.  CSV's first pass collects the columns for the
header.  Parquet's first pass infers each column's type batch by batch and unifies the
types across batches (an int column that meets a float becomes float, a struct gains the
fields other rows have, an all-null column meeting a type takes it); a column whose values
disagree beyond that (a string here, a number there) is written as JSON text instead.  The
second pass writes row groups of :data:`BATCH` records against that one schema.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import orjson

from vidscope.timeline.exports.common import Record, finished_records, optional
from vidscope.timeline.result import Result

BATCH = 10_000
"""Records per Parquet row group (and per schema-inference step)."""

Records = Callable[[], Iterable[Record]]
"""A source that yields the records afresh on every call: tables read them twice."""


def flatten(record: Record, prefix: str = "") -> Record:
    """Nested objects as dotted keys (an empty object adds none); lists and other values
    unchanged."""
    flat: Record = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _columns(records: Records) -> list[str]:
    return list(dict.fromkeys(k for r in records() for k in flatten(r)))


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return _json(value) if isinstance(value, list) else value


def write_csv(records: Records, out: IO[str]) -> int:
    """A header of every column, then one row per record; returns the rows."""
    columns = _columns(records)
    writer = csv.writer(out, lineterminator="\n")
    if columns:  # an empty track is an empty file, not one blank line
        writer.writerow(columns)
    rows = 0
    for record in records():
        flat = flatten(record)
        writer.writerow([_cell(flat.get(c)) for c in columns])
        rows += 1
    return rows


def _batches(records: Records, size: int) -> Iterator[list[Record]]:
    it = iter(records())
    while batch := [flatten(r) for r in itertools.islice(it, size)]:
        yield batch


def _writable(pa: Any, t: Any) -> bool:
    """Parquet has no struct without fields (``[{}]`` values); such a column goes out as JSON."""
    if pa.types.is_struct(t):
        return t.num_fields > 0 and all(_writable(pa, f.type) for f in t)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _writable(pa, t.value_type)
    return True


def parquet_schema(pa: Any, records: Records, batch: int = BATCH) -> tuple[Any, set[str]]:
    """The schema for a track's table and the columns written as JSON text (see the module
    notes)."""
    types: dict[str, Any] = {}
    as_json: set[str] = set()
    for rows in _batches(records, batch):
        for name in dict.fromkeys(k for r in rows for k in r):
            types.setdefault(name, pa.null())
            if name in as_json:
                continue
            try:
                found = pa.array([r.get(name) for r in rows]).type
                unified = (
                    pa.unify_schemas(
                        [pa.schema([(name, types[name])]), pa.schema([(name, found)])],
                        promote_options="permissive",
                    )
                    .field(name)
                    .type
                )
            except (pa.ArrowException, OverflowError):
                as_json.add(name)
                continue
            if _writable(pa, unified):
                types[name] = unified
            else:
                as_json.add(name)
    fields = [(n, pa.string() if n in as_json else t) for n, t in types.items()]
    return pa.schema(fields), as_json


def _values(rows: list[Record], name: str, as_json: bool) -> list[Any]:
    values = [r.get(name) for r in rows]
    return [None if v is None else _json(v) for v in values] if as_json else values


def write_parquet(records: Records, out: IO[bytes], batch: int = BATCH) -> int:
    """One row group per ``batch`` records against the unified schema; returns the rows."""
    pa = optional("pyarrow", "parquet")
    pq = optional("pyarrow.parquet", "parquet")
    schema, as_json = parquet_schema(pa, records, batch)
    rows = 0
    with pq.ParquetWriter(out, schema) as writer:
        for chunk in _batches(records, batch):
            columns = [pa.array(_values(chunk, f.name, f.name in as_json), f.type) for f in schema]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
            rows += len(chunk)
    return rows


def prepare(result: Result, track: str, fmt: str) -> Callable[[IO[Any]], int]:
    """Check the track (and for Parquet that pyarrow is installed) and return the writer."""
    finished_records(result, track).close()

    def records() -> Iterable[Record]:
        return result.iter_track(track)

    if fmt == "csv":
        return lambda out: write_csv(records, out)
    optional("pyarrow.parquet", fmt)
    return lambda out: write_parquet(records, out)

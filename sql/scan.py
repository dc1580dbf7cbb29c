"""`docs` as DuckDB scans it: a Lance dataset that also takes filters on list columns, and
that can serve a session's later queries from columns it keeps in memory.

DuckDB pushes a query's filters down into the Arrow scan (`scanner(columns=, filter=)`).
Lance turns such a pyarrow expression into Substrait, which cannot describe list and
fixed-size-list fields (an embedding, a MinHash signature): it leaves them out of the
schema it converts against, and `WHERE embedding IS NOT NULL` then fails with "No match
for FieldRef.Name(embedding)". A filter that names such a column is therefore applied by
Arrow to the scanned batches instead (the other filters still go to Lance).

A `ColumnCache` (a `Session` holds one) keeps docs' small columns of one lake version in
memory once a query has read them: numbers, booleans, dates, and the `id` and `source`
strings, up to CACHE_BYTES; never the text. A later query that asks for cached columns alone
reads no Lance file: re-selecting with new weights over 5M rows x 10 scores spends ~half its
time decoding the columns from Lance again otherwise (docs/benchmarks.md). The cache answers
only for the version it was filled at; a scan of another version empties it first."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from lance.dataset import LanceDataset


def _nested(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if pa.types.is_nested(f.type)]


def _named(expression: pc.Expression, names: list[str]) -> list[str]:
    """Which of `names` the expression mentions (by its text: a false match only costs speed)."""
    text = str(expression)
    return [n for n in names if re.search(rf"(?<![\w.]){re.escape(n)}(?![\w])", text)]


class FilteredScan:
    """A scanner's batches with an Arrow filter applied and the asked-for columns kept."""

    def __init__(self, inner, expression: pc.Expression, columns: list[str]):
        self.inner, self.expression, self.columns = inner, expression, columns

    def to_reader(self) -> pa.RecordBatchReader:
        reader = self.inner.to_reader()
        schema = pa.schema([reader.schema.field(c) for c in self.columns])

        def batches():
            for batch in reader:
                kept = pa.Table.from_batches([batch]).filter(self.expression).select(self.columns)
                yield from kept.to_batches()

        return pa.RecordBatchReader.from_batches(schema, batches())

    @property
    def projected_schema(self) -> pa.Schema:
        return pa.schema([self.inner.projected_schema.field(c) for c in self.columns])


CACHE_BYTES = 4 * 2**30  # what a ColumnCache holds at most (estimated: rows x width; 32 bytes a string)
CACHED_STRINGS = ("id", "source")  # docs' string columns known to be short


def _cacheable(field: pa.Field) -> bool:
    t = field.type
    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t)
            or pa.types.is_temporal(t) or (field.name in CACHED_STRINGS and pa.types.is_string(t)))


def _width(t: pa.DataType) -> int:
    return 32 if pa.types.is_string(t) else max(1, t.bit_width // 8)


class ColumnCache:
    """docs' small columns at one lake version, in memory (see the module)."""

    def __init__(self, limit: int = CACHE_BYTES):
        self.limit = limit
        self.version: int | None = None
        self.columns: dict[str, pa.ChunkedArray] = {}
        self.bytes = 0

    def table(self, dataset: LanceDataset, columns: list[str]) -> pa.Table | None:
        """`columns` of `dataset` from memory (those not yet held read now, in one scan), or
        None where one of them is not to be kept (too large, or not a small column)."""
        if dataset.version != self.version:
            self.version, self.columns, self.bytes = dataset.version, {}, 0
        missing = [c for c in dict.fromkeys(columns) if c not in self.columns]
        if missing:
            fields = [dataset.schema.field(c) for c in missing]
            size = dataset.count_rows() * sum(_width(f.type) for f in fields) if all(map(_cacheable, fields)) else None
            if size is None or self.bytes + size > self.limit:
                return None
            read = LanceDataset.scanner(dataset, columns=missing).to_table()
            self.columns.update({c: read[c] for c in missing})
            self.bytes += size
        return pa.table({c: self.columns[c] for c in columns})


class DocsScan(LanceDataset):
    """A LanceDataset whose `scanner` applies filters on list columns itself, and answers from
    its ColumnCache where it has one (module doc)."""

    _cache: ColumnCache | None = None

    def scanner(self, columns=None, filter=None, **options):  # noqa: A002  (pyarrow's name)
        if self._cache is not None and columns and not options and filter is None:
            table = self._cache.table(self, list(columns))
            if table is not None:
                return ds.dataset(table).scanner()
        if filter is None or isinstance(filter, str):
            return super().scanner(columns=columns, filter=filter, **options)
        named = _named(filter, _nested(self.schema))
        if not named:
            return super().scanner(columns=columns, filter=filter, **options)
        wanted = list(columns) if columns is not None else self.schema.names
        read = list(dict.fromkeys([*wanted, *_named(filter, self.schema.names)]))
        return FilteredScan(super().scanner(columns=read, **options), filter, wanted)


def for_duckdb(dataset: LanceDataset, cache: ColumnCache | None = None) -> LanceDataset:
    """The same dataset (same version, same session), scanned as DocsScan does; with `cache`,
    its small columns are kept there for later scans."""
    dataset.__class__ = DocsScan
    dataset._cache = cache
    return dataset

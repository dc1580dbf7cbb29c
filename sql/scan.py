"""`docs` as DuckDB scans it: a Lance dataset that also takes filters on list columns.

DuckDB pushes a query's filters down into the Arrow scan (`scanner(columns=, filter=)`).
Lance turns such a pyarrow expression into Substrait, which cannot describe list and
fixed-size-list fields (an embedding, a MinHash signature): it leaves them out of the
schema it converts against, and `WHERE embedding IS NOT NULL` then fails with "No match
for FieldRef.Name(embedding)". A filter that names such a column is therefore applied by
Arrow to the scanned batches instead (the other filters still go to Lance)."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc
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


class DocsScan(LanceDataset):
    """A LanceDataset whose `scanner` applies filters on list columns itself (module doc)."""

    def scanner(self, columns=None, filter=None, **options):  # noqa: A002  (pyarrow's name)
        if filter is None or isinstance(filter, str):
            return super().scanner(columns=columns, filter=filter, **options)
        named = _named(filter, _nested(self.schema))
        if not named:
            return super().scanner(columns=columns, filter=filter, **options)
        wanted = list(columns) if columns is not None else self.schema.names
        read = list(dict.fromkeys([*wanted, *_named(filter, self.schema.names)]))
        return FilteredScan(super().scanner(columns=read, **options), filter, wanted)


def for_duckdb(dataset: LanceDataset) -> LanceDataset:
    """The same dataset (same version, same session), scanned as DocsScan does."""
    dataset.__class__ = DocsScan
    return dataset

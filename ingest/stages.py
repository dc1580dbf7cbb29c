"""The units of work of a partitioned ingest (ingest/partitioned.py), run by engine workers.

Each unit is a small frozen dataclass whose `run(context)` does the work and returns a small
result; every large thing goes through the run's staging folder (ingest/staging.py) or, at
the end, into the lake as uncommitted Lance fragments that the driver commits.

1. `ParseUnit`: an input (or a byte range of one) parsed into documents, rejects and the
   content hashes of its documents, by partition. `LakeKeysUnit`: the content hashes and ids
   of a group of the lake's fragments, by partition (ingest/duplicates.py).
2. `HashUnit`: one hash partition decided: which documents are kept, and their id claims.
3. `IdUnit`: one id partition decided: which kept documents keep their input id.
4. `WriteUnit`: a unit's kept documents, with their ids, written as fragments of `docs`,
   and its rejects as fragments of `rejects` (lance.fragment.write_fragments).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import fsspec
import lance
import pyarrow as pa
import pyarrow.compute as pc
from lance.fragment import FragmentMetadata, write_fragments

from winnow.lake import schema

from winnow.ingest import duplicates, keyindex
from winnow.ingest.documents import APPEND_SCHEMA, PARTIAL, BatchBuilder, FieldNames, final_docs
from winnow.ingest.ranges import open_range
from winnow.ingest.readers import READERS, open_decompressed, read
from winnow.ingest.staging import Staging

FIRST_REJECTS = 20
STAGED_REJECTS = pa.schema([("input_row", pa.int64()), ("reason", pa.string()), ("detail", pa.string()),
                            ("raw", pa.string())])
# Staged text is written as the lake writes it, uncompressed (lake/schema.py: 10x faster to write).
STAGED_DOCS = PARTIAL.set(PARTIAL.get_field_index("text"),
                          PARTIAL.field("text").with_metadata(schema.DOCS.field("text").metadata))
DECISIONS = pa.schema([("unit", pa.int32()), ("row", pa.int64())])  # unit: its position among the run's


@dataclass(frozen=True)
class Context:
    """What every worker of the run needs; sent once per worker."""

    staging: Staging
    docs_uri: str
    rejects_uri: str
    docs_version: int  # the lake version deduplicated against
    storage_options: dict
    bits: int  # key partitions: 2**bits
    max_doc_bytes: int
    batch_docs: int
    batch_bytes: int
    look_up: bool = False  # the lake's keys asked of its key index by passes 2 and 3, not staged


def context(c: Context) -> Context:
    """A worker's state: the context itself (engine `init`)."""
    return c


def run_unit(c: Context, unit):
    """Run one unit (engine `fn`)."""
    return unit.run(c)


def docs_file(index: int) -> str:
    return f"unit-{index:06d}.docs.lance"


def keys_file(index: int) -> str:
    return f"unit-{index:06d}.keys.lance"


def rejects_file(index: int) -> str:
    return f"unit-{index:06d}.rejects.lance"


def lake_keys_file(group: int) -> str:
    return f"lake-{group:06d}.keys.lance"


def kept_file(part: int) -> str:
    return f"hash-{part:05d}.kept.lance"


def claims_file(part: int) -> str:
    return f"hash-{part:05d}.claims.lance"


def owners_file(part: int) -> str:
    return f"id-{part:05d}.owners.lance"


# -- 1. parse ----------------------------------------------------------------------------------


@dataclass
class Parsed:
    index: int
    records: int = 0
    documents: int = 0  # before dedup
    rejects: int = 0
    reasons: Counter = field(default_factory=Counter)
    details: dict = field(default_factory=dict)  # reason -> its first detail
    first_rejects: list = field(default_factory=list)  # (row in the unit, reason, detail)
    key_starts: list = field(default_factory=list)  # partition q's keys: key_starts[q] .. key_starts[q+1]
    failure: str = ""  # the input could not be read


@dataclass(frozen=True)
class ParseUnit:
    index: int
    uri: str
    format: str
    fields: FieldNames
    start_row: int = 0  # rows <= start_row were committed by an earlier run
    byte_range: tuple[int, int] | None = None  # [start, end); None: the whole input
    size: int = 0  # bytes, for progress

    def __str__(self) -> str:
        where = f" bytes {self.byte_range[0]:,}-{self.byte_range[1]:,}" if self.byte_range else ""
        return f"{self.uri}{where}"

    def run(self, c: Context) -> Parsed:
        out = Parsed(self.index)
        try:
            self._parse(c, out)
        except OSError as e:
            out.failure = f"{self.uri}: cannot read: {e}"
        except Exception as e:  # noqa: BLE001 - a reader bug fails this input, not the run
            out.failure = f"{self.uri}: {type(e).__name__}: {e}"
        return out

    def _parse(self, c: Context, out: Parsed) -> None:
        builder = BatchBuilder(self.fields, c.max_doc_bytes)
        reader = READERS[self.format]
        docs = c.staging.writer(docs_file(self.index), STAGED_DOCS)
        rejects = None
        keys: list[pa.Table] = []

        def take() -> None:
            nonlocal rejects
            table, rejected, records = builder.take()
            out.records += records
            if table.num_rows:
                docs.write_batch(table.cast(STAGED_DOCS))
                keys.append(table.select(["content_hash", "input_id", "input_row"]))
            if rejected:
                rejects = rejects or c.staging.writer(rejects_file(self.index), STAGED_REJECTS)
                rejects.write_batch(pa.table({
                    "input_row": [row for row, _ in rejected], "reason": [r.reason for _, r in rejected],
                    "detail": [r.detail for _, r in rejected], "raw": [r.raw for _, r in rejected]},
                    schema=STAGED_REJECTS))
                for row, r in rejected:
                    out.reasons[r.reason] += 1
                    out.details.setdefault(r.reason, r.detail)
                    if len(out.first_rejects) < FIRST_REJECTS:
                        out.first_rejects.append((row, r.reason, r.detail))

        with self._open() as raw:
            stream = open_decompressed(raw, self.uri) if reader.decompress else raw
            for row, record in read(reader, stream, self.start_row):
                builder.add(row, record)
                if len(builder.columns["text"]) >= c.batch_docs or builder.text_bytes >= c.batch_bytes:
                    take()
            take()
        docs.close()
        if rejects is not None:
            rejects.close()
        out.rejects = sum(out.reasons.values())
        every = pa.concat_tables(keys) if keys else PARTIAL.empty_table().select(["content_hash", "input_id",
                                                                                   "input_row"])
        out.documents = every.num_rows
        table, out.key_starts = duplicates.run_keys(every["content_hash"].combine_chunks(),
                                               every["input_id"].combine_chunks(),
                                               every["input_row"].combine_chunks(), c.bits)
        c.staging.write(keys_file(self.index), table)

    def _open(self):
        if self.byte_range is None:
            return fsspec.open(self.uri, "rb")
        return open_range(self.uri, *self.byte_range)


@dataclass(frozen=True)
class LakeKeysUnit:
    group: int
    fragments: tuple[int, ...]  # fragment ids of `docs` at the context's version

    def __str__(self) -> str:
        return f"the lake's keys, fragments {self.fragments[0]}-{self.fragments[-1]}"

    def run(self, c: Context) -> list[int]:
        """Where each (partition, kind) starts in this group's key file (duplicates.lake_keys)."""
        ds = lance.dataset(c.docs_uri, version=c.docs_version, storage_options=c.storage_options or None)
        t = pa.concat_tables([ds.get_fragment(f).to_table(columns=["content_hash", "id"]) for f in self.fragments])
        table, starts = duplicates.lake_keys(t["content_hash"].combine_chunks(), t["id"].combine_chunks(), c.bits)
        c.staging.write(lake_keys_file(self.group), table)
        return starts


# -- 2. content hashes, 3. ids ------------------------------------------------------------------


def _known(c: Context, lake: tuple, column: str, keys) -> set[str]:
    """The lake's keys of a partition: from the staged key files, or those among the run's
    `keys` (a callable giving them) that the key index finds."""
    if c.look_up:
        ds = lance.dataset(c.docs_uri, version=c.docs_version, storage_options=c.storage_options or None)
        return keyindex.LakeKeys(ds).known(column, keys())
    known: set[str] = set()
    for name, start, n in lake:
        if n:
            known.update(c.staging.read(name, start, n, columns=["key"])["key"].to_pylist())
    return known


@dataclass(frozen=True)
class HashUnit:
    part: int
    lake: tuple[tuple[str, int, int], ...]  # (file, start, rows): the lake's content hashes of this partition
    units: tuple[tuple[str, int, int], ...]  # (file, start, rows) of each unit's, in unit order

    def __str__(self) -> str:
        return f"content hash partition {self.part}"

    def run(self, c: Context) -> tuple[list[int], list[int]]:
        """Where each unit's kept rows start in this partition's kept file, and where each id
        partition's claims start in its claims file (each with one more: the end)."""
        tables = {k: c.staging.read(name, start, n) for k, (name, start, n) in enumerate(self.units) if n}
        known = _known(c, self.lake, "content_hash",
                       lambda: {h for t in tables.values() for h in t["key"].to_pylist()})
        kept, claims = [], []
        for k, table in tables.items():
            rows, unit_claims = duplicates.keep(known, k, table, c.bits)
            kept.append(pa.table({"unit": pa.array([k] * len(rows), pa.int32()), "row": pa.array(rows, pa.int64())},
                                 schema=DECISIONS))
            claims.append(unit_claims)
        kept = pa.concat_tables(kept) if kept else DECISIONS.empty_table()
        claims = pa.concat_tables(claims).sort_by([("part", "ascending")]) if claims else duplicates.CLAIMS.empty_table()
        c.staging.write(kept_file(self.part), kept)
        c.staging.write(claims_file(self.part), claims)
        return (duplicates.group_starts(kept["unit"].to_numpy(), len(self.units)),
                duplicates.group_starts(claims["part"].to_numpy(), 1 << c.bits))


@dataclass(frozen=True)
class IdUnit:
    part: int
    lake: tuple[tuple[str, int, int], ...]  # (file, start, rows): the lake's ids of this partition
    claims: tuple[tuple[str, int, int], ...]  # (file, start, rows): this partition's claims from each hash unit
    units: int  # the run's units

    def __str__(self) -> str:
        return f"id partition {self.part}"

    def run(self, c: Context) -> list[int]:
        """Where each unit's owning rows start in this partition's owners file (one more: the end)."""
        claims = [c.staging.read(name, start, n) for name, start, n in self.claims if n]
        known = _known(c, self.lake, "id", lambda: {i for t in claims for i in t["key"].to_pylist()})
        owners = duplicates.own(known, pa.concat_tables(claims)) if claims else DECISIONS.empty_table()
        owners = owners.cast(DECISIONS)
        c.staging.write(owners_file(self.part), owners)
        return duplicates.group_starts(owners["unit"].to_numpy(), self.units)


# -- 4. write ----------------------------------------------------------------------------------


@dataclass
class Written:
    index: int
    docs: list[FragmentMetadata]
    rejects: list[FragmentMetadata]
    written: int
    text_bytes: int


@dataclass(frozen=True)
class WriteUnit:
    index: int
    input: str
    source: str
    ingest_id: str
    row_offset: int  # the rows of the byte ranges before this one, in its input
    kept: tuple[tuple[str, int, int], ...]  # (file, start, rows): this unit's kept rows in each hash partition
    owners: tuple[tuple[str, int, int], ...]  # (file, start, rows): its rows that keep their input id
    has_rejects: bool

    def __str__(self) -> str:
        return f"writing unit {self.index} of {self.input}"

    def run(self, c: Context) -> Written:
        kept_rows, owned_rows = _rows(c, self.kept), _rows(c, self.owners)
        docs: list[FragmentMetadata] = []
        text_bytes = 0

        def final():  # the unit's kept documents, streamed from its staged file
            nonlocal text_bytes
            for batch in c.staging.batches(docs_file(self.index)):
                keep = pa.Table.from_batches([batch.filter(pc.is_in(batch["input_row"], value_set=kept_rows))])
                if keep.num_rows:
                    ids = pc.if_else(pc.is_in(keep["input_row"], value_set=owned_rows), keep["input_id"],
                                     keep["content_hash"])
                    text_bytes += pc.sum(keep["n_bytes"]).as_py()
                    yield from final_docs(keep, ids, self.source, self.ingest_id, self.row_offset).to_batches()

        if len(kept_rows):
            docs = write_fragments(pa.RecordBatchReader.from_batches(APPEND_SCHEMA, final()), c.docs_uri,
                                   schema=APPEND_SCHEMA, max_rows_per_file=schema.FRAGMENT_ROWS,
                                   storage_options=c.storage_options or None)
        rejects: list[FragmentMetadata] = []
        if self.has_rejects:
            r = c.staging.read(rejects_file(self.index))
            n = r.num_rows
            table = pa.table({
                "ingest_id": pa.array([self.ingest_id] * n, pa.string()),
                "input": pa.array([self.input] * n, pa.string()),
                "input_row": pc.add(r["input_row"], self.row_offset) if self.row_offset else r["input_row"],
                "reason": r["reason"], "detail": r["detail"], "raw": r["raw"]}, schema=schema.REJECTS)
            rejects = write_fragments(table, c.rejects_uri, schema=schema.REJECTS,
                                      storage_options=c.storage_options or None)
        return Written(self.index, docs, rejects, len(kept_rows), text_bytes)


def _rows(c: Context, slices: tuple[tuple[str, int, int], ...]) -> pa.Array:
    """The rows of a unit's slices of decision files."""
    parts = [c.staging.read(name, start, n, columns=["row"])["row"].combine_chunks() for name, start, n in slices if n]
    return pa.concat_arrays(parts) if parts else pa.array([], pa.int64())

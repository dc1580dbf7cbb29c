"""Vectors of the lake through lancedb: the `docs` table opened as a lancedb table, an
IVF-PQ index (cosine) on a vector column, and the nearest documents to a vector.

`lancedb.connect(LAKE).open_table("docs")` opens LAKE/docs.lance, the table pylance
writes: lancedb reads and commits the same Lance dataset, so an index built here is one
more commit of `docs` (a new lake version; no data file is rewritten) and every other
verb keeps reading the lake with pylance. What was measured (lancedb 0.40, pylance 14):

- Rows appended after the index was built, and fragments whose vectors a scorer wrote
  again (a DataReplacement), are left out of the index: a search reads them exactly, and
  `winnow index` again folds them in. Dropping the column drops its index.
- Training product quantization needs 256 vectors (8-bit codes: 256 centroids per
  sub-vector); with fewer, Lance writes an empty index, so fewer are refused here. Null
  vectors (rows not embedded yet) are indexed as nothing and never returned; NaN vectors
  (empty documents) are never returned either.
- PQ distances are approximate (a document's distance to itself reads ~0.03); a search
  through the index re-ranks `REFINE_FACTOR * k` candidates on the full vectors
  (`refine_factor`), so the distances it returns are exact cosine distances.

Defaults (lancedb's IvfPq docs give sqrt(rows) partitions and dimension / 16 sub-vectors):
`sqrt(rows)` partitions, at most `rows // 256` so that each partition is trained on 256
vectors (Lance's IVF sample rate; with fewer it trains fewer partitions than asked and
warns); `dimension / 16` sub-vectors (`/ 8` when 16 does not divide it), each then 16 or 8
floats, what Lance's SIMD kernels take. A search probes `max(20, partitions / 20)`
partitions: lancedb's default of 20 for a small lake, 5% of them for a large one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from winnow.lake import display, schema
from winnow.lake.errors import UsageError
from winnow.lake.extras import need
from winnow.lake.lake import Lake, LakeError, clean_message

DISTANCE = "cosine"
MIN_INDEX_ROWS = 256  # PQ trains 2**8 centroids per sub-vector
IVF_SAMPLE_RATE = 256  # vectors per partition Lance trains IVF on
MIN_NPROBES = 20
REFINE_FACTOR = 10


class VectorError(LakeError):
    """A vector index or search failed."""


class VectorUsageError(VectorError, UsageError):
    """A vector index or search asked wrongly: a column, an id, an option, a filter."""


@display.shown
@dataclass
class Neighbours:
    documents: pa.Table  # nearest first: the columns asked for and `distance` (cosine)
    column: str  # the vector column searched
    indexed: bool  # True: through the column's IVF-PQ index (re-ranked exactly); False: an exact search
    seconds: float = 0.0  # the search's own time
    lake_version: int = 0


@display.shown
@dataclass
class IndexResult:
    column: str
    name: str  # the index's name in Lance (COLUMN_idx)
    rows: int  # rows indexed (with a vector)
    partitions: int  # IVF partitions asked for
    sub_vectors: int
    seconds: float = 0.0
    lake_version: int = 0  # the lake version that holds the index


def open_docs(lake: Lake):
    """The lake's `docs` as a lancedb table (`lancedb.connect(LAKE).open_table("docs")`)."""
    import lancedb

    if lake.uri.startswith("memory://"):
        raise VectorUsageError(f"{lake.uri}: lancedb cannot open a memory:// lake (it lives in this process's "
                               "Lance session); use a lake on disk or object storage")
    try:
        db = lancedb.connect(lake.uri, storage_options=lake.storage_options or None)
        return db.open_table("docs")
    except (OSError, ValueError, RuntimeError) as e:
        raise lake.store_error(e, f"lancedb cannot open docs of the lake at {lake.uri}") from e


def vector_field(lake: Lake, column: str, docs=None) -> pa.Field:
    """The field of `column` in docs, checked to be a vector (a fixed-size list of floats);
    a VectorUsageError names what to run when it is missing or what it is instead."""
    docs = docs if docs is not None else lake.docs()
    if column not in docs.schema.names:
        hint = (f"embed the documents first: winnow score {lake.uri} embed" if column == "embedding" else
                f"give a vector column of docs (`winnow score {lake.uri} embed` writes `embedding`)")
        raise VectorUsageError(f"docs has no column {column!r}: {hint}")
    f = docs.schema.field(column)
    if not (pa.types.is_fixed_size_list(f.type) and pa.types.is_floating(f.type.value_type)):
        raise VectorUsageError(f"column {column!r} is {f.type}, not a vector (a fixed-size list of floats, "
                               f"as `winnow score {lake.uri} embed` writes)")
    return f


def numeric_columns(schema_: pa.Schema) -> list[str]:
    """The metric columns of docs holding numbers (integers or floats): the scores a search shows."""
    core = set(schema.DOCS.names)
    return [f.name for f in schema_ if f.name not in core
            and (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))]


def default_partitions(rows: int) -> int:
    """IVF partitions for `rows` vectors: sqrt(rows), at most one per 256 vectors, at least 1."""
    return max(1, min(round(math.sqrt(rows)), rows // IVF_SAMPLE_RATE))


def default_sub_vectors(dimension: int) -> int:
    """PQ sub-vectors for a dimension: dimension / 16, else / 8, else 1 (lancedb's rule)."""
    for width in (16, 8):
        if dimension % width == 0:
            return dimension // width
    return 1


def index_of(table, column: str):
    """The vector index on `column` of a lancedb table, or None."""
    for config in table.list_indices():
        if list(config.columns) == [column] and "ivf" in str(config.index_type).lower():
            return config
    return None


def build_index(lake: Lake, column: str = "embedding", *, partitions: int | None = None,
                sub_vectors: int | None = None) -> IndexResult:
    """Build (or build again) an IVF-PQ cosine index on a vector column through lancedb;
    returns an IndexResult. A VectorUsageError (nothing written) for a missing or non-vector
    column, too few vectors, or partitions / sub-vectors that do not fit."""
    need("raters", "winnow index", ["lancedb"])
    from lancedb.index import IvfPq

    t0 = time.perf_counter()
    docs = lake.docs()
    f = vector_field(lake, column, docs)
    dimension = f.type.list_size
    rows = docs.count_rows(filter=f"{column} IS NOT NULL")
    if rows < MIN_INDEX_ROWS:
        raise VectorUsageError(
            f"an IVF-PQ index needs at least {MIN_INDEX_ROWS} rows with a vector in {column!r}; docs has {rows:,} "
            f"(`winnow similar` searches exactly without an index, and is fast at this size)")
    for value, option in ((partitions, "--partitions"), (sub_vectors, "--sub-vectors")):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise VectorUsageError(f"{option} must be a whole number > 0, got {value!r}")
    partitions = partitions or default_partitions(rows)
    sub_vectors = sub_vectors or default_sub_vectors(dimension)
    if partitions > rows:
        raise VectorUsageError(f"--partitions {partitions} is more than the {rows:,} vectors to index")
    if dimension % sub_vectors:
        raise VectorUsageError(f"--sub-vectors {sub_vectors} does not divide the dimension {dimension} of {column!r}")
    table = open_docs(lake)
    config = IvfPq(distance_type=DISTANCE, num_partitions=partitions, num_sub_vectors=sub_vectors)
    try:
        table.create_index(column, config=config, replace=True)
    except (OSError, ValueError, RuntimeError) as e:
        text = clean_message(e)
        if "Not enough rows to train" in text:  # NaN vectors (empty documents) are not training data
            raise VectorUsageError(f"an IVF-PQ index needs at least {MIN_INDEX_ROWS} vectors of numbers in "
                                   f"{column!r} ({text})") from e
        raise VectorError(f"cannot build the index on {column!r}: {text}") from e
    built = index_of(table, column)
    return IndexResult(column=column, name=built.name if built else f"{column}_idx", rows=rows,
                       partitions=partitions, sub_vectors=sub_vectors, seconds=time.perf_counter() - t0,
                       lake_version=lake.docs().version)


def sql_string(value: str) -> str:
    """`value` as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def vector_of(lake: Lake, column: str, doc_id: str) -> np.ndarray:
    """The float32 vector of document `doc_id`; a VectorUsageError for an unknown id or a
    document without a vector (not embedded yet, or empty)."""
    docs = lake.docs()
    vector_field(lake, column, docs)
    found = docs.to_table(columns=[column], filter=f"id = {sql_string(doc_id)}")
    if found.num_rows == 0:
        raise VectorUsageError(f"no document with id {doc_id!r} in the lake")
    value = found.column(column)[0]
    if not value.is_valid:
        raise VectorUsageError(f"document {doc_id!r} has no {column!r} yet: winnow score {lake.uri} embed")
    vector = np.asarray(value.values.to_numpy(zero_copy_only=False), dtype=np.float32)
    if not np.all(np.isfinite(vector)) or not np.any(vector):
        raise VectorUsageError(f"document {doc_id!r} has no direction in {column!r} (an empty document's "
                               "vector is NaN): nothing is near it")
    return vector


def nprobes(partitions: int | None) -> int:
    """Partitions a search probes: lancedb's 20, or 5% of a larger index's (the default
    partitions of the rows it indexed: lancedb's statistics do not say how many it has)."""
    return max(MIN_NPROBES, math.ceil((partitions or 0) / 20))


def check_k(k) -> int:
    """`k` when it is a whole number > 0, else a VectorUsageError (checked before any model
    is loaded to embed a query)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise VectorUsageError(f"-k must be a whole number > 0, got {k!r}")
    return k


def nearest(lake: Lake, column: str, vector: np.ndarray, k: int = 10, ids: pa.Array | None = None,
            columns: list[str] | tuple[str, ...] = ("id",)) -> Neighbours:
    """The `k` rows nearest to `vector` by cosine distance, nearest first, with `columns`
    and `distance`. Through the column's IVF-PQ index when there is one (re-ranked on the
    full vectors: exact distances), an exact search otherwise; with `ids` (the documents a
    filter kept: the API runs `--where` in DuckDB) only those are searched, so k rows come
    back when k match. A VectorUsageError for a bad k."""
    need("raters", "winnow similar", ["lancedb"])
    check_k(k)
    docs = lake.docs()
    vector_field(lake, column, docs)
    table = open_docs(lake)
    t0 = time.perf_counter()  # the search's own time (importing lancedb takes ~2 s, once)
    index = index_of(table, column)
    query = (table.search(np.asarray(vector, dtype=np.float32), vector_column_name=column, query_type="vector")
             .distance_type(DISTANCE).limit(k).select([*columns, "_distance"]))
    if index is not None:
        indexed = table.index_stats(index.name).num_indexed_rows
        query = query.nprobes(nprobes(default_partitions(indexed))).refine_factor(REFINE_FACTOR)
    if ids is not None:
        quoted = ", ".join("'" + str(i).replace("'", "''") + "'" for i in ids.to_pylist())
        query = query.where(f"id IN ({quoted})" if quoted else "false", prefilter=True)
    try:
        found = query.to_arrow()
    except (OSError, ValueError, RuntimeError) as e:
        raise VectorError(f"the search over {column!r} failed: {clean_message(e)}") from e
    found = found.rename_columns(["distance" if c == "_distance" else c for c in found.column_names])
    return Neighbours(found, column, index is not None, time.perf_counter() - t0, table.version)

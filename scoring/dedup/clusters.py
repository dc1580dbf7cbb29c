"""The columns every dedup method writes: a cluster and a keep flag per document.

    dup_cluster  STRING  the smallest document id of the document's cluster (string order,
                         by UTF-8 bytes); NULL when it is in none
    dup_keep     BOOL    true for the one kept member of each cluster and for every unique
                         document: `WHERE dup_keep` is the deduplicated lake

(semantic dedup writes `semdup_cluster` / `semdup_keep` with the same meaning.)

A cluster is named by a document id, not by a row position: `winnow compact` rewrites the
fragments and with them every row's position and address, and ids never change, so the
values stay true after a compaction (and do not depend on the order documents came in).
Without `keep_by` the kept member is the one whose id is `dup_cluster`. Inside one run the
methods work on rows: a document's *row* is its 0-based position in `docs` at the version
read, in scan order (fragments by id, offsets in order: `rows_in_order`); `cluster_of` gives
each row its cluster's smallest row, and `cluster_names` turns those into ids. Version "1"
of these columns held the smallest row (INT64): a rerun on such a lake writes them anew.

Keep rule: in each cluster the member with the highest `keep_by` value is kept (a DuckDB
SQL expression over docs columns, evaluated as `SELECT id, (EXPR) FROM docs` at the version
read; NULL and NaN count as lowest); ties, and no `keep_by`, go to the smallest id (string
order, by UTF-8 bytes).

`write_clusters` compares the new values with those the lake holds and writes only the
fragments that hold a changed row, one column file each (lake/fragments.py `ColumnWriter`,
a DataReplacement, as the scoring runner writes its columns); the job is recorded in the
`metrics` catalog (running, then done or failed with its error). Everything that can be
checked is checked before the lake changes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.lake import Lake, catalog, display, schema
from winnow.lake.columns import add_columns, drop_columns
from winnow.lake.errors import UsageError, WinnowError
from winnow.lake.fragments import ColumnWriter
from winnow.lake.killpoints import step
from winnow.lake.lake import clean_message
from winnow.lake.version import WINNOW_VERSION

VERSION = "2"  # of the dedup columns' meaning (scorer_version in the catalog); "1": INT64 rows
COMMIT_ROWS = 1 << 20  # changed rows per commit

__all__ = ["DedupError", "DedupResult", "DedupUsageError", "check_keep_by", "cluster_names", "rows_in_order",
           "write_clusters"]


class DedupError(WinnowError):
    """A dedup job that failed once it had begun writing (recorded as failed)."""


class DedupUsageError(DedupError, UsageError):
    """A dedup job asked wrongly: a column, a threshold, a keep-by expression."""


@display.shown
@dataclass
class DedupResult:
    method: str  # minhash | semantic
    columns: tuple[str, str]  # (cluster column, keep column)
    rows: int = 0  # documents at the version read
    clusters: int = 0  # clusters of two documents or more
    duplicates: int = 0  # members of a cluster not kept
    changed: int = 0  # rows whose values this run wrote
    seconds: float = 0.0
    lake_version: int = 0  # the version after the write (the version read when nothing changed)

    def _summary(self) -> str:
        return (f"{self.method}: {self.clusters:,} clusters, {self.duplicates:,} duplicates of {self.rows:,} "
                f"documents, lake version {self.lake_version}")

    def _view(self) -> display.View:
        v = display.View(f"dedup {self.method}", [
            ("columns", self.columns), ("documents", self.rows), ("clusters (2 or more)", self.clusters),
            ("duplicates (not kept)", f"{self.duplicates:,} ({display.share(self.duplicates, self.rows)})"),
            ("rows changed", self.changed), ("seconds", round(self.seconds, 2)), ("lake version", self.lake_version)])
        if self.rows:
            v.parts.append(display.Bars(["kept", "duplicates"], [self.rows - self.duplicates, self.duplicates],
                                        "documents", "documents"))
        return v


def rows_in_order(docs, columns: list[str], batch_rows: int = 65536) -> Iterator[pa.RecordBatch]:
    """The batches of `columns` of `docs` (a pinned dataset) in row order, each with a
    `_rowaddr` column; a row's number is its position in this stream."""
    last = -1
    for fragment in sorted(docs.get_fragments(), key=lambda f: f.fragment_id):
        scanner = docs.scanner(columns=columns, fragments=[fragment], with_row_address=True,
                               batch_size=batch_rows, scan_in_order=True)
        for batch in scanner.to_batches():
            if not batch.num_rows:
                continue
            addr = batch.column("_rowaddr").to_numpy()
            if addr[0] <= last or (len(addr) > 1 and np.any(np.diff(addr.astype(np.int64)) <= 0)):
                raise DedupError("docs did not scan in row-address order")  # a defect: the rows would be wrong
            last = int(addr[-1])
            yield batch


def normalize(cluster_of: np.ndarray) -> np.ndarray:
    """`cluster_of` checked (int64, each entry -1 or a row <= its own, whose own entry is
    itself) with clusters of one member set to -1; returns a new array."""
    c = np.asarray(cluster_of)
    if c.ndim != 1 or not np.issubdtype(c.dtype, np.integer):
        raise DedupError(f"cluster_of must be a 1-D integer array, got {c.dtype} of shape {c.shape}")
    c = c.astype(np.int64, copy=True)
    n = len(c)
    member = c >= 0
    rows = np.flatnonzero(member)
    roots = c[member]
    if np.any(c < -1) or np.any(roots > rows) or np.any(c[roots] != roots):
        raise DedupError("cluster_of must hold, per row, -1 or its cluster's smallest row (whose own entry is itself)")
    size = np.bincount(roots, minlength=n) if n else np.zeros(0, np.int64)
    c[member & (size[np.maximum(c, 0)] < 2)] = -1
    return c


def cluster_names(cluster_of: np.ndarray, ids: pa.Array) -> pa.Array:
    """Per row, the smallest id (string order, by UTF-8 bytes) of its cluster, from
    `normalize`d `cluster_of`; null for a row in none."""
    n = len(cluster_of)
    members = np.flatnonzero(cluster_of >= 0)
    if not len(members):
        return pa.nulls(n, pa.string())
    table = pa.table({"cluster": pa.array(cluster_of[members]), "id": ids.take(pa.array(members)).cast(pa.string())})
    smallest = table.group_by("cluster").aggregate([("id", "min")])
    at = np.full(n, -1, dtype=np.int64)
    at[members] = pc.index_in(table["cluster"], value_set=smallest["cluster"]).to_numpy()
    return smallest["id_min"].combine_chunks().take(pa.array(at, mask=at < 0))


def keep_flags(cluster_of: np.ndarray, ids: pa.Array, values: pa.Array | None) -> np.ndarray:
    """Per row, whether it is kept: every row with cluster -1, and in each cluster the row
    with the highest `values` entry (null and NaN lowest), ties to the smallest id."""
    keep = cluster_of < 0
    members = np.flatnonzero(~keep)
    if not len(members):
        return keep
    columns = {"cluster": pa.array(cluster_of[members]), "id": ids.take(pa.array(members))}
    order = [("cluster", "ascending")]
    if values is not None:
        v = values.take(pa.array(members))
        if pa.types.is_floating(v.type):
            v = pc.if_else(pc.is_nan(v), pa.scalar(None, v.type), v)
        columns["v"] = v
        order.append(("v", "descending"))
    order.append(("id", "ascending"))
    table = pa.table(columns)
    sorted_at = pc.sort_indices(table, sort_keys=order).to_numpy()  # nulls at the end: the default of every pyarrow
    clusters = cluster_of[members][sorted_at]
    first = np.ones(len(sorted_at), dtype=bool)
    first[1:] = clusters[1:] != clusters[:-1]
    keep[members[sorted_at[first]]] = True
    return keep


def check_keep_by(query, keep_by: str, version: int) -> None:
    """A DedupUsageError unless `keep_by` is one SQL expression over docs (evaluated on no row)."""
    keep_values(query, keep_by, version, None)


def keep_values(query, keep_by: str, version: int, ids: pa.Array | None) -> pa.Array | None:
    """The `keep_by` expression's value per row (aligned with `ids`); a DedupUsageError for
    an expression DuckDB cannot evaluate over docs or one whose values do not order."""
    if query is None:
        raise DedupUsageError("--keep-by needs SQL over the lake: call it through winnow.dedup or `winnow dedup`")
    if ";" in keep_by:
        raise DedupUsageError(f"--keep-by {keep_by!r}: give one SQL expression over docs columns, without ';'")
    try:
        limit = " LIMIT 0" if ids is None else ""
        table = query(f"SELECT id, ({keep_by}) AS keep_by FROM docs{limit}", version)
    except Exception as e:  # noqa: BLE001 - the user's expression: one line, nothing written
        raise DedupUsageError(f"--keep-by {keep_by!r} is not an SQL expression over docs: {clean_message(e)}") from None
    if table.num_columns != 2:
        raise DedupUsageError(f"--keep-by {keep_by!r}: give one expression")
    values = table.column(1).combine_chunks()
    t = values.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_string(t)
            or pa.types.is_large_string(t) or pa.types.is_temporal(t) or pa.types.is_decimal(t) or pa.types.is_null(t)):
        raise DedupUsageError(f"--keep-by {keep_by!r} gives {t} values; give a number, text, boolean or date")
    if ids is None:
        return None
    if pa.types.is_decimal(t):
        values = values.cast(pa.float64())
    at = pc.index_in(ids, value_set=table.column(0).combine_chunks()).to_numpy(zero_copy_only=False)
    return values.take(pa.array(at))


def write_clusters(lake: Lake, *, version: int, names: tuple[str, str] | list[str], cluster_of: np.ndarray,
                   keep_by: str | None = None, query: Callable[[str, int], pa.Table] | None = None,
                   scorer: str, params: dict, progress=None) -> DedupResult:
    """Write the cluster and keep columns `names` for every row of `docs` at `version`, from
    `cluster_of` (int64 per row: its cluster's smallest row, or -1 when unique; clusters of
    one are read as unique); the cluster column holds each cluster's smallest id. Only rows
    whose values differ from the lake's are written.
    `scorer` ("dedup-minhash", "dedup-semantic") and `params` (JSON-able: threshold, keep_by,
    ...) are recorded in the metrics catalog with each column. `query(sql, version)` runs
    read-only SQL over the lake (for `keep_by`). `progress`: a lake.progress.Progress, or
    None / a bool for none. Returns a DedupResult (`method` is the scorer's name less
    "dedup-"). A DedupUsageError (nothing written) for bad input; a DedupError, recorded as
    failed, for a write that failed."""
    t0 = time.perf_counter()
    names = tuple(names)
    cluster_name, keep_name = names if len(names) == 2 else (None, None)
    if cluster_name is None or cluster_name == keep_name or not all(isinstance(n, str) and n for n in names):
        raise DedupUsageError(f"give two different column names, got {names!r}")
    core = [n for n in names if n in schema.DOCS.names]
    if core:
        raise DedupUsageError(f"column(s) {', '.join(core)} hold the documents themselves; choose other names")
    docs = lake.docs(version)
    fields = [pa.field(cluster_name, pa.string()), pa.field(keep_name, pa.bool_())]
    stale = _check_existing(lake, docs, fields, scorer)
    n = docs.count_rows()
    if len(cluster_of) != n:
        raise DedupError(f"cluster_of has {len(cluster_of):,} entries for {n:,} rows at lake version {version}")
    clusters = normalize(cluster_of)

    # What the lake holds now, in row order, with each row's address and id.
    present = [] if stale else [f.name for f in fields if f.name in docs.schema.names]
    parts = list(rows_in_order(docs, ["id", *present]))
    table = pa.Table.from_batches(parts, schema=parts[0].schema) if parts else None
    ids = table.column("id").combine_chunks() if table is not None else pa.array([], pa.string())
    values = keep_values(query, keep_by, version, ids) if keep_by else None  # before any write
    keep = keep_flags(clusters, ids, values)
    named = cluster_names(clusters, ids)

    changed = np.ones(n, dtype=bool)
    if table is not None and cluster_name in present:
        old = table.column(cluster_name).combine_chunks()
        same = pc.or_(pc.fill_null(pc.equal(old, named), False), pc.and_(pc.is_null(old), pc.is_null(named)))
        changed = ~same.to_numpy(zero_copy_only=False)
    if table is not None and keep_name in present:
        old = table.column(keep_name).combine_chunks()
        known = old.is_valid().to_numpy(zero_copy_only=False)
        changed |= ~known | (old.fill_null(False).to_numpy(zero_copy_only=False) != keep)
    elif table is not None:
        changed[:] = True

    report = DedupResult(method=scorer.removeprefix("dedup-"), columns=names, rows=n,
                         clusters=int(np.count_nonzero(clusters[clusters >= 0] == np.flatnonzero(clusters >= 0))),
                         duplicates=int(np.count_nonzero(~keep)), changed=int(np.count_nonzero(changed)),
                         lake_version=version)
    params_json = json.dumps(params, sort_keys=True, default=str)
    now = datetime.now(timezone.utc)
    if not report.changed:
        if not _recorded(lake, names, scorer, params_json):  # a run killed after its last write
            _record(lake, scorer, names, params_json, "done", now, version, t0, n)
        report.seconds = time.perf_counter() - t0
        return report

    # From here on the lake changes.
    written = version
    started = False
    try:
        # The claim comes before the columns: a column this job added is never without its
        # owner's row, so a run after a kill finds it its own and writes it again.
        catalog.record_metrics(lake, [_metric_row(scorer, c, params_json, "running", now) for c in names])
        step("dedup:claimed")
        if stale:  # version "1" columns (INT64 rows): written anew
            drop_columns(lake, names)
        add_columns(lake, fields)
        step("dedup:columns")
        written = lake.docs().version
        at = np.flatnonzero(changed)
        addr = table.column("_rowaddr").combine_chunks().to_numpy()[at]
        fids = (addr >> 32).astype(np.int64)
        rows = dict(zip(*(x.tolist() for x in np.unique(fids, return_counts=True))))
        writer = ColumnWriter(lake, fields, written, rows)
        if progress and not isinstance(progress, bool):
            progress.start(f"{scorer} columns", len(at), "rows")
            started = True
        for start in range(0, len(at), COMMIT_ROWS):
            part = at[start:start + COMMIT_ROWS]
            writer.add(pa.table({
                "_rowaddr": pa.array(addr[start:start + COMMIT_ROWS].astype(np.uint64)),
                "id": ids.take(pa.array(part)),
                cluster_name: named.take(pa.array(part)),
                keep_name: pa.array(keep[part]),
            }))
            written = writer.commit()
            if started:
                progress.advance(len(part))
    except BaseException as e:
        message = clean_message(e) or type(e).__name__
        _record(lake, scorer, names, params_json, "failed", now, written, t0, n, message)
        if not isinstance(e, Exception):
            raise
        raise DedupError(f"{scorer} failed while writing {', '.join(names)} ({message}); recorded as failed in the "
                         "catalog; run it again") from e
    finally:
        if started:
            progress.stop()
    step("dedup:written")
    report.seconds = time.perf_counter() - t0
    report.lake_version = written
    _record(lake, scorer, names, params_json, "done", now, written, t0, n)
    return report


def _check_existing(lake: Lake, docs, fields: list[pa.Field], scorer: str) -> bool:
    """A DedupUsageError when a column exists with another type or was written by another job;
    True when the columns are this job's from an older VERSION, of another type (to drop)."""
    stale = False
    for f in fields:
        if f.name not in docs.schema.names:
            continue
        owner = catalog.metric(lake, f.name)
        if docs.schema.field(f.name).type != f.type and owner is not None and owner["scorer"] == scorer \
                and owner["scorer_version"] != VERSION:
            stale = True
            continue
        if docs.schema.field(f.name).type != f.type:
            raise DedupUsageError(f"column {f.name!r} exists as {docs.schema.field(f.name).type}, not {f.type}; "
                                  "choose another column name")
        if owner is None or owner["scorer"] != scorer:
            by = "no dedup job" if owner is None else f"scorer {owner['scorer']}"
            raise DedupUsageError(f"column {f.name!r} exists and {by} wrote it, not {scorer}; choose another "
                                  "column name")
    return stale


def _recorded(lake: Lake, names, scorer: str, params_json: str) -> bool:
    """Whether the catalog says these columns are done, by this job with these parameters."""
    rows = [catalog.metric(lake, c) for c in names]
    return all(r is not None and (r["scorer"], r["params"], r["status"]) == (scorer, params_json, "done") for r in rows)


def _metric_row(scorer, name, params_json, status, at, rows=None, seconds=None, version=None, error=None) -> dict:
    return {
        "metric": name, "scorer": scorer, "scorer_version": VERSION, "params": params_json, "status": status,
        "rows": rows, "seconds": seconds, "lake_version": version,
        "at": at if status == "running" else datetime.now(timezone.utc), "winnow_version": WINNOW_VERSION,
        "error": error,
    }


def _record(lake, scorer, names, params_json, status, at, version, t0, rows, error=None) -> None:
    """The catalog's done or failed rows for the job's columns (a failed one best effort)."""
    rows_ = [_metric_row(scorer, c, params_json, status, at, rows, time.perf_counter() - t0, version, error)
             for c in names]
    if status == "done":
        catalog.record_metrics(lake, rows_)
        return
    try:
        catalog.record_metrics(lake, rows_)
    except Exception:  # noqa: BLE001 - the store itself may be what failed; the job's error is reported
        pass

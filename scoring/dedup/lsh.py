"""MinHash-LSH dedup: `winnow dedup LAKE --method minhash [--threshold 0.8] [--keep-by EXPR]`.

It reads the signature column of the `minhash` scorer (scoring/scorers/minhash.py; its
bands x rows come from the column's row in the metrics catalog) and writes `dup_cluster`
and `dup_keep` (scoring/dedup/clusters.py says what they hold and how a member is kept).

The rule is datatrove's MinHash pipeline (huggingface/datatrove,
src/datatrove/pipeline/dedup/minhash.py): `MinhashDedupBuckets` sorts each band's
signatures and pairs documents whose band values are equal; `MinhashDedupCluster` joins
the pairs with a union-find and keeps one document per connected component. Here, one
unit of work per band, on the engine seam (lake/engine.py, `--engine local|ray`):

1. the band's values of every row are read from the signature column (streamed in
   batches; only the band is kept: rows x `rows` uint32), rows with the empty signature
   (a text of fewer words than the n-gram) left out;
2. each row's band is hashed to 64 bits; a stable numpy sort groups equal hashes; within a
   group, rows whose band equals the group's first row's band are candidates, each paired
   with that first row (the group's smallest row): a star, where datatrove pairs each
   document with the one before it in sorted order (the same components);
3. a candidate pair is verified: the estimated Jaccard of the two full signatures (the
   share of equal values, read with `take` for the candidate rows only, in chunks) must be
   >= `threshold`. datatrove does not verify; `--threshold 0` skips it as datatrove does.
   A pair that fails in one band may still join through another band.
The verified pairs of each band come back to this process, which joins them at once into
a union-find over rows (scoring/dedup/unionfind.py, an int64 array); a cluster's number is
its smallest row (written as its smallest document id). Memory: O(rows) arrays here (the
parent array, row addresses and ids for the write), one band per worker (rows x 8 x 4 bytes: 32 MB at 1M rows), and the
pairs of one band at a time: never all pairs.

Re-running after an ingest and `winnow score LAKE minhash` (which signs only the new rows)
recomputes the clusters over every row and writes only the rows whose values changed: the
new rows and the members of the clusters they joined.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from winnow.lake import Lake, catalog
from winnow.lake.engine import Engine, LocalEngine, reach

from winnow.scoring.registry import resolve
from winnow.scoring.dedup import unionfind
from winnow.scoring.dedup.clusters import DedupResult, DedupUsageError, check_keep_by, rows_in_order, write_clusters

NAMES = ("dup_cluster", "dup_keep")
SCORER = "dedup-minhash"
SIGNATURE_SCORER = "minhash"
TAKE_ROWS = 65536  # candidate pairs verified per chunk (their signatures read with `take`)
IN_PROCESS_ROWS = 100_000  # a smaller lake reads its bands in this process on the local engine
EMPTY = 0xFFFFFFFF

__all__ = ["dedup", "band_pairs"]


@dataclass(frozen=True)
class _Job:
    """What a worker needs to read bands on its own (picklable)."""

    lake_uri: str
    storage_options: dict
    version: int
    column: str
    bands: int
    rows: int
    threshold: float


def dedup(lake: Lake, *, column: str = "minhash", threshold: float = 0.8, keep_by: str | None = None,
          query=None, progress=None, engine: Engine | None = None) -> DedupResult:
    """Cluster near-duplicates from the `column` signatures and write `dup_cluster` and
    `dup_keep` (only changed rows). `threshold`: the least estimated Jaccard of a pair (0:
    every LSH candidate, as datatrove). `keep_by`: an SQL expression over docs, the highest
    kept (needs `query(sql, version)`). `engine`: where the bands are read (default: a local
    engine; a small lake is read in this process where the engine can run there). Returns a
    DedupResult. A DedupUsageError (nothing written) for a missing or incomplete signature
    column, a bad threshold or keep_by, an engine that cannot be used."""
    t0 = time.perf_counter()
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise DedupUsageError(f"--threshold {threshold!r}: give an estimated Jaccard from 0 to 1")
    docs = lake.docs()
    version = docs.version
    params = signature_params(lake, docs, column)
    if keep_by:
        check_keep_by(query, keep_by, version)  # before the bands are read
    job = _Job(lake.uri, lake.storage_options, version, column, params["bands"], params["rows"], float(threshold))
    n = docs.count_rows()
    runner = engine if engine is not None else LocalEngine()
    reach(runner, lake.uri, DedupUsageError)
    small = runner.workers is None and n < IN_PROCESS_ROWS
    if runner.runs_in_process and (lake.uri.startswith("memory://") or small):
        runner = runner.with_workers(1)

    parent = unionfind.new(n)
    started = bool(progress) and not isinstance(progress, bool)
    if started:
        progress.start("minhash bands", job.bands, "bands")
    try:
        for _, (a, b) in runner.map(_band_unit, list(range(job.bands)), init=_open_worker, args=(job,),
                                    describe=lambda band: f"band {band}"):
            unionfind.union(parent, a, b)
            if started:
                progress.advance(1, pairs=len(a))
    finally:
        if started:
            progress.stop()
    root = unionfind.roots(parent)
    size = np.bincount(root, minlength=n)
    cluster_of = np.where(size[root] > 1, root, -1)
    del parent, root, size
    recorded = {"threshold": float(threshold), "keep_by": keep_by, "column": column, **params}
    report = write_clusters(lake, version=version, names=NAMES, cluster_of=cluster_of, keep_by=keep_by, query=query,
                            scorer=SCORER, params=recorded, progress=progress)
    report.seconds = time.perf_counter() - t0
    return report


def signature_params(lake: Lake, docs, column: str) -> dict:
    """The parameters (ngram, bands, rows, seed) of the `minhash` scorer that wrote `column`,
    from the metrics catalog; a DedupUsageError naming the `winnow score` to run when the
    column is missing, was written by something else, or lacks rows."""
    run = "winnow score LAKE minhash" + (f" -p column={column}" if column != "minhash" else "")
    if column not in docs.schema.names:
        raise DedupUsageError(f"docs has no signature column {column!r}: run `{run}` first")
    owner = catalog.metric(lake, column)
    if owner is None or owner["scorer"] != SIGNATURE_SCORER:
        by = "no scorer" if owner is None else f"scorer {owner['scorer']}"
        raise DedupUsageError(f"column {column!r} was written by {by}, not minhash: run `{run}` into another column "
                              "and pass it with --column")
    cls = resolve(SIGNATURE_SCORER)
    given = json.loads(owner["params"] or "{}")
    scorer = cls(**{k: v for k, v in given.items() if k in cls.parameters})
    params = {k: scorer.param(k) for k in ("ngram", "bands", "rows", "seed")}
    expected = pa.list_(pa.uint32(), params["bands"] * params["rows"])
    if docs.schema.field(column).type != expected:
        raise DedupUsageError(f"column {column!r} holds {docs.schema.field(column).type}, not the {expected} of "
                              f"{params['bands']} bands x {params['rows']} rows its catalog row says")
    missing = docs.count_rows(filter=f"{column} IS NULL")
    if missing:
        raise DedupUsageError(f"{missing:,} rows have no signature in {column!r} (ingested since it was scored): "
                              f"run `{run}` (it signs only those), then dedup again")
    return params


def _open_worker(job: _Job):
    return Lake(job.lake_uri, job.storage_options).docs(job.version), job


def _band_unit(state, band: int) -> tuple[np.ndarray, np.ndarray]:
    docs, job = state
    return band_pairs(docs, job.column, band, job.bands, job.rows, job.threshold)


def read_band(docs, column: str, band: int, rows: int) -> np.ndarray:
    """One band of every row's signature, in row order: uint32, rows of docs x `rows`."""
    parts = []
    for batch in rows_in_order(docs, [column]):
        sig = batch.column(column)
        values = sig.flatten().to_numpy().reshape(len(sig), sig.type.list_size)
        parts.append(np.ascontiguousarray(values[:, band * rows:(band + 1) * rows]))
    return np.concatenate(parts) if parts else np.zeros((0, rows), np.uint32)


def band_hash(values: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of `values` (uint32, rows x k): splitmix64 steps folded over
    the columns."""
    h = np.zeros(len(values), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(values.shape[1]):
            h = h ^ values[:, j].astype(np.uint64)
            h = h + np.uint64(0x9E3779B97F4A7C15)
            h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            h = h ^ (h >> np.uint64(31))
    return h


def band_pairs(docs, column: str, band: int, bands: int, rows: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The verified pairs (a, b: int64 rows, a < b) of one band: rows whose band values are
    equal, each paired with the smallest row of its group, whose signatures' estimated
    Jaccard is >= `threshold` (all candidates when it is 0)."""
    values = read_band(docs, column, band, rows)
    signed = np.flatnonzero(~(values == EMPTY).all(axis=1))
    values = values[signed]
    h = band_hash(values)
    order = np.argsort(h, kind="stable")  # equal hashes stay in row order: a group's first is its smallest row
    h = h[order]
    start = np.ones(len(h), dtype=bool)
    start[1:] = h[1:] != h[:-1]
    first = order[np.maximum.accumulate(np.where(start, np.arange(len(h)), 0))]
    member = ~start
    a_local, b_local = first[member], order[member]
    same = (values[a_local] == values[b_local]).all(axis=1)  # a 64-bit hash collision is no candidate
    a, b = signed[a_local[same]], signed[b_local[same]]
    del values, h, order, start, first
    if threshold <= 0 or not len(a):
        return a, b
    keep = np.zeros(len(a), dtype=bool)
    for s in range(0, len(a), TAKE_ROWS):
        keep[s:s + TAKE_ROWS] = estimated_jaccard(docs, column, a[s:s + TAKE_ROWS], b[s:s + TAKE_ROWS]) >= threshold
    return a[keep], b[keep]


def estimated_jaccard(docs, column: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The share of equal signature values of rows a[k] and b[k] (read with `take`)."""
    wanted = np.unique(np.concatenate([a, b]))
    sig = docs.take(wanted, columns=[column]).column(column).combine_chunks()
    matrix = sig.flatten().to_numpy().reshape(len(sig), sig.type.list_size)
    ia, ib = np.searchsorted(wanted, a), np.searchsorted(wanted, b)
    return (matrix[ia] == matrix[ib]).mean(axis=1)

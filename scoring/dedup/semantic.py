"""Semantic near-duplicates (SemDeDup): `winnow dedup LAKE --method semantic`.

    semdup_cluster  STRING the smallest document id of the document's cluster of
                           near-duplicates (pairs at cosine similarity >= threshold, joined
                           transitively); NULL when it has none
    semdup_keep     BOOL   true for the one kept member of each cluster and for every
                           unique document (the keep rule of scoring/dedup/clusters.py)

The rule follows SemDeDup (Abbas et al. 2023, "SemDeDup: Data-efficient learning at
web-scale through semantic deduplication"), as NeMo Curator runs it
(NVIDIA-NeMo/Curator, nemo_curator/stages/deduplication/semantic/kmeans.py and
pairwise.py: L2-normalize the embeddings, k-means on them, then cosine similarities
between the members of each k-means cluster only, in batches):

1. Read the embedding column in row order; L2-normalize each vector. A row whose vector
   is NaN or zero (an empty document) is in no cluster. A row without a vector (not
   embedded yet) stops the job before anything is written: run `winnow score LAKE embed`.
2. k-means (scikit-learn, seeded) with `clusters` centers, default round(sqrt(rows)):
   k-means costs ~rows * k * dim per iteration and the pairwise step ~rows**2 / k * dim,
   so k = sqrt(rows) balances the two (about 1,000 clusters of ~1,000 for 1M documents).
   It is fitted on a seeded sample of 64 rows per cluster (all rows when fewer) and then
   assigns every row; a pair split across two clusters is not compared (SemDeDup's
   trade: near-duplicates at 0.95 lie close to each other, so nearly always together).
3. Within each cluster, the cosine similarity of every pair, computed in blocks of
   BLOCK x BLOCK rows: memory is bounded by one block, not by rows**2 (nor by the
   cluster's size squared).
4. Pairs at similarity >= threshold join components (a union-find over the cluster's
   members, merged block by block); a component of two or more is a cluster, named by its
   smallest document id. Where NeMo Curator drops each document whose nearest earlier-ranked
   neighbour is within the threshold, winnow writes components: the columns say who
   duplicates whom, and the keep rule picks one member of each.

Rerunning after an ingest computes every row again (k-means over the whole lake) and
writes only the rows whose values changed.
"""

from __future__ import annotations

import math
import time

import numpy as np

from winnow.lake import Lake
from winnow.lake.errors import UsageError
from winnow.lake.extras import need
from winnow.lake.vectors import vector_field

from winnow.scoring.dedup import unionfind
from winnow.scoring.dedup.clusters import DedupResult, DedupUsageError, rows_in_order, write_clusters

NAMES = ("semdup_cluster", "semdup_keep")
SCORER = "dedup-semantic"
DEFAULT_THRESHOLD = 0.95
BLOCK = 2048  # rows per side of one block of similarities (16 MB of float32)
SAMPLE_PER_CLUSTER = 64  # k-means is fitted on this many rows per cluster at most
MAX_ITER = 100
SEED = 0

__all__ = ["DEFAULT_THRESHOLD", "NAMES", "dedup", "default_clusters", "components"]


def default_clusters(rows: int) -> int:
    """k-means clusters for `rows` vectors: round(sqrt(rows)), at least 1 (see the module docstring)."""
    return max(1, round(math.sqrt(rows)))


def dedup(lake: Lake, *, column: str = "embedding", threshold: float = DEFAULT_THRESHOLD, keep_by: str | None = None,
          query=None, progress=True, clusters: int | None = None) -> DedupResult:
    """Write `semdup_cluster` and `semdup_keep` from the embedding `column` (see the module
    docstring); returns a DedupResult. `threshold`: the least cosine similarity of a
    near-duplicate pair (0 < threshold <= 1); `clusters`: k-means clusters (default
    round(sqrt(rows))); `keep_by`: an SQL expression over docs, evaluated with `query`;
    `progress`: a lake.progress.Progress, or None / a bool for none. A DedupUsageError
    (nothing written) for a missing or non-vector column, rows not embedded yet, or a bad
    option."""
    t0 = time.perf_counter()
    need("raters", "winnow dedup --method semantic", ["sklearn"])
    threshold = _threshold(threshold)
    if clusters is not None and (isinstance(clusters, bool) or not isinstance(clusters, int) or clusters < 1):
        raise DedupUsageError(f"--clusters must be a whole number > 0, got {clusters!r}")
    docs = lake.docs()
    version = docs.version
    try:
        dimension = vector_field(lake, column, docs).type.list_size
    except UsageError as e:
        raise DedupUsageError(f"dedup --method semantic: {e}") from None
    vectors, missing = read_vectors(docs, column, dimension)
    if missing:
        raise DedupUsageError(f"{missing:,} of {len(vectors):,} rows have no {column!r} yet: embed them first "
                              f"(`winnow score {lake.uri} embed` scores only those)")
    usable = normalize_rows(vectors)
    rows = np.flatnonzero(usable)
    k = min(clusters or default_clusters(len(rows)), max(len(rows), 1))
    bar = progress if progress and not isinstance(progress, bool) else None
    labels = kmeans(vectors[rows], k, SEED) if len(rows) else np.zeros(0, np.int64)
    cluster_of = np.full(len(vectors), -1, dtype=np.int64)
    cluster_of[rows] = components(vectors[rows], labels, threshold, bar, rows)
    del vectors
    params = {"column": column, "threshold": threshold, "clusters": k, "seed": SEED, "keep_by": keep_by,
              "kmeans": f"sklearn KMeans, {SAMPLE_PER_CLUSTER} sampled rows per cluster, max_iter {MAX_ITER}"}
    report = write_clusters(lake, version=version, names=NAMES, cluster_of=cluster_of, keep_by=keep_by, query=query,
                            scorer=SCORER, params=params, progress=progress)
    report.seconds = time.perf_counter() - t0
    return report


def _threshold(value) -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise DedupUsageError(f"--threshold must be a cosine similarity in (0, 1], got {value!r}") from None
    if isinstance(value, bool) or not (0.0 < t <= 1.0):
        raise DedupUsageError(f"--threshold must be a cosine similarity in (0, 1], got {value!r}")
    return t


def read_vectors(docs, column: str, dimension: int) -> tuple[np.ndarray, int]:
    """(float32 [rows, dimension] in row order, rows whose vector is null); a null row reads as NaN."""
    n = docs.count_rows()
    out = np.empty((n, dimension), dtype=np.float32)
    at = missing = 0
    for batch in rows_in_order(docs, [column]):
        values = batch.column(column)
        m = len(values)
        flat = values.values.slice(values.offset * dimension, m * dimension)  # null slots hold values too
        out[at:at + m] = np.asarray(flat.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(m, dimension)
        if values.null_count:
            missing += values.null_count
            out[at:at + m][~values.is_valid().to_numpy(zero_copy_only=False)] = np.nan
        at += m
    if at != n:
        raise DedupUsageError(f"read {at:,} rows of {column!r}, expected {n:,}")  # a concurrent change, never seen
    return out, missing


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """L2-normalize the rows of `vectors` in place; returns which rows have a direction
    (finite, not all zero). Other rows are left as they are."""
    norms = np.linalg.norm(vectors, axis=1)
    usable = np.isfinite(norms) & (norms > 0)
    vectors[usable] /= norms[usable, None]
    return usable


def kmeans(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The k-means cluster of each row of `x` (int64): fitted on a seeded sample of at most
    SAMPLE_PER_CLUSTER rows per cluster, then every row assigned to its nearest center."""
    from sklearn.cluster import KMeans

    n = len(x)
    if k <= 1:
        return np.zeros(n, dtype=np.int64)
    sample = min(n, SAMPLE_PER_CLUSTER * k)
    fit_on = x if sample == n else x[np.sort(np.random.default_rng(seed).choice(n, sample, replace=False))]
    model = KMeans(n_clusters=k, n_init=1, max_iter=MAX_ITER, random_state=seed).fit(fit_on)
    if sample == n:
        return model.labels_.astype(np.int64)
    labels = np.empty(n, dtype=np.int64)
    for start in range(0, n, 1 << 16):
        labels[start:start + (1 << 16)] = model.predict(x[start:start + (1 << 16)])
    return labels


def components(x: np.ndarray, labels: np.ndarray, threshold: float, progress=None,
               rows: np.ndarray | None = None, block: int = BLOCK) -> np.ndarray:
    """For each row of `x` (unit vectors) with k-means `labels`: the smallest row (of
    `rows`, default 0..n-1) of its component of pairs at cosine >= threshold within its
    k-means cluster, or -1 when it is in none; similarities in `block` x `block` pieces."""
    n = len(x)
    rows = np.arange(n, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    out = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return out
    order = np.argsort(labels, kind="stable")  # members of each cluster, in row order
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    if progress:
        progress.start("semantic pairs", n, "rows")
    try:
        for members in np.split(order, bounds):
            if len(members) > 1:
                root = _cluster_components(x[members], threshold, block)
                joined = root != np.arange(len(members))
                has = np.zeros(len(members), dtype=bool)
                has[joined] = True
                has[root[joined]] = True
                out[members[has]] = rows[members[root[has]]]
            if progress:
                progress.advance(len(members))
    finally:
        if progress:
            progress.stop()
    return out


def _cluster_components(x: np.ndarray, threshold: float, block: int) -> np.ndarray:
    """For the m unit vectors of one cluster: the smallest index of each one's component
    (pairs at cosine >= threshold), computed over `block` x `block` pieces of similarities."""
    m = len(x)
    parent = unionfind.new(m)
    for i in range(0, m, block):
        xi = x[i:i + block]
        for j in range(i, m, block):
            sims = xi @ x[j:j + block].T
            if i == j:
                sims = np.triu(sims, k=1)  # each pair once, never a row with itself
            a, b = np.nonzero(sims >= threshold)
            if len(a):
                unionfind.union(parent, a + i, b + j)
    return unionfind.roots(parent)

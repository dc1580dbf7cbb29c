"""Exact dedup without one process holding every key: keys partitioned, each partition decided alone.

Keys are documents' content hashes and ids. A key's partition is the top `bits` bits of
xxh3-64 of the key, so each of the 2**bits partitions holds about the same share of the
lake's keys and of the run's. The rule (ingest/runner.py) only ever compares equal keys,
and equal keys share a partition, so one pass per partition decides every key in it,
knowing only the lake's keys of that partition and the run's, in input order:

1. content hashes: the first document of a hash the lake lacks is kept. Each kept document
   with an input id becomes an id claim, routed to the id's partition;
2. ids: the first claim of an id the lake lacks owns it (its document keeps its input id).

This follows datatrove's exact dedup (huggingface/datatrove,
src/datatrove/pipeline/dedup/exact_dedup.py): signatures are split by hash range over the
"finder" workers, each finder merges its range alone, and keys already indexed (here: the
lake's) win over new ones; among new ones the first in a fixed order wins (there: priority
then document id; here: input order, then row).
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

HASH, ID = 0, 1  # kinds of the lake's keys
KEYS_PER_PARTITION = 4_000_000  # keys one pass holds in memory (~0.5 GB as a Python set)
MAX_BITS = 12
# The run's content hashes, with their document's input id (an id claim if it is kept).
RUN_KEYS = pa.schema([("part", pa.int32()), ("row", pa.int64()), ("key", pa.string()), ("input_id", pa.string())])
LAKE_KEYS = pa.schema([("part", pa.int32()), ("kind", pa.int8()), ("key", pa.string())])
CLAIMS = pa.schema([("part", pa.int32()), ("unit", pa.int32()), ("row", pa.int64()), ("key", pa.string())])


def bits_for(keys: int, workers: int) -> int:
    """Partition bits for about `keys` keys on `workers` workers: at least one partition per
    worker, at most KEYS_PER_PARTITION keys in each."""
    parts = max(1, workers, math.ceil(keys / KEYS_PER_PARTITION))
    return min(MAX_BITS, max(0, math.ceil(math.log2(parts))))


def partition(keys: pa.Array, bits: int) -> pa.Array:
    """Each key's partition (0 .. 2**bits - 1)."""
    if bits == 0:
        return pa.array(np.zeros(len(keys), np.int32))
    shift = 64 - bits
    values = keys.cast(pa.binary()).to_pylist()
    return pa.array(np.fromiter((xxhash.xxh3_64_intdigest(k) >> shift for k in values), np.int32, len(values)))


def group_starts(parts: pa.ChunkedArray | pa.Array, n: int) -> list[int]:
    """Where each of `n` groups starts in a table sorted by group (one more: the end)."""
    counts = np.bincount(np.asarray(parts), minlength=n) if len(parts) else np.zeros(n, np.int64)
    return np.r_[0, np.cumsum(counts)].tolist()


def run_keys(hashes: pa.Array, input_ids: pa.Array, rows: pa.Array, bits: int) -> tuple[pa.Table, list[int]]:
    """A unit's content hashes by (partition, row), and where each partition starts."""
    t = pa.table({"part": partition(hashes, bits), "row": rows.cast(pa.int64()), "key": hashes.cast(pa.string()),
                  "input_id": input_ids.cast(pa.string())}, schema=RUN_KEYS)
    t = t.sort_by([("part", "ascending"), ("row", "ascending")])
    return t, group_starts(t["part"].to_numpy(), 1 << bits)


def lake_keys(hashes: pa.Array, ids: pa.Array, bits: int) -> tuple[pa.Table, list[int]]:
    """The lake's content hashes and ids by (partition, kind); partition q's keys of kind k are
    rows starts[2q + k] to starts[2q + k + 1]."""
    t = pa.table({"part": pa.concat_arrays([partition(hashes, bits), partition(ids, bits)]),
                  "kind": pa.array(np.r_[np.full(len(hashes), HASH, np.int8), np.full(len(ids), ID, np.int8)]),
                  "key": pa.concat_arrays([hashes.cast(pa.string()), ids.cast(pa.string())])}, schema=LAKE_KEYS)
    t = t.sort_by([("part", "ascending"), ("kind", "ascending")])
    return t, group_starts(pc.add(pc.multiply(t["part"], 2), pc.cast(t["kind"], pa.int32())).to_numpy(), 2 << bits)


def keep(known: set[str], unit: int, keys: pa.Table, bits: int) -> tuple[list[int], pa.Table]:
    """One unit's content hashes of a partition (in row order, after every earlier unit's):
    the rows whose document is kept (the first of a hash `known` lacks; `known` grows), and
    the id claims of those that have an input id, each with its id's partition."""
    kept, claim_rows, claim_ids = [], [], []
    for row, key, iid in zip(keys["row"].to_pylist(), keys["key"].to_pylist(), keys["input_id"].to_pylist()):
        if key in known:
            continue
        known.add(key)
        kept.append(row)
        if iid is not None:
            claim_rows.append(row)
            claim_ids.append(iid)
    ids = pa.array(claim_ids, pa.string())
    claims = pa.table({"part": partition(ids, bits), "unit": pa.array([unit] * len(ids), pa.int32()),
                       "row": pa.array(claim_rows, pa.int64()), "key": ids}, schema=CLAIMS)
    return kept, claims


def own(known: set[str], claims: pa.Table) -> pa.Table:
    """The claims of an id partition (in any order) whose document keeps its input id: the
    first claim, by unit then row, of an id `known` lacks; as (unit, row), by unit and row."""
    claims = claims.sort_by([("unit", "ascending"), ("row", "ascending")])
    winners = []
    for i, key in enumerate(claims["key"].to_pylist()):
        if key not in known:
            known.add(key)
            winners.append(i)
    return claims.take(pa.array(winners, pa.int64())).select(["unit", "row"])

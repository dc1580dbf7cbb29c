"""The lake's keys looked up, not read: a BTREE index on each of `docs`' key columns.

Exact dedup (ingest/runner.py has the rule) asks which of a run's content hashes and input
ids the lake holds. Reading every key of the lake answers it at a cost that grows with the
lake (20M keys, ~30 s and ~3 GB, for 10M documents). A small run into a large lake instead
asks Lance's scalar index on `content_hash` and on `id` about its own keys only, and reads
the keys of the fragments an index does not cover yet (at most about UNINDEXED_ROWS).

Why a Lance index and not key files of winnow's own: the index is part of the `docs`
manifest, committed by Lance like a column, so it can never claim keys the table lacks or
miss keys it has: a fragment it does not cover is read instead. A killed ingest leaves it
behind the table at worst; the next ingest brings it up to date (step `ingest:index`).
Lance's compaction remaps it to the new fragments (keep that default: with a deferred remap
the compacted fragments are simply read, correctly but slower, until the next update).
Measured (pylance 14, 2 shared cores, 8M random 32-hex keys): building it 7.6 s; 5,000 keys
looked up 0.25 s; the same lookup with 1M rows past the index 2.9 s through Lance's filter,
0.09 s reading those rows' keys here; an update after 1M new rows (optimize_indices) 4.3 s.

A lake made before the index gets it at the first ingest that looks keys up; lakes under
UNINDEXED_ROWS documents never need it (their keys are read, as before).
"""

from __future__ import annotations

import os

import lance
from lance.commit import CommitConflictError

from winnow.lake import Lake
from winnow.lake.killpoints import step

COLUMNS = ("content_hash", "id")
UNINDEXED_ROWS = 1 << 20  # rows an index may lag before an ingest updates it; env WINNOW_KEY_INDEX_ROWS
LOOKUP_SHARE = 64  # look keys up when the lake's rows exceed this many times the run's documents (a lookup
# costs ~100 CPU-µs per document, both keys; reading every key ~1.5 per lake document: measured at 9.8M)
READ_ALL_ROWS = 1 << 23  # or when the lake has more rows than this: every key read held 3.3 GB at 9.8M rows
CHUNK = 8192  # keys per lookup query


def unindexed_limit() -> int:
    """The rows an index may lag behind `docs` (WINNOW_KEY_INDEX_ROWS, default UNINDEXED_ROWS)."""
    value = os.environ.get("WINNOW_KEY_INDEX_ROWS", "")
    return int(value) if value.isdigit() and int(value) > 0 else UNINDEXED_ROWS


def _indexed(ds: lance.LanceDataset) -> dict[str, tuple[str | None, set[int]]]:
    """Each key column's BTREE index name (None: none) and the fragments it covers."""
    out: dict[str, tuple[str | None, set[int]]] = {c: (None, set()) for c in COLUMNS}
    for ix in ds.describe_indices():
        fields = list(ix.field_names)
        if len(fields) == 1 and fields[0] in out and ix.index_type.lower() == "btree":
            covered = set(out[fields[0]][1])
            for segment in ix.segments:
                covered |= set(segment.fragment_ids)
            out[fields[0]] = (ix.name, covered)
    return out


def _rows(ds: lance.LanceDataset) -> dict[int, int]:
    return {f.fragment_id: f.metadata.physical_rows for f in ds.get_fragments()}


def lag(ds: lance.LanceDataset) -> dict[str, int]:
    """The rows of `docs` that each key column's index does not cover."""
    rows, indexed = _rows(ds), _indexed(ds)
    return {c: sum(n for f, n in rows.items() if f not in indexed[c][1]) for c in COLUMNS}


def update(lake: Lake, limit: int | None = None) -> bool:
    """Bring each key column's index up to date if it lags by `limit` rows or more (default:
    unindexed_limit()); True if one was built or updated (a commit of `docs`)."""
    limit = unindexed_limit() if limit is None else limit
    changed = False
    for column in COLUMNS:
        ds = lake.docs()
        name = _indexed(ds)[column][0]
        if lag(ds)[column] < max(limit, 1):
            continue
        try:
            if name is None:
                ds.create_scalar_index(column, "BTREE", name=f"{column}_keys")
            else:
                ds.optimize.optimize_indices(index_names=[name])
        except CommitConflictError:
            continue  # a concurrent commit won: the index is only an aid, the next ingest updates it
        except OSError as e:
            raise lake.store_error(e, f"cannot index column {column!r} of the lake at {lake.uri}") from e
        changed = True
        step("ingest:index")
    return changed


def looks_up(lake: Lake, run_docs: int) -> bool:
    """Whether a run of about `run_docs` documents looks the lake's keys up: if the lake's rows
    outnumber the run's LOOKUP_SHARE times, or READ_ALL_ROWS (memory), the index updated
    first if it lags by unindexed_limit() rows or more (a lake made before it gets it now);
    else it reads them all."""
    ds = lake.docs()
    total = sum(_rows(ds).values())
    big = total > LOOKUP_SHARE * max(run_docs, 1) or total > max(READ_ALL_ROWS, unindexed_limit())
    look = big and total >= unindexed_limit()
    if look and max(lag(ds).values()) >= unindexed_limit():
        update(lake)
    return look


def prepare(lake: Lake, run_docs: int) -> LakeKeys:
    """The lake's keys for a run of about `run_docs` documents (`looks_up`)."""
    look = looks_up(lake, run_docs)
    return LakeKeys(lake.docs(), look)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class LakeKeys:
    """Which of some keys one version of `docs` holds: the index asked about the fragments it
    covers, the keys of the others read once (all of them if `look` is false)."""

    def __init__(self, ds: lance.LanceDataset, look: bool = True):
        self.ds = ds
        fragments = ds.get_fragments()
        indexed = _indexed(ds) if look else {c: (None, set()) for c in COLUMNS}
        self._covered = {c: [f for f in fragments if f.fragment_id in indexed[c][1]] for c in COLUMNS}
        self.held: dict[str, set[str]] = {}  # the keys read, by column
        left = {c: [f for f in fragments if f.fragment_id not in indexed[c][1]] for c in COLUMNS}
        if left["id"] and [f.fragment_id for f in left["id"]] == [f.fragment_id for f in left["content_hash"]]:
            t = ds.scanner(columns=list(COLUMNS), fragments=left["id"]).to_table()  # one read of both
            self.held = {c: set(t.column(c).to_pylist()) for c in COLUMNS}
        else:
            for c in COLUMNS:
                t = ds.scanner(columns=[c], fragments=left[c]).to_table() if left[c] else None
                self.held[c] = set(t.column(c).to_pylist()) if t is not None else set()
        self.asked_keys = 0  # keys asked of an index (for tests and figures)

    def looks_up(self, column: str) -> bool:
        """Whether keys of `column` are asked of its index (else `held` has them all)."""
        return bool(self._covered[column])

    def asked(self, column: str, keys) -> set[str]:
        """The keys among `keys` that the fragments covered by `column`'s index hold (the
        others' are in `held[column]`)."""
        if not self._covered[column]:
            return set()
        ask = sorted({k for k in keys if k is not None})
        self.asked_keys += len(ask)
        found: set[str] = set()
        for i in range(0, len(ask), CHUNK):
            where = f"{column} IN ({', '.join(_literal(k) for k in ask[i:i + CHUNK])})"
            t = self.ds.scanner(columns=[column], filter=where, fragments=self._covered[column]).to_table()
            found.update(t.column(column).to_pylist())
        return found

    def known(self, column: str, keys) -> set[str]:
        """The keys of `column` (`content_hash` or `id`) among `keys` that the lake holds."""
        held = self.held[column]
        return {k for k in keys if k in held} | self.asked(column, keys)

"""The catalog of ingests: an append-only log inside the lake.

Each state change of an ingest (running, done) appends one row; appends from concurrent
processes never conflict, so the catalog is safe under concurrent writers. The state of
an ingest is its latest row.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from .lake import Lake
from .schema import INGESTS


def record_ingests(lake: Lake, rows: list[dict]) -> None:
    """Append state rows of ingests, in one commit (see `schema.INGESTS` for the fields)."""
    lake.append("ingests", pa.Table.from_pylist(rows, schema=INGESTS))


def ingests(lake: Lake) -> pa.Table:
    """The latest state of every ingest, oldest first."""
    log = lake.dataset("ingests").to_table()
    if log.num_rows == 0:
        return log
    # The log is in commit order; a later row of an ingest_id supersedes earlier ones.
    log = log.append_column("_seq", pa.array(range(log.num_rows), pa.int64()))
    last = log.group_by("ingest_id").aggregate([("_seq", "max")])
    keep = pc.is_in(log["_seq"], value_set=last["_seq_max"])
    latest = log.filter(keep).drop_columns(["_seq"])
    return latest.sort_by([("started_at", "ascending"), ("ingest_id", "ascending")])


def find_by_fingerprint(lake: Lake, fingerprint: str) -> list[dict]:
    """Ingests of an input with these bytes: done ones first."""
    table = ingests(lake)
    if table.num_rows == 0:
        return []
    rows = table.filter(pc.equal(table["fingerprint"], fingerprint)).to_pylist()
    return sorted(rows, key=lambda r: r["status"] != "done")

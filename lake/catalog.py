"""The catalog: append-only logs inside the lake (ingests, metrics, runs, column statistics).

Each state change (running, done, failed) appends one row; appends from concurrent processes
never conflict, so the catalog is safe under concurrent writers. The state of an ingest
or a metric is its latest row.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from winnow.lake.lake import Lake
from winnow.lake.schema import COLUMN_STATS, INGESTS, METRICS, RUNS


def record_ingests(lake: Lake, rows: list[dict]) -> None:
    """Append state rows of ingests, in one commit (see `schema.INGESTS` for the fields)."""
    lake.append("ingests", pa.Table.from_pylist(rows, schema=INGESTS))


def latest(log: pa.Table, key: str) -> pa.Table:
    """The last row of each `key` in a log kept in commit order."""
    if log.num_rows == 0:
        return log
    log = log.append_column("_seq", pa.array(range(log.num_rows), pa.int64()))
    last = log.group_by(key).aggregate([("_seq", "max")])
    return log.filter(pc.is_in(log["_seq"], value_set=last["_seq_max"])).drop_columns(["_seq"])


def ingests(lake: Lake) -> pa.Table:
    """The latest state of every ingest, oldest first."""
    state = latest(lake.dataset("ingests").to_table(), "ingest_id")
    if state.num_rows == 0:
        return state
    return state.sort_by([("started_at", "ascending"), ("ingest_id", "ascending")])


def record_metrics(lake: Lake, rows: list[dict]) -> None:
    """Append state rows of metric columns, in one commit (see `schema.METRICS`): running,
    then done, or failed with the `error` that ended the job."""
    lake.append("metrics", pa.Table.from_pylist(rows, schema=METRICS))


def metrics(lake: Lake) -> pa.Table:
    """The latest state of every metric column, by column name."""
    state = latest(lake.dataset("metrics").to_table(), "metric")
    return state.sort_by("metric") if state.num_rows else state


def metric(lake: Lake, name: str) -> dict | None:
    table = metrics(lake)
    rows = table.filter(pc.equal(table["metric"], name)).to_pylist() if table.num_rows else []
    return rows[0] if rows else None


def ingests_by_fingerprint(lake: Lake) -> dict[str, list[dict]]:
    """Every ingest's latest state, grouped by the fingerprint of its input: done ones first."""
    groups: dict[str, list[dict]] = {}
    for row in ingests(lake).to_pylist():
        groups.setdefault(row["fingerprint"], []).append(row)
    return {fp: sorted(rows, key=lambda r: r["status"] != "done") for fp, rows in groups.items()}


def record_run(lake: Lake, row: dict) -> None:
    """Append one finished training run (see `schema.RUNS` for the fields)."""
    lake.append("runs", pa.Table.from_pylist([row], schema=RUNS))


def runs(lake: Lake) -> pa.Table:
    """The latest row of every run, oldest first."""
    state = latest(lake.dataset("runs").to_table(), "run_id")
    return state.sort_by([("created_at", "ascending"), ("run_id", "ascending")]) if state.num_rows else state


def record_column_stats(lake: Lake, rows: list[dict]) -> None:
    """Append statistics of columns at lake versions, in one commit (see `schema.COLUMN_STATS`)."""
    lake.append("column_stats", pa.Table.from_pylist(rows, schema=COLUMN_STATS))


def column_stats(lake: Lake, version: int | None = None) -> pa.Table:
    """The latest statistics of every (column, lake version); with `version`, of that version only."""
    ds = lake.dataset("column_stats")
    log = ds.to_table(filter=pc.field("lake_version") == version) if version is not None else ds.to_table()
    if log.num_rows == 0:
        return log
    log = log.append_column("_key", pc.binary_join_element_wise(
        log["column"], pc.cast(log["lake_version"], pa.string()), "\x00"))
    return latest(log, "_key").drop_columns(["_key"])

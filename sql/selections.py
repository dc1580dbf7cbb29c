"""Named selections: SQL stored in the catalog with the docs version it reads and a seed.

A selection's SQL returns one row per selected document with an `id` column (and, where
it has them, `n_tokens` and `score`). It always runs against the docs version pinned when
it was created (a Lance tag `selection-<name>` keeps that version through cleanups), so
it returns the same documents after more ingestion and scoring. Inside the SQL, `seed()`
is the selection's seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from winnow.lake import Lake, catalog
from winnow.lake.errors import UsageError, WinnowError
from winnow.lake.version import WINNOW_VERSION

from .connection import connect


class SelectionError(WinnowError):
    """A selection that cannot be created or found (one clear line)."""


@dataclass(frozen=True)
class Selection:
    name: str
    sql: str
    lake_version: int
    seed: int
    documents: int | None = None
    created_at: datetime | None = None

    @property
    def tag(self) -> str:
        return f"selection-{self.name}"


def selection_connection(lake: Lake, version: int, seed: int) -> duckdb.DuckDBPyConnection:
    con = connect(lake, version)
    con.execute(f"CREATE OR REPLACE MACRO seed() AS {int(seed)}::UBIGINT")
    return con


def run_selection(lake: Lake, sql: str, version: int, seed: int) -> pa.Table:
    """The rows a selection's SQL returns at a docs version."""
    con = selection_connection(lake, version, seed)
    try:
        result = con.sql(sql)
        if result is None:
            raise SelectionError("a selection's SQL must be a query returning rows")
        table = result.to_arrow_table()
    except duckdb.Error as e:
        raise SelectionError(f"selection SQL failed: {' '.join(str(e).split())}") from e
    finally:
        con.close()
    if "id" not in table.column_names:
        raise SelectionError(f"a selection's SQL must return an `id` column (it returned {table.column_names})")
    if pc.count_distinct(table["id"]).as_py() != table.num_rows:
        raise SelectionError("a selection's SQL returned an id more than once")
    return table


def create(lake: Lake, name: str, sql: str, seed: int = 0, replace: bool = False) -> Selection:
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise SelectionError(f"selection name {name!r}: use letters, digits, '-' and '_'")
    if get(lake, name, missing_ok=True) is not None and not replace:
        raise SelectionError(f"a selection named {name!r} exists (pass --replace to redefine it)")
    version = lake.docs().version
    rows = run_selection(lake, sql, version, seed)
    sel = Selection(name, sql, version, seed, rows.num_rows, datetime.now(timezone.utc))
    lake.pin(sel.tag, version)
    lake.append("selections", pa.Table.from_pylist([{
        "name": name, "sql": sql, "lake_version": version, "seed": seed, "documents": rows.num_rows,
        "created_at": sel.created_at, "winnow_version": WINNOW_VERSION,
    }], schema=lake.dataset("selections").schema))
    return sel


def all_selections(lake: Lake) -> list[Selection]:
    latest = catalog.latest(lake.dataset("selections").to_table(), "name")
    return [
        Selection(r["name"], r["sql"], r["lake_version"], r["seed"], r["documents"], r["created_at"])
        for r in latest.sort_by("name").to_pylist()
    ] if latest.num_rows else []


def get(lake: Lake, name: str, missing_ok: bool = False) -> Selection | None:
    for sel in all_selections(lake):
        if sel.name == name:
            return sel
    if missing_ok:
        return None
    names = ", ".join(s.name for s in all_selections(lake)) or "none yet"
    raise SelectionError(f"no selection named {name!r} (selections: {names})")


def evaluate(lake: Lake, selection: Selection | str) -> pa.Table:
    """The selection's rows, from its pinned docs version."""
    sel = get(lake, selection) if isinstance(selection, str) else selection
    return run_selection(lake, sel.sql, sel.lake_version, sel.seed)


def documents(lake: Lake, selection: Selection | str, columns: list[str]) -> pa.Table:
    """Columns of `docs` (at the pinned version) for the selected ids, in the selection's order.

    Ids are selected in SQL; the columns are fetched from Lance by id, never through a
    DuckDB join that carries text (DESIGN.md).
    """
    sel = get(lake, selection) if isinstance(selection, str) else selection
    ids = evaluate(lake, sel)["id"]
    docs = lake.docs(sel.lake_version)
    found = docs.to_table(columns=["id", *[c for c in columns if c != "id"]],
                          filter=pc.field("id").isin(ids))
    order = pc.index_in(ids, value_set=found["id"])
    return found.take(order)

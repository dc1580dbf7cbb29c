"""DuckDB over the lake: `docs`, `rejects` and the catalog's `ingests`, `metrics`,
`selections` as tables; the macro library loaded.

`docs` and `rejects` are registered Lance datasets: DuckDB scans them as Arrow with
projection and filter pushdown. DuckDB estimates such a scan at about one row, so a join
that carries `text` builds a hash table of the text: select ids in SQL, then fetch text
by id (see DESIGN.md).
"""

from __future__ import annotations

from importlib import resources

import duckdb
import pyarrow as pa

from winnow.lake import Lake, catalog


# The macro library, in load order (later files use earlier ones).
MACRO_FILES = ("normalize.sql", "random.sql", "budget.sql", "sample.sql", "domains.sql")


def macros() -> str:
    """The text of winnow's SQL macro library."""
    folder = resources.files("winnow.sql")
    return "\n".join(folder.joinpath(name).read_text() for name in MACRO_FILES)


def load_macros(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(macros())


def connect(lake: Lake, version: int | str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the macros loaded and the lake's tables registered
    (docs at `version` if given)."""
    con = duckdb.connect()
    load_macros(con)
    con.register("docs", lake.docs(version))
    con.register("rejects", lake.dataset("rejects"))
    con.register("ingests", catalog.ingests(lake))
    con.register("metrics", catalog.metrics(lake))
    con.register("selections", catalog.latest(lake.dataset("selections").to_table(), "name"))
    return con


def query(lake: Lake, sql: str, version: int | str | None = None) -> pa.Table:
    """Run one SQL statement over the lake and return its result as an Arrow table."""
    con = connect(lake, version)
    try:
        result = con.sql(sql)
        return result.to_arrow_table() if result is not None else pa.table({})
    finally:
        con.close()

"""The SQL box: one read-only statement over the lake, with a row limit and a time limit.

The statement runs on a connection of `winnow.sql.connect` (the tables and macros of `winnow
sql`, `zscore(x)` with the lake version's constants) that has no file access at all: DuckDB's
sandbox refuses COPY, ATTACH, read_*() and INSTALL, and the lake's tables are Arrow scans that
nothing can write to. Only SELECT (SHOW, DESCRIBE, SUMMARIZE, VALUES, FROM ...) and EXPLAIN are
run; anything else is refused before DuckDB sees it. New column statistics are not recorded
(the lake is read-only): they are computed again when asked.

The time limit is DuckDB's interrupt, called by a timer thread (`DuckDBPyConnection.interrupt`):
it ends the running query, whatever operator it is in, and the error names the limit.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from winnow.lake import Lake
from winnow.lake.errors import UsageError
from winnow.sql import stats
from winnow.sql.connection import check_sql, connect, run
from winnow.sql.sandbox import access_error

from winnow.views.serve.charts import auto_chart

READING = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)
MAX_ROWS = 1000
TIMEOUT = 30.0  # seconds


class QueryRefused(UsageError):
    """A statement the read-only app does not run, or one that ran past its time limit."""


@dataclass
class Result:
    """The first `max_rows` rows of a statement's result and what the page shows with them."""

    table: pa.Table  # at most max_rows rows
    truncated: bool  # the result had more rows than max_rows
    seconds: float
    lake_version: int
    chart: dict | None  # a Vega-Lite spec (charts.auto_chart), or None


def one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def check_reading(sql: str) -> None:
    """Nothing when `sql` is one reading statement; else a QueryRefused (or UsageError) saying why."""
    statements = check_sql(sql)
    if len(statements) != 1:
        raise QueryRefused(f"one statement at a time (this SQL holds {len(statements)})")
    kind = statements[0].type
    if kind not in READING:
        raise QueryRefused(f"the lake is served read-only: only SELECT (and EXPLAIN) statements run here, "
                           f"not {kind.name}")


def execute(lake: Lake, sql: str, max_rows: int = MAX_ROWS, timeout: float = TIMEOUT) -> Result:
    """Run one reading statement over the lake's latest version: its first `max_rows` rows
    and an automatic chart, within `timeout` seconds. A bad or refused statement raises a
    UsageError whose message is one line (DuckDB's own message for SQL errors).

        >>> r = execute(lake, "SELECT source, count(*) AS n FROM docs GROUP BY source")
        >>> r.table.num_rows, r.chart["mark"]
    """
    check_reading(sql)
    started = time.perf_counter()
    version = lake.docs().version
    con = connect(lake, version)
    timer = threading.Timer(timeout, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        prepared = stats.prepare(con, lake, version, sql)
        relation = run(con, lake, prepared.sql, sealed=True)
        table = relation.limit(max_rows + 1).to_arrow_table()
        truncated = table.num_rows > max_rows
        table = table.slice(0, max_rows)
        chart = _chart(con, relation, table, truncated)
    except duckdb.InterruptException:
        raise QueryRefused(f"the query ran past the time limit of {timeout:g} s (winnow serve --timeout)") from None
    except duckdb.Error as e:
        raise (access_error(e, lake, sealed=True) or UsageError(one_line(e))) from None
    finally:
        timer.cancel()
        con.close()
    return Result(table, truncated, time.perf_counter() - started, version, chart)


def _chart(con, relation, table: pa.Table, truncated: bool) -> dict | None:
    """charts.auto_chart, or None when the result is one a chart cannot show (the table still
    shows it); running out of time still ends the query."""
    try:
        return auto_chart(con, relation, table, truncated)
    except duckdb.InterruptException:
        raise
    except (duckdb.Error, pa.ArrowException, ValueError, TypeError):
        return None

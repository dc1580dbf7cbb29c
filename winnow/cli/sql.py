"""`winnow sql`: DuckDB SQL over the lake's tables, one query or an interactive shell, its
result as a table, CSV, JSON lines or parquet."""

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console
from rich.table import Table

import winnow

from winnow.cli.options import StorageOption, open_lake
from winnow.cli.output import cell, err, one_line, out

if TYPE_CHECKING:
    import pyarrow as pa

SQL_OUTPUT_FORMATS = ("table", "csv", "json", "parquet")
TABLES = ", ".join(winnow.TABLES)


def sql(
    uri: str,
    query: Optional[str] = typer.Argument(
        None, help=f"SQL over the tables {TABLES}; none: an interactive shell."),
    format: str = typer.Option("table", "--format", "-f", help=" | ".join(SQL_OUTPUT_FORMATS)),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Write the result to this file (its folder must exist; outside the lake)."),
    version: Optional[int] = typer.Option(None, help="Read docs as of this lake version."),
    max_rows: int = typer.Option(40, help="Rows shown in table format (>= 0)."),
    storage_option: Optional[list[str]] = StorageOption,
) -> None:
    """Query the lake with DuckDB SQL over the tables docs, rejects, ingests, metrics, selections,
    runs and column_stats; with no query, an interactive shell. zscore(x) over docs uses the
    lake version's mean and deviation of x (cached in column_stats).

    The SQL reads and writes only the files its statement names as string literals (COPY ...
    TO 'top.parquet', read_parquet('scores.parquet')), never inside the lake: DuckDB's
    sandbox, locked, so that SET cannot change it."""
    if format not in SQL_OUTPUT_FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(SQL_OUTPUT_FORMATS)}")
    if format == "parquet" and out_file is None:
        raise typer.BadParameter("--format parquet needs --out FILE")
    if max_rows < 0:
        raise winnow.UsageError(f"--max-rows must be >= 0, got {max_rows}")
    if out_file is not None:
        winnow.check_out(out_file, folder=False)
    lake = open_lake(uri, storage_option)
    if out_file is not None:
        out_file = winnow.check_out(out_file, folder=False, lake=lake)  # not a hard link to a lake file either
        if winnow.inside_lake(lake, out_file):
            raise winnow.UsageError(f"--out {out_file} is inside the lake {lake.uri}: write results outside it")
    if query is None:
        with winnow.session(lake, version) as session:
            shell(session, max_rows)
        return
    emit(winnow.query(lake, query, version), format, out_file, max_rows)


def emit(table: "Optional[pa.Table]", format: str, out_file: Optional[Path], max_rows: int) -> None:
    """A result in `format`, on stdout or into `out_file`; nothing for a statement without a
    result set (no columns). The file is written aside and renamed over `out_file` at the
    end: whole or not at all, and never through a hard link into another file."""
    if table is None or table.num_columns == 0:
        return
    if out_file is None:
        _write(table, format, None, max_rows)
        return
    try:  # whole or not at all, and never through a link to another file
        with winnow.output_file(out_file, "w" if format == "table" else "wb") as sink:
            _write(table, format, sink, max_rows)
    except OSError as e:
        raise winnow.UsageError(f"--out {out_file}: {e.strerror or e}") from None


def _write(table: "pa.Table", format: str, sink, max_rows: int) -> None:
    """`table` in `format` into `sink` (None: stdout)."""
    import orjson
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if format == "table":
        shown = Table(*table.column_names)
        width = max(12, (out.width - 3 * max(table.num_columns, 1)) // max(table.num_columns, 1))
        for row in table.slice(0, max_rows).to_pylist():
            shown.add_row(*(cell(v, width) for v in row.values()))
        target = Console(file=sink, width=200) if sink else out
        target.print(shown)
        if table.num_rows > max_rows:
            target.print(f"({table.num_rows:,} rows, {max_rows} shown)")
        return
    sink = sink or sys.stdout.buffer
    if format == "csv":
        pacsv.write_csv(table, sink)
    elif format == "parquet":
        pq.write_table(table, sink)
    else:  # json: one object per line
        for row in table.to_pylist():
            sink.write(orjson.dumps(row, default=str) + b"\n")


def shell(session, max_rows: int) -> None:
    """Statements from stdin, each ended by ';', until .quit or the end of the input; a bad
    statement prints its error line and the shell goes on."""
    out.print(f"winnow sql shell: tables {TABLES}. Files: those a statement names, outside the lake. "
              "End statements with ';', quit with .quit", markup=False)
    buffer = ""
    while True:
        try:
            line = input("winnow> " if not buffer else "   ...> ")
        except EOFError:
            break
        if not buffer and line.strip() in (".quit", ".exit"):
            break
        buffer += line + "\n"
        if buffer.rstrip().endswith(";"):
            try:
                result = session.sql(buffer)
                emit(None if result is None else result.to_arrow_table(), "table", None, max_rows)
            except Exception as e:  # a bad statement must not end the shell
                err.print(f"error: {one_line(e)}", markup=False)
            buffer = ""

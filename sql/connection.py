"""DuckDB over the lake: the tables `docs`, `rejects`, `ingests`, `metrics`, `selections`,
`runs` and `column_stats` (TABLES), and the macro library loaded. `query()` and `Session`
give `zscore(x)` over docs the lake version's constants (sql/stats.py).

`docs` and `rejects` are registered Lance datasets: DuckDB scans them as Arrow with
projection and filter pushdown. DuckDB estimates such a scan at about one row, so a join
that carries `text` builds a hash table of the text: select ids in SQL, then fetch text
by id (measured: 3.9 GB of hash table for 300k docs through a join, ~1 GB fetching by id).

SQL cannot damage the lake. Every connection runs in DuckDB's own sandbox
(`enable_external_access = false`), locked (`lock_configuration = true`) so that no
statement can change it: DuckDB reads and writes only the files and folders the
connection was opened with (it checks a path with `..` removed as text, then its links
resolved). Those allowed paths never include anything inside the lake, nor a folder that
holds it (a file there is allowed by its exact path), and a statement naming a path that
the OS would open inside the lake through a link followed by `..` is refused (sandbox.py). `connect(lake)` has no file access at all;
`query()` and `Session` allow the paths their statements name as string literals
(`COPY ... TO 'top.parquet'`, `read_parquet('scores/*.parquet')`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable
from importlib import resources

import duckdb
import pyarrow as pa

from winnow.lake import Lake, LakeError, catalog
from winnow.lake.errors import UsageError

from winnow.sql import TABLES  # the tables every connection registers, in the order the help lists them
from winnow.sql.sandbox import FileAccessError, access_error, allowance, named_paths
from winnow.sql.scan import ColumnCache, for_duckdb

# The macro library, in load order (later files use earlier ones).
MACRO_FILES = ("normalize.sql", "random.sql", "budget.sql", "sample.sql", "domains.sql")

NAMED = "named"  # query(files=NAMED): the paths the statement names


def macros() -> str:
    """The text of winnow's SQL macro library."""
    folder = resources.files("winnow.sql").joinpath("macros")
    return "\n".join(folder.joinpath(name).read_text() for name in MACRO_FILES)


def load_macros(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(macros())


def _docs(lake: Lake, version: int | str | None):
    """docs at `version` (a lake version or a tag), or a UsageError naming what exists."""
    if version is not None and (isinstance(version, bool) or not isinstance(version, (int, str))
                                or (isinstance(version, int) and not 1 <= version < 2**63)):
        raise UsageError(f"lake version {version!r}: give a version number >= 1 or a tag")
    try:
        return lake.docs(version)
    except LakeError:
        if version is None:
            raise
        latest = lake.docs().version
        raise UsageError(f"lake version {version!r} does not exist (the lake is at version {latest}; "
                         "tags: " + (", ".join(sorted(lake.docs().tags.list())) or "none") + ")") from None


def connect(lake: Lake, version: int | str | None = None, *,
            files: Iterable[str | os.PathLike] | None = None,
            spill: str | None = None, cache: ColumnCache | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the macros loaded and the lake's TABLES registered (docs
    at lake version `version`, a number or a tag; default the latest).

    `files`: the files and folders DuckDB may read and write (see `allowance`: never
    inside the lake). None, the default: no file access at all, for servers and for
    selections, which read only the lake. The sandbox is locked: `SET
    enable_external_access = true` and every other configuration change are refused.
    DuckDB spills large sorts into `spill` (default: a private temporary folder it removes
    on close). `cache`: where docs keeps its small columns for later queries (scan.py).

        >>> con = connect(lake)
        >>> con.sql("SELECT count(*) FROM docs").fetchall()
    """
    docs = _docs(lake, version)
    con = duckdb.connect()
    try:
        if files is not None:
            allowed_files, allowed_folders = allowance(files, lake)
            if allowed_files:
                con.execute("SET allowed_paths = ?", [allowed_files])
            if allowed_folders:
                con.execute("SET allowed_directories = ?", [allowed_folders])
        spill = spill or os.path.join(tempfile.gettempdir(), f"winnow-duckdb-{uuid.uuid4().hex}")
        con.execute("SET temp_directory = ?", [spill])
        con.execute("SET autoinstall_known_extensions = false")
        # DuckDB's bar would land in commands' output. In a Jupyter kernel without ipywidgets it
        # is off already, and DuckDB refuses any change to it there (even to off), so only when on.
        if con.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0]:
            con.execute("SET enable_progress_bar = false")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        load_macros(con)
        con.register("docs", for_duckdb(docs, cache))
        con.register("rejects", lake.dataset("rejects"))
        con.register("ingests", catalog.ingests(lake))
        con.register("metrics", catalog.metrics(lake))
        con.register("selections", catalog.latest(lake.dataset("selections").to_table(), "name"))
        con.register("runs", catalog.runs(lake))
        con.register("column_stats", catalog.column_stats(lake))
    except BaseException:
        con.close()
        raise
    return con


def run(con: duckdb.DuckDBPyConnection, lake: Lake, sql: str, sealed: bool = False):
    """`con.sql(sql)`, with DuckDB's refusal of a file explained (FileAccessError)."""
    try:
        return con.sql(sql)
    except duckdb.Error as e:
        err = access_error(e, lake, sealed)
        if err is not None:
            raise err from e
        if "configuration has been locked" in str(e):
            raise FileAccessError(f"{' '.join(str(e).split())}: winnow locks DuckDB's settings so that SQL "
                                  "cannot open the lake's files") from e
        raise


def query(lake: Lake, sql: str, version: int | str | None = None,
          files: Iterable[str | os.PathLike] | str | None = NAMED) -> pa.Table:
    """Run SQL over the lake's TABLES and return the last statement's result as an Arrow
    table. `files`: what it may read and write (`connect`); by default the paths the SQL
    names as string literals, outside the lake.

        >>> query(lake, "SELECT source, count(*) AS n FROM docs GROUP BY source")
        >>> query(lake, "COPY (SELECT id FROM docs) TO 'ids.parquet'")
    """
    from winnow.sql import stats

    check_sql(sql)
    number = _docs(lake, version).version
    con = connect(lake, number, files=named_paths(sql) if files == NAMED else files)
    try:
        prepared = stats.prepare(con, lake, number, sql)
        result = run(con, lake, prepared.sql, sealed=files is None)
        table = result.to_arrow_table() if result is not None else pa.table({})
    finally:
        con.close()
    stats.record(lake, prepared)
    return table


def check_sql(sql: str) -> list:
    """The statements of `sql`; a UsageError when it has none or does not parse."""
    if not isinstance(sql, str) or not sql.strip():
        raise UsageError("the SQL is empty")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as e:
        raise UsageError(" ".join(str(e).split())) from e
    if not statements:
        raise UsageError("the SQL holds no statement (only comments)")
    return statements


class Session:
    """A SQL session over the lake (the `winnow sql` shell) whose file access follows its
    statements: each may read and write the files it names, outside the lake (`query`).

    DuckDB's sandbox cannot be widened once locked, so a statement naming new files opens
    a new connection. Tables, views and macros you create live in a session database in a
    private temporary folder and carry over; TEMP ones do not.

    docs' small columns (numbers, `id`, `source`: scan.py) stay in memory once a statement
    has read them, for the session's lake version: a re-selection with new weights reads
    no Lance file after the first.
    """

    def __init__(self, lake: Lake, version: int | str | None = None):
        self.lake = lake
        self.version = _docs(lake, version).version  # one lake version however often it reconnects
        self.folder = tempfile.mkdtemp(prefix="winnow-sql-")
        self.allowed: set[str] = set()
        self.con: duckdb.DuckDBPyConnection | None = None
        self.cache = ColumnCache()

    def sql(self, sql: str):
        """Run statements; the last one's relation (None for a statement without rows)."""
        from winnow.sql import stats

        check_sql(sql)
        named = set(named_paths(sql))
        if self.con is None or not named <= self.allowed:
            self.allowed |= named
            self._reconnect()
        prepared = stats.prepare(self.con, self.lake, self.version, sql)
        result = run(self.con, self.lake, prepared.sql)
        stats.record(self.lake, prepared)
        return result

    def _reconnect(self) -> None:
        if self.con is not None:
            self.con.close()
        con = connect(self.lake, self.version, files=[*sorted(self.allowed), self.folder],
                      spill=os.path.join(self.folder, "spill"), cache=self.cache)
        con.execute("ATTACH ? AS session", [os.path.join(self.folder, "session.duckdb")])
        con.execute("USE session")
        load_macros(con)  # into the session database, where its own names resolve
        self.con = con

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None
        self.cache = ColumnCache()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

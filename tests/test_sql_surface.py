"""`winnow sql` and the SQL connections: nothing inside the lake can be written (COPY,
EXPORT, ATTACH, `..`, links, SET cannot re-open it), files outside it that a statement
names stay usable, a connection with no file access exists, and wrong options or queries
are one-line usage errors that leave the lake as it was."""

from __future__ import annotations

import os

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import winnow
from winnow.cli import app
from winnow.sql import TABLES, FileAccessError, Session, connect, named_paths

from .helpers import C4, GITHUB, cli, fails, lake_state


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A folder holding the lake (`lake`), an export folder and a link into the lake from it."""
    root = tmp_path_factory.mktemp("sqlsurface")
    lake = winnow.init(root / "lake")
    winnow.ingest_files(lake, [str(GITHUB)])
    (root / "exports").mkdir()
    (root / "exports" / "link").symlink_to(root / "lake")
    return root


def files_of(folder) -> dict:
    """Every file under `folder` with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


# Statements that would write inside the lake; cwd is the folder holding it.
INTO_THE_LAKE = [
    "COPY (SELECT 'x') TO 'lake/docs.lance/_versions/18446744073709551613.manifest' (FORMAT csv)",
    "COPY (SELECT 'x') TO '{root}/lake/rejects.lance/x.parquet'",
    "COPY (SELECT 'x') TO 'exports/../lake/docs.lance/x.csv'",
    "COPY (SELECT 'x') TO 'exports/link/docs.lance/x.csv'",
    "COPY (SELECT 'x') TO 'exports/link/x.csv'",
    "COPY (SELECT 'x') TO ('lake' || '/docs.lance/x.csv')",
    "COPY (SELECT 1 AS a, 2 AS p) TO 'lake' (FORMAT csv, PARTITION_BY p)",
    "EXPORT DATABASE 'lake/docs.lance'",
    "ATTACH 'lake/x.duckdb' AS x",
    "SET enable_external_access = true; COPY (SELECT 'x') TO 'lake/x.csv'",
    "SET lock_configuration = false",
    "SET allowed_directories = ['lake']",
    "SET temp_directory = 'lake'",
]


def test_sql_cannot_write_inside_the_lake(root, monkeypatch):
    lake = winnow.open(root / "lake")
    before, files = lake_state(lake), files_of(root / "lake")
    monkeypatch.chdir(root)
    for statement in INTO_THE_LAKE:
        with pytest.raises(FileAccessError) as e:
            winnow.query(lake, statement.format(root=root))
        assert "inside the lake" in str(e.value) or "locks DuckDB's settings" in str(e.value), (statement, e.value)
    said = fails("sql", lake.uri, INTO_THE_LAKE[0], cwd=root, contains="it is inside the lake")
    assert "lake/docs.lance/_versions/18446744073709551613.manifest" in said
    shell = cli("sql", lake.uri, cwd=root, input="".join(s.format(root=root) + ";\n" for s in INTO_THE_LAKE[2:6])
                + "SELECT count(*) AS n FROM docs;\n")
    assert shell.stderr.count("error: cannot access") == 4 and "50" in shell.stdout
    assert f"winnow sql shell: tables {', '.join(TABLES)}." in shell.stdout
    assert lake_state(lake) == before and files_of(root / "lake") == files
    assert winnow.info(lake.uri).documents == 50  # the lake opens


def test_files_outside_the_lake_that_a_statement_names_stay_usable(root, monkeypatch):
    lake = winnow.open(root / "lake")
    monkeypatch.chdir(root)  # the folder holding the lake: files beside it are allowed by name
    for _ in range(2):  # the second COPY replaces the file
        winnow.query(lake, "COPY (SELECT id, source FROM docs ORDER BY id) TO 'top.parquet'")
    ids = winnow.query(lake, "SELECT id FROM docs ORDER BY id")["id"]
    assert pq.read_table(root / "top.parquet")["id"].equals(ids)
    winnow.query(lake, "COPY (SELECT id, n_bytes, 1 AS part FROM docs) TO 'exports/parts' (FORMAT parquet, PARTITION_BY part)")
    joined = winnow.query(lake, "SELECT count(*) AS n, sum(p.n_bytes) AS b FROM docs "
                                "JOIN read_parquet('exports/parts/*/*.parquet') p USING (id) "
                                "JOIN read_parquet('top.parquet') USING (id)").to_pylist()[0]
    assert joined == {"n": 50, "b": winnow.query(lake, "SELECT sum(n_bytes) AS b FROM docs")["b"][0].as_py()}
    cli("sql", lake.uri, "COPY (SELECT id FROM docs) TO 'ids.csv'", cwd=root)
    assert len((root / "ids.csv").read_text().splitlines()) == 51
    with pytest.raises(FileAccessError, match="a glob or folder that holds the lake"):
        winnow.query(lake, "SELECT count(*) FROM read_parquet('*.parquet')")  # listing the lake's folder


def test_a_connection_with_no_file_access(root, tmp_path):
    lake = winnow.open(root / "lake")
    con = connect(lake)  # the default: for servers (and selections)
    for table in TABLES:
        con.sql(f"SELECT count(*) FROM {table}").fetchall()
    refused = [f"SELECT * FROM read_json('{GITHUB}')", f"COPY (SELECT 1) TO '{tmp_path}/x.csv'",
               "SET enable_external_access = true", f"SET allowed_paths = ['{GITHUB}']", "INSTALL httpfs"]
    for statement in refused:
        with pytest.raises(duckdb.Error):
            con.sql(statement)
    con.close()
    with pytest.raises(FileAccessError, match="no file access"):
        winnow.sql.query(lake, f"SELECT count(*) FROM read_json('{GITHUB}')", files=None)
    assert not os.listdir(tmp_path)


def test_a_session_keeps_what_it_created_across_new_files(root, monkeypatch):
    monkeypatch.chdir(root)
    with Session(winnow.open(root / "lake")) as s:
        s.sql("CREATE TABLE few AS SELECT id FROM docs ORDER BY id LIMIT 3")
        s.sql("CREATE MACRO twice(x) AS x * 2")
        s.sql("COPY few TO 'few.csv'")  # a new file: a new connection
        assert s.sql("SELECT count(*), twice(21) FROM few").fetchall() == [(3, 42)]
        assert s.sql("SELECT count(*) FROM read_csv('few.csv')").fetchall() == [(3,)]
        folder = s.folder
    assert not os.path.exists(folder)


def test_named_paths_are_the_statements_literals():
    sql = """SELECT * FROM read_parquet(['a.parquet', 'it''s.parquet']) JOIN "b.csv" USING (id)
             WHERE x = $$dollar$$ -- 'not this'"""
    assert named_paths(sql) == ["a.parquet", "it's.parquet", "b.csv", "dollar"]


@pytest.mark.parametrize("args, message", [
    (["SELECT 1", "--out", "/nonexistent/dir/x.csv"], "--out /nonexistent/dir/x.csv: the folder /nonexistent/dir does not exist"),
    (["SELECT 1", "--max-rows", "-5"], "--max-rows must be >= 0, got -5"),
    ([""], "the SQL is empty"),
    (["SELECT 1", "--out", "{lake}/x.csv"], "is inside the lake"),
    (["SELECT 1", "--version", "99"], "lake version 99 does not exist (the lake is at version 2"),
])
def test_sql_usage_errors_leave_the_lake_as_it_was(root, args, message):
    lake = winnow.open(root / "lake")
    before, files = lake_state(lake), files_of(root / "lake")
    fails("sql", lake.uri, *[a.format(lake=lake.uri) for a in args], contains=message)
    assert lake_state(lake) == before and files_of(root / "lake") == files


def test_the_api_refuses_the_same(root):
    lake = winnow.open(root / "lake")
    for sql, version, message in (("", None, "empty"), ("-- only a comment", None, "no statement"),
                                  ("SELECT 1", -1, "version number >= 1"), ("SELECT 1", "nope", "does not exist")):
        with pytest.raises(winnow.UsageError, match=message):
            winnow.query(lake, sql, version=version)


def test_help_lists_every_table():
    assert TABLES == ("docs", "rejects", "ingests", "metrics", "selections", "runs", "column_stats")
    shown = " ".join(CliRunner().invoke(app, ["sql", "--help"], terminal_width=200).output.replace("│", " ").split())
    assert f"SQL over the tables {', '.join(TABLES)}" in shown
    assert "docs, rejects, ingests, metrics, selections, runs and column_stats" in shown
    assert "table | csv | json | parquet" in shown
    for doc in (winnow.sql.connection.__doc__, winnow.sql.__doc__, winnow.query.__doc__):
        assert all(t in doc for t in TABLES), doc


def test_filters_on_list_columns(tmp_path):
    """A WHERE on a fixed-size-list column (an embedding, a signature) cannot go to Lance
    (its Substrait conversion drops list fields); it is applied to the scanned batches, and
    gives what the same filter gives over the table in memory."""
    import numpy as np
    import pyarrow as pa

    from winnow.lake.columns import add_columns, write_columns

    lake = winnow.init(tmp_path / "lake")
    winnow.ingest_files(lake, [str(GITHUB)])
    ids = lake.docs().to_table(columns=["id"])["id"].to_pylist()
    rng = np.random.default_rng(0)
    values = rng.normal(size=(len(ids), 4)).astype(np.float32)
    vec = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), 4)
    vec = pa.array([v if i % 3 else None for i, v in enumerate(vec.to_pylist())], type=vec.type)
    add_columns(lake, [pa.field("vec", vec.type)])
    write_columns(lake, pa.table({"id": ids, "vec": vec}))
    held = {i for i, v in zip(ids, vec.to_pylist()) if v is not None}
    positive = {i for i, v in zip(ids, vec.to_pylist()) if v is not None and v[0] > 0}
    assert 0 < len(positive) < len(held) < len(ids)
    got = winnow.query(lake, "SELECT id FROM docs WHERE vec IS NOT NULL")["id"].to_pylist()
    assert set(got) == held and len(got) == len(held)
    got = winnow.query(lake, "SELECT id, n_chars FROM docs WHERE vec[1] > 0 AND n_chars > 0")
    assert set(got["id"].to_pylist()) == positive
    assert winnow.query(lake, "SELECT count(*) AS n FROM docs WHERE vec IS NULL")["n"][0].as_py() == len(ids) - len(held)


def test_a_link_followed_by_dotdot_cannot_reach_the_lake(root, tmp_path, monkeypatch):
    """DuckDB checks `OUT/vers/../_versions/X` as `OUT/_versions/X` (`..` as text, then
    links), while the OS opens the lake's `_versions/X` (the link, then `..`): every path a
    statement names is resolved both ways, and one that would open the lake is refused."""
    lake = winnow.open(root / "lake")
    versions = root / "lake" / "docs.lance" / "_versions"
    manifest = sorted(versions.iterdir())[0].name
    out = tmp_path / "out"
    out.mkdir()
    (out / "vers").symlink_to(versions)
    before, files = lake_state(lake), files_of(root / "lake")
    # the attack of issue 21, as written, on the command line
    fails("sql", lake.uri, f"SELECT '{out}'; COPY (SELECT 'garbage' AS g) TO "
          f"'{out}/vers/../_versions/18446744073709551597.manifest' (FORMAT csv, HEADER false)",
          contains="through a link followed by '..'")
    lake_dir = str(root / "lake")
    attacks = [
        f"SELECT '{out}'; SELECT * FROM read_blob('{out}/vers/../_versions/{manifest}')",  # its read
        f"SELECT '{out}'; SELECT * FROM read_blob('{out}/vers/../_versions/*.manifest')",  # a glob
        f"SELECT '{out}'; SELECT * FROM query('SELECT * FROM read_blob(''{out}/vers/../_versions/{manifest}'')')",
        # no link of the user's: /proc/self/root is /, so DuckDB checks /proc/LAKE/..., the OS opens LAKE/...
        f"SELECT '/proc{lake_dir}/docs.lance/x.csv'; "
        f"COPY (SELECT 'garbage' AS g) TO '/proc/self/root/../..{lake_dir}/docs.lance/x.csv' (FORMAT csv)",
    ]
    for statement in attacks:
        with pytest.raises(FileAccessError, match="through a link followed by '..'"):
            winnow.query(lake, statement)
    # the same paths assembled at run time, which no literal shows: nothing allowed leaves a
    # link to climb (OUT holds one into the lake; /proc/LAKE has no parent folder; /proc holds self/root)
    built = [
        f"SELECT '{out}'; COPY (SELECT 'garbage' AS g) TO "
        f"('{out}/ve' || 'rs/../_versions/18446744073709551597.manifest') (FORMAT csv, HEADER false)",
        f"SELECT '{out}'; SELECT * FROM read_blob('{out}/ve' || 'rs/../_versions/{manifest}')",
        f"SELECT '/proc{lake_dir}/docs.lance/x.csv', '/proc'; "
        f"COPY (SELECT 'garbage' AS g) TO ('/proc/self/ro' || 'ot/../..' || '{lake_dir}/docs.lance/x.csv') (FORMAT csv)",
    ]
    for statement in built:
        with pytest.raises(FileAccessError, match="cannot access"):
            winnow.query(lake, statement)
    # in two steps: OUT/_versions made first (by a partitioned COPY, or already there), then
    # named, so that the built path's check lands on an allowed file or folder
    with pytest.raises(FileAccessError, match="cannot access"):
        winnow.query(lake, f"COPY (SELECT 1 AS a, 1 AS g) TO '{out}/_versions' (FORMAT csv, PARTITION_BY (g))")
    (out / "_versions").mkdir()
    for named in (f"{out}/_versions/18446744073709551597.manifest", f"{out}/_versions"):
        with pytest.raises(FileAccessError, match="cannot access"):
            winnow.query(lake, f"SELECT '{named}'; COPY (SELECT 'garbage' AS g) TO "
                               f"('{out}/ve' || 'rs/../_versions/18446744073709551597.manifest') (FORMAT csv, HEADER false)")
    monkeypatch.chdir(out)  # relative to the working folder: '.' allows it, 'vers/..' is the lake's docs.lance
    with pytest.raises(FileAccessError, match="through a link followed by '..'"):
        winnow.query(lake, "SELECT '.'; COPY (SELECT 'garbage' AS g) TO 'vers/../x.csv' (FORMAT csv)")
    assert lake_state(lake) == before and files_of(root / "lake") == files
    assert winnow.info(lake.uri).documents == 50
    # a link followed by '..' that stays outside the lake still works, as DuckDB checks it
    (tmp_path / "elsewhere" / "sub").mkdir(parents=True)
    (out / "away").symlink_to(tmp_path / "elsewhere" / "sub")
    winnow.query(lake, "COPY (SELECT 1 AS a) TO 'away/../a.csv' (FORMAT csv)")
    assert (tmp_path / "elsewhere" / "a.csv").is_file()
    # a glob over a folder holding a link to a folder outside it is refused; the linked folder by its own path is not
    with pytest.raises(FileAccessError, match="a link to a folder outside it"):
        winnow.query(lake, f"SELECT count(*) FROM read_csv('{out}/*.csv')")
    assert winnow.query(lake, f"SELECT count(*) AS n FROM read_csv('{tmp_path}/elsewhere/*.csv')")["n"][0].as_py() == 1


def test_a_session_answers_from_the_columns_it_keeps_at_its_version(tmp_path):
    """A session keeps docs' small columns in memory after a first query and gives the same
    rows as a fresh connection; the text is never kept; a newer lake version is another
    session's, and the cache empties itself for it. (~5 s)"""
    lake = winnow.init(tmp_path / "lake")
    winnow.ingest_files(lake, [str(GITHUB)], workers=1)
    top = "SELECT id, n_bytes FROM docs ORDER BY n_bytes DESC, id LIMIT 7"
    text = "SELECT count(*) AS n FROM docs WHERE text LIKE '%import%'"
    with Session(lake) as s:
        first, again = s.sql(top).fetchall(), s.sql(top).fetchall()
        assert first == again == [tuple(r.values()) for r in winnow.query(lake, top).to_pylist()]
        assert set(s.cache.columns) == {"id", "n_bytes"} and s.cache.version == s.version
        assert s.sql(text).fetchall()[0][0] == winnow.query(lake, text)["n"][0].as_py() > 0
        assert "text" not in s.cache.columns
        before = s.sql("SELECT count(*) FROM docs").fetchall()[0][0]
        winnow.ingest_files(lake, [str(C4)], workers=1)  # a new lake version
        assert s.sql("SELECT count(*) FROM docs").fetchall()[0][0] == before  # the session's own version
        newer = lake.docs()
        assert s.cache.table(newer, ["id"]).num_rows == newer.count_rows() > before
        assert s.cache.version == newer.version and set(s.cache.columns) == {"id"}
    with Session(lake) as s:
        assert s.sql("SELECT count(*) FROM docs").fetchall()[0][0] == newer.count_rows()

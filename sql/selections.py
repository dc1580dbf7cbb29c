"""Named selections: SQL stored in the catalog with the lake version it reads and a seed.

A selection's SQL is one SELECT over the lake's tables returning one row per selected
document: an `id` column of docs' ids (each once, none NULL, every one in docs at the
pinned version) and, where it has them, numeric `n_tokens` and `score` columns. It always
runs against the lake version pinned when it was created (a Lance tag `selection-<name>`
keeps that version through cleanups), so it returns the same documents after more
ingestion and scoring. It reads only the lake: its connection has no file access. Inside
the SQL, `seed()` is the selection's seed, an integer from 0 to 2**63 - 1.

A selection may leave out other selections' documents (`exclude`, `winnow select create
--exclude VAL`): its SQL then sees `docs` without them, so the exclusion comes before any
budget cut (a `top_k` by tokens fills its budget from the documents that remain) and the
selection holds no excluded id. `docs` is then a view over the lake's docs with a mark join
against the excluded ids: DuckDB builds its hash table on those ids and streams docs with
the same projection and filter pushdown. The excluded selections are recorded by name; the
documents left out are theirs as defined when this one was created, so evaluating a
selection whose excluded selection was redefined later is refused (create it again).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from datetime import datetime, timezone

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from winnow.lake import Lake, catalog, display
from winnow.lake.errors import UsageError, WinnowError
from winnow.lake.killpoints import step
from winnow.lake.version import WINNOW_VERSION

from winnow.sql import stats
from winnow.sql.connection import check_sql, connect
from winnow.sql.sandbox import access_error

SEED_MAX = 2**63 - 1  # seeds are stored as int64 and read in SQL as UBIGINT


class SelectionError(WinnowError):
    """A selection that cannot be created, found or evaluated (one clear line)."""


class SelectionUsageError(SelectionError, UsageError):
    """A selection the user asked for is wrong: its name, seed, SQL or rows."""


@display.shown
@dataclass(frozen=True)
class Selection:
    name: str
    sql: str
    lake_version: int
    seed: int
    documents: int | None = None
    created_at: datetime | None = None
    exclude: tuple[str, ...] = ()  # selections whose documents it leaves out
    # the lake it was read from, for its view in a notebook (tokens by source); not pickled
    lake: Lake | None = field(default=None, compare=False, repr=False)

    @property
    def tag(self) -> str:
        return f"selection-{self.name}"

    def __getstate__(self) -> dict:
        return {**self.__dict__, "lake": None}

    def _summary(self) -> str:
        return f"{self.name!r}: {self.documents or 0:,} documents, lake version {self.lake_version}, seed {self.seed}"

    def _view(self) -> display.View:
        """Its definition; with its lake, also its tokens by source and score histogram,
        from the selection evaluated again (`sql/preview.py`)."""
        v = display.View(f"selection {self.name}", [
            ("documents", self.documents), ("lake version", self.lake_version), ("seed", self.seed)])
        if self.exclude:
            v.fields.append(("leaves out", self.exclude))
        if self.created_at is not None:
            v.fields.append(("created", f"{self.created_at:%Y-%m-%d %H:%M:%S} UTC"))
        if self.lake is not None:
            from winnow.sql.preview import preview

            shown = preview(self.lake, self, samples=0)._view()
            v.fields[1:1] = shown.fields[1:3]  # tokens, text
            v.parts += [part for part in shown.parts if not isinstance(part, display.Table)]  # the charts
        v.parts.append(display.Code("SQL", self.sql))
        return v


def check_seed(seed, option: str = "seed") -> int:
    """`seed` as an int when it is an integer from 0 to 2**63 - 1, else a SelectionUsageError
    naming `option` (materialize's `--shuffle` takes the same seeds)."""
    try:
        value = operator.index(seed)
    except TypeError:
        raise SelectionUsageError(f"{option} {seed!r}: a seed is an integer from 0 to 2**63 - 1 ({SEED_MAX})") from None
    if not 0 <= value <= SEED_MAX:
        raise SelectionUsageError(f"{option} {value}: a seed is an integer from 0 to 2**63 - 1 ({SEED_MAX})")
    return value


def selection_connection(lake: Lake, version: int, seed: int,
                         excluded: pa.Table | None = None) -> duckdb.DuckDBPyConnection:
    """A connection with no file access over the lake at `version`, where `seed()` is `seed`
    and, with `excluded` (a table of ids), `docs` is the lake's docs without those ids."""
    con = connect(lake, version)
    try:
        con.execute(f"CREATE OR REPLACE MACRO seed() AS {check_seed(seed)}::UBIGINT")
        if excluded is not None:
            con.unregister("docs")
            con.register("_lake_docs", lake.docs(version))
            con.register("_excluded_ids", excluded.select(["id"]))
            con.execute("CREATE TEMP VIEW docs AS "
                        "SELECT * FROM _lake_docs WHERE id NOT IN (SELECT id FROM _excluded_ids)")
    except BaseException:
        con.close()
        raise
    return con


def excluded_ids(lake: Lake, names, before: datetime | None = None) -> pa.Table | None:
    """The ids (one `id` column, each once) of the selections `names`, each evaluated at its
    own pinned version; None for no names. `before`: the creation time of the selection that
    leaves them out; a selection redefined after it is refused (its documents changed)."""
    if not names:
        return None
    tables = []
    for name in names:
        sel = get(lake, name)
        if before is not None and sel.created_at is not None and sel.created_at > before:
            raise SelectionUsageError(
                f"selection {name!r} was redefined ({sel.created_at:%Y-%m-%d %H:%M:%S}) after a selection that "
                "leaves out its documents was created: create that selection again (select create --replace)")
        tables.append(evaluate(lake, sel).select(["id"]).cast(pa.schema([("id", pa.string())])))
    ids = pa.concat_tables(tables)
    return ids if len(tables) == 1 else ids.group_by("id").aggregate([])


def run_selection(lake: Lake, sql: str, version: int, seed: int, excluded: pa.Table | None = None) -> pa.Table:
    """The rows a selection's SQL returns at a lake version, checked (see the module);
    `excluded`: ids its `docs` leaves out (`excluded_ids`)."""
    try:
        statements = check_sql(sql)
    except UsageError as e:
        raise SelectionUsageError(f"selection SQL: {e}") from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        kinds = ", ".join(s.type.name for s in statements)
        raise SelectionUsageError(f"a selection's SQL is one SELECT statement (this one is: {kinds})")
    con = selection_connection(lake, version, seed, excluded)
    try:
        prepared = stats.prepare(con, lake, version, sql)
        try:
            table = con.sql(prepared.sql).to_arrow_table()
        except duckdb.Error as e:
            denied = access_error(e, lake, sealed=True)
            if denied is not None:
                raise SelectionUsageError(f"selection SQL: {denied}") from e
            raise SelectionUsageError(f"selection SQL failed: {' '.join(str(e).split())}") from e
        check_rows(con, table, version, excluded is not None, None if excluded is not None else lake.docs(version))
    finally:
        con.close()
    stats.record(lake, prepared)
    return table


def check_rows(con: duckdb.DuckDBPyConnection, table: pa.Table, version: int, excluding: bool = False,
               docs=None) -> None:
    """A selection's rows are docs' ids, each once, none NULL, all in `docs` (registered on
    `con` at lake version `version`; `excluding`: docs without the excluded selections'
    documents); `n_tokens` and `score`, where present, are numbers. With `docs` (the lake's
    dataset at `version`, when nothing is excluded) the ids are looked for in Arrow: DuckDB's
    scan of a Lance string column cost ~8x Lance's own read (2.2 against 0.26 CPU-seconds for
    10M ids), the most of a re-selection's time after the query itself."""
    if "id" not in table.column_names:
        raise SelectionUsageError(f"a selection's SQL must return an `id` column (it returned {table.column_names})")
    ids = table["id"]
    if ids.null_count:
        raise SelectionUsageError(f"the selection's SQL returned {ids.null_count:,} NULL id(s): every row needs "
                                  "a document id")
    id_type = table.schema.field("id").type
    if not (pa.types.is_string(id_type) or pa.types.is_large_string(id_type) or pa.types.is_string_view(id_type)):
        raise SelectionUsageError(f"the selection's `id` column is {id_type}, not docs' ids (strings): "
                                  "select `id` from docs")
    for column in ("n_tokens", "score"):
        if column in table.column_names:
            t = table.schema.field(column).type
            if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)):
                raise SelectionUsageError(f"the selection's `{column}` column is {t}; it must hold numbers")
    con.register("_selected", table.select(["id"]))
    repeated, missing = con.sql(
        "SELECT (SELECT count(*) - count(DISTINCT id) FROM _selected), "
        f"({'0' if docs is not None else 'SELECT count(*) FROM _selected ANTI JOIN docs USING (id)'})").fetchall()[0]
    if docs is not None and not repeated:  # the selected ids found among docs' (each once: ids are unique)
        found = pc.sum(pc.is_in(docs.to_table(columns=["id"])["id"], value_set=ids.cast(pa.string()))).as_py() or 0
        missing = len(ids) - found
    if repeated:
        (example,) = con.sql("SELECT id FROM _selected GROUP BY id HAVING count(*) > 1 ORDER BY id LIMIT 1").fetchall()[0]
        raise SelectionUsageError(f"the selection's SQL returned id {example!r} more than once "
                                  f"({repeated:,} repeated row(s)): each document once")
    if missing:
        (example,) = con.sql("SELECT id FROM _selected ANTI JOIN docs USING (id) ORDER BY id LIMIT 1").fetchall()[0]
        left_out = " once the excluded selections' documents are left out" if excluding else ""
        raise SelectionUsageError(f"{missing:,} selected id(s) are not in docs at lake version {version}{left_out} "
                                  f"(e.g. {example!r}): select ids from docs")
    con.unregister("_selected")


def check_exclude(lake: Lake, name: str, exclude) -> tuple[str, ...]:
    """The excluded selections' names, each once, in the order given: each must exist and
    none may be `name` itself (a SelectionUsageError naming the selections there are)."""
    if isinstance(exclude, str):
        exclude = [exclude]
    names = tuple(dict.fromkeys(exclude or ()))
    if name in names:
        raise SelectionUsageError(f"--exclude {name}: a selection cannot leave out its own documents")
    for other in names:
        get(lake, other)
    return names


def create(lake: Lake, name: str, sql: str, seed: int = 0, replace: bool = False, exclude=()) -> Selection:
    """Store a selection pinned to the current lake version (`winnow select create`).

    `seed` is an integer from 0 to 2**63 - 1 that the SQL reads as `seed()`. `exclude`:
    names of selections whose documents this one leaves out; its SQL sees `docs` without
    them (see the module). The SQL is run and its rows checked before anything is written;
    if storing it fails, the Lance tag is put back as it was, so a failed create leaves the
    lake as it was.

        >>> create(lake, "top", "WITH c AS (SELECT id, n_tokens, gopher_word_count AS score FROM docs) "
        ...                     "SELECT * FROM top_k(c, 1e6)", seed=7, exclude=["validation"])
    """
    if not isinstance(name, str) or not name or not name.replace("-", "").replace("_", "").isalnum():
        raise SelectionUsageError(f"selection name {name!r}: use letters, digits, '-' and '_'")
    seed = check_seed(seed)
    if get(lake, name, missing_ok=True) is not None and not replace:
        raise SelectionUsageError(f"a selection named {name!r} exists (pass --replace to redefine it)")
    exclude = check_exclude(lake, name, exclude)
    version = lake.docs().version
    rows = run_selection(lake, sql, version, seed, excluded_ids(lake, exclude))
    sel = Selection(name, sql, version, seed, rows.num_rows, datetime.now(timezone.utc), exclude, lake)
    schema = lake.dataset("selections").schema
    if exclude and "exclude" not in schema.names:
        raise SelectionError("this lake's selections table has no `exclude` column: open it with this winnow")
    record = pa.Table.from_pylist([{
        "name": name, "sql": sql, "lake_version": version, "seed": seed, "documents": rows.num_rows,
        "created_at": sel.created_at, "winnow_version": WINNOW_VERSION, "exclude": list(exclude) or None,
    }], schema=schema)
    before = lake.docs().tags.list().get(sel.tag)
    lake.pin(sel.tag, version)
    step("select:pinned")
    try:
        lake.append("selections", record)
    except BaseException as e:
        tags = lake.docs().tags
        if before is None:
            tags.delete(sel.tag)
        else:
            tags.update(sel.tag, before["version"])
        if isinstance(e, Exception) and not isinstance(e, WinnowError):
            raise SelectionError(f"selection {name!r}: storing it in the catalog failed "
                                 f"({' '.join(str(e).split())}); the lake is as it was") from e
        raise
    return sel


def all_selections(lake: Lake) -> list[Selection]:
    latest = catalog.latest(lake.dataset("selections").to_table(), "name")
    return [
        Selection(r["name"], r["sql"], r["lake_version"], r["seed"], r["documents"], r["created_at"],
                  tuple(r.get("exclude") or ()), lake)
        for r in latest.sort_by("name").to_pylist()
    ] if latest.num_rows else []


def get(lake: Lake, name: str, missing_ok: bool = False) -> Selection | None:
    for sel in all_selections(lake):
        if sel.name == name:
            return sel
    if missing_ok:
        return None
    names = ", ".join(s.name for s in all_selections(lake)) or "none yet"
    raise SelectionUsageError(f"no selection named {name!r} (selections: {names})")


def evaluate(lake: Lake, selection: Selection | str) -> pa.Table:
    """The selection's rows, from its pinned lake version (without the documents of the
    selections it excludes)."""
    sel = get(lake, selection) if isinstance(selection, str) else selection
    return run_selection(lake, sel.sql, sel.lake_version, sel.seed, excluded_ids(lake, sel.exclude, sel.created_at))


def documents(lake: Lake, selection: Selection | str, columns: list[str], rows: pa.Table | None = None) -> pa.Table:
    """Columns of `docs` (at the pinned version) for the selected ids, in the selection's
    order; `rows`: the selection's rows when already evaluated.

    Ids are selected in SQL; the columns are fetched from Lance by id, never through a
    DuckDB join that carries text (DuckDB would build a hash table of the text).
    """
    sel = get(lake, selection) if isinstance(selection, str) else selection
    docs = lake.docs(sel.lake_version)
    unknown = [c for c in columns if c not in docs.schema.names]
    if unknown:
        raise SelectionUsageError(f"docs at lake version {sel.lake_version} has no column(s) {', '.join(unknown)}")
    ids = (evaluate(lake, sel) if rows is None else rows)["id"].combine_chunks().cast(pa.string())
    found = docs.to_table(columns=["id", *[c for c in columns if c != "id"]], filter=pc.field("id").isin(ids))
    if found.num_rows != len(ids):
        raise SelectionError(f"selection {sel.name!r}: {len(ids) - found.num_rows:,} selected id(s) are not in docs "
                             f"at lake version {sel.lake_version}")
    order = pc.index_in(ids, value_set=found["id"])
    return found.take(order)

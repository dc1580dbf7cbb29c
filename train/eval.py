"""`winnow eval`: how well columns or SQL expressions over `docs` agree with labels.

For each expression: the AUC, the accuracy at the best threshold, Spearman's rank
correlation, and the count of rows used. The rules, in numpy (no sklearn or scipy here):

- Ranks are average ranks (ties share the mean of their positions), as
  `scipy.stats.rankdata(method="average")` gives them.
- AUC is the Mann-Whitney U of the positives over P·N: U = R₊ − P(P+1)/2, with R₊ the sum
  of the positives' average ranks (scipy/scipy `scipy/stats/_mannwhitneyu.py`, "method 2");
  a tie between a positive and a negative counts one half, as `sklearn.metrics.roc_auc_score`.
- Accuracy at the best threshold: a row is predicted positive when its value is >= the
  threshold; the thresholds tried are the distinct values and +inf (nothing positive), as
  scikit-learn's `_binary_clf_curve` (`sklearn/metrics/_ranking.py`) places them. The lowest
  threshold of the best accuracy is reported. Larger values mean "positive": negate an
  expression (`-x`) whose small values mark the positives.
- Spearman is Pearson's correlation of the two average-rank vectors (scipy's `spearmanr`);
  NaN when either side is constant.

Labels: 0/1, booleans, or any numeric label with exactly two values (the larger one is the
positive class) are binary. A numeric label with more than two values has no AUC or
accuracy (both NaN; it is not binarized, so no arbitrary cut hides in the figures): it gets
Spearman and the count. Text labels are refused.

Rows: `where` picks the rows considered and each expression is computed over them (a
window such as `percentile(x)` spans those rows, as in `winnow sql`; `zscore(x)` has the
constants of the whole lake version, sql/stats.py). Per expression, rows
whose label or value is NULL or NaN are left out: `n` counts the rows used, `skipped` the
others. Fewer than MIN_ROWS rows (labelled, or used by an expression) is an error.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from winnow.lake import Lake, display
from winnow.lake.errors import UsageError, check

from winnow.sql import stats
from winnow.sql.connection import _docs, connect

MIN_ROWS = 20  # the fewest labelled rows a figure is computed from (issue 11, section 7)
# DuckDB types read as numbers (DECIMAL(p, s) too); NULL: an expression that is NULL everywhere.
NUMERIC = frozenset({"BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                     "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", '"NULL"', "NULL"})


@dataclass(frozen=True)
class Agreement:
    """One expression's agreement with the labels."""

    expression: str
    auc: float  # NaN for a label with more than two values
    accuracy: float  # at `threshold`; NaN as auc
    threshold: float  # predicted positive when value >= threshold
    spearman: float
    n: int  # rows with both a label and a value
    skipped: int  # rows considered whose label or value is NULL or NaN


@display.shown
@dataclass(frozen=True)
class EvalResult:
    """`evaluate`'s result: one Agreement per expression, in the order given."""

    label: str
    where: str | None
    lake_version: int
    rows: int  # rows considered (matching `where`)
    labelled: int  # of them, rows whose label is not NULL or NaN
    binary: bool  # the label has two values (AUC and accuracy defined)
    agreements: list[Agreement]


def evaluate(lake: Lake, label: str, expressions: list[str], *, where: str | None = None,
             version: int | str | None = None) -> EvalResult:
    """Each expression's AUC, best-threshold accuracy, Spearman and count against `label`
    (an SQL expression over docs), over the rows matching `where`, at lake `version` (a
    number or a tag; default the latest). A UsageError, before any figure, for a label that
    is not numeric or boolean, an expression that does not parse, bind or name a column,
    or fewer than MIN_ROWS rows.

        >>> evaluate(lake, "(meta->>'label')::INT", ["gopher_word_count"]).agreements[0].auc
    """
    check(isinstance(label, str) and label.strip() != "", "--label is empty: give an SQL expression over docs")
    check(isinstance(expressions, (list, tuple)) and len(expressions) > 0,
          "give at least one expression to evaluate (a column or an SQL expression over docs)")
    if where is not None:
        check(isinstance(where, str) and where.strip() != "", "--where is empty: give an SQL filter over docs")
    lake_version = _docs(lake, version).version  # one version for every query below
    con = connect(lake, lake_version)
    try:
        _check_where(con, where)
        _check_expression(con, label, "--label", where)
        for expression in expressions:
            check(isinstance(expression, str) and expression.strip() != "", "an expression is empty")
            _check_expression(con, expression, repr(expression), where)
        rows, table, prepared = _fetch(con, lake, lake_version, label, list(expressions), where)
    finally:
        con.close()
    stats.record(lake, prepared)
    labels = _floats(table.column("label"))
    known = ~np.isnan(labels)
    labelled = int(known.sum())
    scope = f" matching --where {where}" if where else ""
    check(rows > 0, f"no rows{scope}: nothing to evaluate")
    check(labelled >= MIN_ROWS, f"--label {label}: {labelled} labelled row(s) of {rows:,}{scope}; eval needs at "
                                f"least {MIN_ROWS} (rows whose label is NULL or NaN are left out)")
    classes = np.unique(labels[known])
    check(len(classes) >= 2, f"--label {label}: every labelled row has the value {classes[0]:g}; "
                             "eval needs two values or more")
    binary = len(classes) == 2
    agreements = []
    for i, expression in enumerate(expressions):
        values = _floats(table.column(f"v{i}"))
        used = known & ~np.isnan(values)
        n = int(used.sum())
        check(n >= MIN_ROWS, f"{expression!r}: {n} row(s) have both a label and a value ({labelled - n} labelled "
                             f"row(s) have a NULL or NaN value); eval needs at least {MIN_ROWS}")
        x, y = values[used], labels[used]
        auc, accuracy, threshold = math.nan, math.nan, math.nan
        if binary:
            positive = y == classes[1]
            auc = mann_whitney_auc(x, positive)
            accuracy, threshold = best_accuracy(x, positive)
        agreements.append(Agreement(expression, auc, accuracy, threshold, spearman(x, y), n, rows - n))
    return EvalResult(label, where, lake_version, rows, labelled, binary, agreements)


# ---------------------------------------------------------------- SQL


def _check_expression(con: duckdb.DuckDBPyConnection, expression: str, what: str, where: str | None) -> None:
    """A UsageError unless `expression` is one SQL expression over docs' rows that names a
    column and binds (with `where`), to a number or a boolean."""
    sql = f"SELECT (\n{expression}\n) AS value FROM docs"
    parsed = json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0])
    if parsed.get("error"):
        message = parsed.get("error_message", "does not parse")
        raise UsageError(f"{what}: not an SQL expression over docs ({' '.join(message.split())})")
    statements = parsed["statements"]
    check(len(statements) == 1 and len(statements[0]["node"].get("select_list", [])) == 1,
          f"{what}: give one SQL expression over docs (a column or a formula of columns)")
    check(_names_a_column(statements[0]["node"]["select_list"][0]),
          f"{what}: names no column of docs; give a column or an SQL expression over docs' columns")
    try:
        kind = con.sql(f"SELECT (\n{expression}\n) AS value, id FROM docs{_where(where)} LIMIT 0").types[0]
    except duckdb.Error as e:
        message = " ".join(str(e).split())
        if "GROUP BY" in message:
            message = "an aggregate gives one value for all rows; give a value per row (a column, a window function)"
        raise UsageError(f"{what}: {message}") from None
    numeric = str(kind) in NUMERIC or str(kind).startswith("DECIMAL")
    if what == "--label":
        check(numeric, f"--label gives {kind} values: give 0/1, a boolean or a number per row"
                       + (" (cast it, e.g. (meta->>'label')::INT)" if str(kind) == "VARCHAR" else ""))
    else:
        check(numeric, f"{what} gives {kind} values: give a number or a boolean per row")


def _check_where(con: duckdb.DuckDBPyConnection, where: str | None) -> None:
    """A UsageError unless `where` is None or one SQL filter over docs that binds."""
    if where is None:
        return
    sql = f"SELECT id FROM docs{_where(where)}"
    parsed = json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0])
    check(not parsed.get("error") and len(parsed["statements"]) == 1,
          f"--where: not one SQL filter over docs ({' '.join(parsed.get('error_message', '').split())})")
    try:
        con.sql(f"{sql} LIMIT 0")
    except duckdb.Error as e:
        raise UsageError(f"--where: {' '.join(str(e).split())}") from None


def _names_a_column(node) -> bool:
    """Whether a serialized DuckDB expression holds a column reference."""
    if isinstance(node, dict):
        return node.get("class") == "COLUMN_REF" or any(_names_a_column(v) for v in node.values())
    if isinstance(node, list):
        return any(_names_a_column(v) for v in node)
    return False


def _where(where: str | None) -> str:
    return f" WHERE (\n{where}\n)" if where is not None else ""


def _fetch(con: duckdb.DuckDBPyConnection, lake: Lake, version: int, label: str, expressions: list[str],
           where: str | None) -> tuple[int, pa.Table, stats.Prepared]:
    """The count of rows matching `where`, a table of `label` and v0..vK (DOUBLE) for those
    of them whose label is not NULL, and the column statistics computed for it (to record).
    The expressions are computed over all the rows matching `where` (a window spans them;
    `zscore(x)` has the lake version's constants), before the unlabelled ones are dropped."""
    values = "".join(f", (\n{e}\n)::DOUBLE AS v{i}" for i, e in enumerate(expressions))
    rows = f"SELECT (\n{label}\n)::DOUBLE AS label{values} FROM docs{_where(where)}"
    try:
        count = con.execute(f"SELECT count(*) FROM docs{_where(where)}").fetchall()[0][0]
        prepared = stats.prepare(con, lake, version, rows)
        table = con.sql(f"SELECT * FROM ({prepared.sql}) WHERE label IS NOT NULL").to_arrow_table()
        return count, table, prepared
    except duckdb.Error as e:  # e.g. a cast that fails on some row's value
        raise UsageError(f"eval: {' '.join(str(e).split())}") from None


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    """A DOUBLE column as float64, NULL as NaN."""
    return np.asarray(column.to_numpy(zero_copy_only=False), np.float64) if len(column) else np.empty(0)


# ---------------------------------------------------------------- the figures


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of `x` (float64), ties given the mean of the positions they share."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    starts = np.r_[True, sorted_x[1:] != sorted_x[:-1]]
    first = np.flatnonzero(starts)
    counts = np.diff(np.r_[first, len(x)])
    ranks = np.empty(len(x), np.float64)
    ranks[order] = (first + (counts + 1) / 2)[np.cumsum(starts) - 1]
    return ranks


def mann_whitney_auc(x: np.ndarray, positive: np.ndarray) -> float:
    """The AUC of `x` for the boolean `positive`: U / (P·N), ties counting one half; NaN
    when a class is missing."""
    p = int(positive.sum())
    n = len(x) - p
    if p == 0 or n == 0:
        return math.nan
    u = average_ranks(x)[positive].sum() - p * (p + 1) / 2
    return float(u / (p * n))


def best_accuracy(x: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """The best accuracy of "positive when x >= t" over t in x's distinct values and +inf,
    and the lowest t that reaches it."""
    order = np.argsort(-x, kind="mergesort")
    xs, ps = x[order], positive[order]
    last = np.r_[xs[1:] != xs[:-1], True]  # the last row of each run of equal values
    true_pos = np.cumsum(ps)[last]
    false_pos = np.cumsum(~ps)[last]
    negatives = len(x) - int(positive.sum())
    correct = np.r_[negatives, true_pos + negatives - false_pos]  # t = +inf, then the values descending
    thresholds = np.r_[math.inf, xs[last]]
    best = np.flatnonzero(correct == correct.max())[-1]  # descending thresholds: the last is the lowest
    return float(correct[best] / len(x)), float(thresholds[best])


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation of x and y (average ranks); NaN when either is constant."""
    rx, ry = average_ranks(x), average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    scale = math.sqrt(float((rx * rx).sum() * (ry * ry).sum()))
    return float((rx * ry).sum() / scale) if scale > 0 else math.nan

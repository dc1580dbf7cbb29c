"""`winnow weights fit --label`: weights of score columns learned from labels, written out
as a plain SQL selection.

The learned score is one SQL expression over docs' columns holding only literals:

    score = b + sum_j w_j * coalesce((T_j(x_j) - mean_j) / scale_j, 0)

- Columns: docs' numeric columns (integer, floating, decimal) matching the glob patterns
  (`fnmatch`: `gopher_*`, `rps_doc_*`); a pattern matching none is an error.
- T_j, the transform: a *count* is an integer-typed column whose smallest value in the lake
  is >= 0 (word counts, n_tokens, stop words); it is read as ln(1 + x). Every other column
  (floats: fractions, ratios, lengths, model scores; integers that go below 0) is read as it
  is. A non-finite value (NaN, ±inf) or NULL is unknown.
- mean_j and scale_j: the mean and population standard deviation of T_j over every known
  value in docs at the lake version fitted on (not only the labelled rows), so z is the
  z-score with the lake's constants and an unknown value gets z = 0 (the mean). A column
  whose scale is 0 (or that has no known value) is constant: dropped and reported.
- The model: with a binary label (0/1, a boolean, or a number with two values, the larger
  one positive: the rule of `winnow eval`), an L2-regularized logistic regression
  (scikit-learn's LogisticRegression, lbfgs); the score is its decision function (log-odds).
  With a numeric label of more than two values, a ridge regression (linear, L2; scikit-learn's
  Ridge); the score is its prediction. Rows whose label is NULL are left out of the fit and
  still get a score.
- Regularization: each C in C_GRID (alpha = 1/C for ridge) is tried by k-fold cross
  validation (stratified for binary labels, shuffled with `seed`); the one with the best mean
  held-out AUC (Spearman for ridge) wins, the strongest regularization on ties; the model is
  then fitted on every labelled row with it. Stratified k-fold follows scikit-learn's
  `StratifiedKFold` (scikit-learn/scikit-learn `sklearn/model_selection/_split.py`: each
  class spread over the folds in equal shares).

The selection: the top documents by that score up to a token budget (`top_k` of
budget.sql over `n_tokens`), default half the lake's tokens. The figures of the fit (lake
version, label, rows, C, CV AUC, the grid, dropped columns) are a comment header of its
SQL: selections have no notes field, and the SQL is what users read and edit.
"""

from __future__ import annotations

import fnmatch
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from winnow.lake import Lake, atomic, display
from winnow.lake.errors import UsageError, check, positive
from winnow.lake.extras import need
from winnow.lake.killpoints import step

from winnow.sql import selections
from winnow.sql.connection import connect
from winnow.train.eval import MIN_ROWS, _check_expression, mann_whitney_auc, spearman

Z_LINE = ("-- z = coalesce((T(x) - lake mean) / lake std, 0); T = ln(1 + x) for counts (non-negative integer "
          "columns), x otherwise")
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
FOLDS = 5
TOKENS = "n_tokens"


@dataclass(frozen=True)
class Term:
    """One column of the learned score: z = coalesce((transform - mean) / scale, 0)."""

    column: str
    count: bool  # read as ln(1 + x)
    mean: float
    scale: float
    weight: float = 0.0

    @property
    def transformed(self) -> str:
        """The transformed value in SQL (DOUBLE, NULL when unknown)."""
        if self.count:
            return f"ln(1 + {quote(self.column)})"
        return f"CASE WHEN isfinite({quote(self.column)}) THEN {quote(self.column)}::DOUBLE END"

    @property
    def z(self) -> str:
        """The z-score in SQL with the lake's constants; 0 where the value is unknown."""
        return f"coalesce(({self.transformed} - {literal(self.mean)}) / {literal(self.scale)}, 0)"


@display.shown
@dataclass(frozen=True)
class WeightsResult:
    """`fit`'s result: the learned score and the selection made of it."""

    name: str
    lake_version: int
    label: str
    model: str  # "logistic" or "ridge"
    terms: list[Term]  # the columns kept, with their weights
    intercept: float
    dropped: list[str]  # constant columns
    labelled: int  # rows used in the fit
    positives: int | None  # binary labels: rows of the positive class
    regularization: float  # the chosen C (ridge: alpha = 1 / C)
    cv_metric: str  # "auc" or "spearman"
    cv_score: float  # its mean over the folds at the chosen C
    grid: dict[float, float] = field(default_factory=dict)  # C -> mean CV metric
    budget: int = 0
    score_sql: str = ""  # the learned score alone: one SQL expression over docs
    sql: str = ""  # the selection's SQL, as stored
    documents: int = 0  # in the selection
    files: list[str] = field(default_factory=list)  # written under --out


def quote(column: str) -> str:
    """A column name as a DuckDB identifier."""
    return '"' + column.replace('"', '""') + '"'


def literal(x: float) -> str:
    """A float as an SQL literal that DuckDB reads back as the same double."""
    check(math.isfinite(x), f"a weight or constant is not finite ({x}): the fit diverged")
    return repr(float(x))


def fit(lake: Lake, name: str, columns=None, label: str | None = None, *, runs=None, model: str | None = None,
        budget: int | None = None, out=None, seed: int = 0, replace: bool = False):
    """Learn weights of the columns matching `columns` (glob patterns) from `label` (an SQL
    expression over docs; NULL: unlabelled), store the selection `name` (the top documents by
    the learned score up to `budget` tokens, default half the lake's) and, with `out`, write
    out/NAME.sql and out/NAME.score.sql. Returns a WeightsResult. A UsageError, before
    anything is written, for a label that is not numeric or boolean, a pattern matching no
    numeric column, fewer than MIN_ROWS labelled rows, or a lake without n_tokens.

    With `runs` (a compare's name or its compare.json) instead of `label`: the weights come
    from proxy runs of a `winnow weights sample` (Meta-rater's method, `model` "quadratic" or
    "gbt"); returns a `weights_runs.RunsResult` (see `winnow.train.weights.runs.fit_runs`).

        >>> r = fit(lake, "learned", ["gopher_*"], "(meta->>'label')::INT")
        >>> r.cv_score, r.regularization
    """
    need("weights", "winnow weights fit")
    check(label is None or runs is None, "give --label or --runs, not both: labels and proxy runs are two ways to "
                                         "learn the weights")
    check(label is not None or runs is not None, "give --label SQL_EXPR (weights from labels) or --runs COMPARE "
                                                 "(weights from the proxy runs of a `winnow weights sample`)")
    if runs is not None:
        from winnow.train.weights.runs import fit_runs

        return fit_runs(lake, name, runs, model=model or "quadratic", columns=columns, budget=budget, out=out,
                        seed=seed, replace=replace)
    check(model is None, f"--model {model}: it chooses the regression of --runs; --label fits a logistic or ridge "
                         "model")
    check(isinstance(label, str) and label.strip() != "", "--label is empty: give an SQL expression over docs")
    patterns = [columns] if isinstance(columns, str) else list(columns or ())
    check(len(patterns) > 0, "give at least one --columns pattern (e.g. 'gopher_*')")
    seed = selections.check_seed(seed, "--seed")
    positive(budget, "--budget")
    if out is not None:
        _check_out(lake, out)
    check(replace or selections.get(lake, name, missing_ok=True) is None,
          f"a selection named {name!r} exists (pass --replace to redefine it)")
    version = lake.docs().version
    con = connect(lake, version)
    try:
        schema = lake.docs(version).schema
        check_tokens(lake, schema)
        names = match_columns(schema, patterns)
        _check_expression(con, label, "--label", None)
        terms, dropped = lake_constants(con, schema, names)
        check(len(terms) > 0, f"every column matched is constant over the lake ({', '.join(dropped)}): nothing to fit")
        y, x = labelled_rows(con, label, terms)
        total_tokens = con.execute(f"SELECT coalesce(sum({TOKENS}), 0) FROM docs").fetchall()[0][0]
    finally:
        con.close()
    check(len(y) >= MIN_ROWS, f"--label {label}: {len(y)} labelled row(s); weights fit needs at least {MIN_ROWS} "
                              "(rows whose label is NULL or NaN are left out)")
    classes = np.unique(y)
    check(len(classes) >= 2, f"--label {label}: every labelled row has the value {classes[0]:g}; two values or more")
    binary = len(classes) == 2
    if binary:
        y = (y == classes[1]).astype(np.int64)
        fewest = int(min(y.sum(), len(y) - y.sum()))
        check(fewest >= FOLDS, f"--label {label}: the smaller class has {fewest} row(s); {FOLDS}-fold cross "
                               f"validation needs at least {FOLDS} per class")
    if budget is None:
        budget = int(total_tokens // 2)
        check(budget > 0, f"docs holds no tokens ({TOKENS} sums to 0): give --budget")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # small matrices: BLAS threads only contend (10x slower on 2 busy cores)
        grid = cross_validate(x, y, binary, seed)
        best = max(grid, key=lambda c: (grid[c], -c))  # best score; ties: the smallest C
        weights, intercept = train(x, y, binary, best)
    terms = [Term(t.column, t.count, t.mean, t.scale, float(w)) for t, w in zip(terms, weights)]
    report = WeightsResult(
        name=name, lake_version=version, label=label, model="logistic" if binary else "ridge", terms=terms,
        intercept=float(intercept), dropped=dropped, labelled=len(y), positives=int(y.sum()) if binary else None,
        regularization=best, cv_metric="auc" if binary else "spearman", cv_score=grid[best], grid=grid,
        budget=int(budget))
    score_sql = score_expression(report)
    sql = selection_sql(report, score_sql)
    if out is not None:  # before the selection: a run killed between the two is run again whole
        report = _with(report, files=write(out, name, sql, score_sql))
    sel = selections.create(lake, name, sql, seed=seed, replace=replace)
    return _with(report, score_sql=score_sql, sql=sql, documents=sel.documents)


def _with(report: WeightsResult, **changes) -> WeightsResult:
    from dataclasses import replace

    return replace(report, **changes)


def _check_out(lake: Lake, out) -> None:
    """A UsageError unless `out` is a folder (or can be one) outside the lake."""
    from winnow.sql.sandbox import inside_lake

    path = os.fspath(out)
    check(not os.path.exists(path) or os.path.isdir(path), f"--out {path} is a file: give a folder")
    check(not inside_lake(path, lake), f"--out {path} is inside the lake {lake.uri}: write the SQL outside it")


def check_tokens(lake: Lake, schema: pa.Schema) -> None:
    """A UsageError unless docs has the n_tokens column a token budget is counted in."""
    check(TOKENS in schema.names, f"docs has no {TOKENS} column: the budget is in tokens; run "
                                  f"`winnow score {lake.uri} tokens` first")


def match_columns(schema: pa.Schema, patterns: list[str]) -> list[str]:
    """docs' numeric columns matching any pattern, in docs' order; a UsageError for a pattern
    that matches none."""
    numeric = [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
               or pa.types.is_decimal(f.type)]
    for pattern in patterns:
        check(isinstance(pattern, str) and pattern.strip() != "", "a --columns pattern is empty")
        if not fnmatch.filter(numeric, pattern):
            others = fnmatch.filter(schema.names, pattern)
            why = f" (only non-numeric: {', '.join(others)})" if others else ""
            shown = ", ".join(numeric[:12]) + (", ..." if len(numeric) > 12 else "")
            raise UsageError(f"--columns {pattern!r} matches no numeric column of docs{why}; numeric columns: "
                             f"{shown or 'none'}")
    return [c for c in numeric if any(fnmatch.fnmatchcase(c, p) for p in patterns)]


def lake_constants(con, schema: pa.Schema, names: list[str]) -> tuple[list[Term], list[str]]:
    """A Term (no weight yet) per non-constant column, with the mean and scale of its
    transformed values over docs, and the names of the constant columns."""
    ints = [n for n in names if pa.types.is_integer(schema.field(n).type)]
    lowest = {}
    if ints:
        row = con.execute("SELECT " + ", ".join(f"min({quote(n)})" for n in ints) + " FROM docs").fetchall()[0]
        lowest = dict(zip(ints, row))
    candidates = [Term(n, n in lowest and (lowest[n] is None or lowest[n] >= 0), 0.0, 1.0) for n in names]
    stats = con.execute("SELECT " + ", ".join(
        f"avg({t.transformed}), stddev_pop({t.transformed})" for t in candidates) + " FROM docs").fetchall()[0]
    terms, dropped = [], []
    for i, t in enumerate(candidates):
        mean, scale = stats[2 * i], stats[2 * i + 1]
        if mean is None or scale is None or not scale > 1e-12 * max(1.0, abs(mean)):
            dropped.append(t.column)
        else:
            terms.append(Term(t.column, t.count, float(mean), float(scale)))
    return terms, dropped


def labelled_rows(con, label: str, terms: list[Term]) -> tuple[np.ndarray, np.ndarray]:
    """The labels (float64) and the z-scores (rows x terms, computed in SQL by the terms'
    own expressions) of the rows whose label is not NULL or NaN."""
    zs = ", ".join(f"{t.z} AS z{i}" for i, t in enumerate(terms))
    try:
        table = con.sql(f"SELECT * EXCLUDE (id) FROM (SELECT id, (\n{label}\n)::DOUBLE AS label, {zs} FROM docs) "
                        "WHERE label IS NOT NULL AND NOT isnan(label) ORDER BY id").to_arrow_table()
    except Exception as e:  # e.g. a cast that fails on some row
        raise UsageError(f"--label {label}: {' '.join(str(e).split())}") from None
    y = table.column("label").to_numpy()
    x = np.column_stack([table.column(f"z{i}").to_numpy() for i in range(len(terms))]) if len(y) else \
        np.empty((0, len(terms)))
    return np.asarray(y, np.float64), np.asarray(x, np.float64)


def _model(binary: bool, c: float):
    from sklearn.linear_model import LogisticRegression, Ridge

    return LogisticRegression(C=c, max_iter=5000) if binary else Ridge(alpha=1.0 / c)


def cross_validate(x: np.ndarray, y: np.ndarray, binary: bool, seed: int) -> dict[float, float]:
    """C -> the mean held-out AUC (binary) or Spearman (ridge) over FOLDS seeded folds."""
    from sklearn.model_selection import KFold, StratifiedKFold

    folds = (StratifiedKFold if binary else KFold)(FOLDS, shuffle=True, random_state=seed % 2**32)
    splits = list(folds.split(x, y))
    grid = {}
    for c in C_GRID:
        scores = []
        for train_rows, test_rows in splits:
            model = _model(binary, c).fit(x[train_rows], y[train_rows])
            predicted = model.decision_function(x[test_rows]) if binary else model.predict(x[test_rows])
            if binary:
                scores.append(mann_whitney_auc(predicted, y[test_rows] == 1))
            else:
                scores.append(spearman(predicted, y[test_rows]))
        grid[c] = float(np.nanmean(scores)) if not np.all(np.isnan(scores)) else math.nan
    check(any(not math.isnan(v) for v in grid.values()), "cross validation gave no figure (constant predictions)")
    return {c: (v if not math.isnan(v) else -math.inf) for c, v in grid.items()}


def train(x: np.ndarray, y: np.ndarray, binary: bool, c: float) -> tuple[np.ndarray, float]:
    """The weights and intercept fitted on every labelled row at C = `c`."""
    model = _model(binary, c).fit(x, y)
    coef = np.ravel(model.coef_)
    return coef, float(np.ravel([model.intercept_])[0])


def score_expression(report: WeightsResult) -> str:
    """The learned score: one SQL expression over docs' columns, literals only, in
    parentheses (so that a command line never reads it as an option)."""
    lines = [f"( -- {report.name}: learned score ({report.model}, winnow weights fit), lake version "
             f"{report.lake_version}", f"    {literal(report.intercept)}"]
    for t in report.terms:
        lines.append(f"  {'-' if t.weight < 0 else '+'} {literal(abs(t.weight))} * {t.z}")
    return "\n".join(lines + [")"])


def selection_sql(report: WeightsResult, score_sql: str) -> str:
    """The selection's SQL: a comment header with the fit's figures, then the top documents
    by the learned score up to the budget."""
    kind = ("L2 logistic regression (sklearn LogisticRegression, lbfgs); score = log-odds" if report.model == "logistic"
            else "ridge regression (sklearn Ridge, alpha = 1/C); score = predicted label")
    rows = f"{report.labelled} labelled rows"
    if report.positives is not None:
        rows += f" ({report.positives} positive)"
    grid = ", ".join(f"{c:g}: {v:.4f}" for c, v in report.grid.items())
    header = [
        f"-- winnow weights fit: {report.name}",
        f"-- fitted at lake version {report.lake_version} on --label {' '.join(report.label.split())}: {rows}",
        f"-- model: {kind}",
        f"-- chosen C = {report.regularization:g}; {FOLDS}-fold CV {report.cv_metric} = {report.cv_score:.4f}",
        f"-- CV {report.cv_metric} per C: {grid}",
        Z_LINE,
    ]
    if report.dropped:
        header.append(f"-- dropped (constant over the lake): {', '.join(report.dropped)}")
    return "\n".join(header) + "\n" + top_k_sql(score_sql, report.budget)


def top_k_sql(score_sql: str, budget: int) -> str:
    """The body of a weights selection: the top documents by `score_sql` (an expression over
    docs) up to `budget` tokens (budget.sql's `top_k`, QuRating's cut)."""
    body = "\n".join("    " + line for line in score_sql.splitlines()).lstrip()
    return (f"WITH scored AS (\n    SELECT id, {TOKENS}, {body} AS score\n    FROM docs\n)\n"
            f"SELECT id, {TOKENS}, score FROM top_k(scored, {budget})\n")


def write(out, name: str, sql: str, score_sql: str) -> list[str]:
    """Write out/NAME.sql and out/NAME.score.sql, each whole or not at all (lake/atomic.py);
    returns their paths."""
    os.makedirs(out, exist_ok=True)
    paths = [os.path.join(out, f"{name}.sql"), os.path.join(out, f"{name}.score.sql")]
    for path, text in zip(paths, (sql, score_sql + "\n")):
        with atomic.file(Path(path), "w", encoding="utf-8") as f:
            f.write(text)
        step("weights:file")
    return paths

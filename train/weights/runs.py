"""Weights of score columns learned from proxy runs (Meta-rater's method): `winnow weights
sample` draws weight vectors and makes one selection of each, `winnow compare` trains them,
and `winnow weights fit --runs` regresses validation loss on the weights and keeps the
weights that minimize the predicted loss.

- **Sample.** The columns are read as in label mode (`weights.match_columns`,
  `weights.lake_constants`: ln(1 + x) for counts, z-scores with the lake's mean and
  population std, unknown values z = 0, constant columns dropped). K vectors
  w ~ Dirichlet(alpha, ..., alpha) over the kept columns (numpy's `Generator.dirichlet`,
  seeded), so each w is non-negative and sums to 1: the columns are read as higher is
  better, as Meta-rater's 25 ratings are (opendatalab/Meta-rater, reproduced in
  mihara-bot/Meta-rater `pipeline/step1_generate_weights.py`: a symmetric Dirichlet,
  strength 1.0, 256 vectors). Selection NAME-i is the top documents by sum_j w_j z_j up to
  a token budget, leaving out the excluded selections (the common validation set); all K
  share the lake version, budget and seed. Its SQL starts with a comment header and one
  machine-readable line, `-- winnow weights sample: {JSON}` (SAMPLE_LINE), holding the
  sample's name, i, K, the lake version, budget, alpha, seed, the exclusions and every
  term's column, transform, mean, scale and weight: `fit --runs` reads the weights there.
- **Fit.** Per run of a compare (compare.json names them), the final validation loss comes
  from the catalog's `runs` table; the weights from its selection's SQL. The regression of
  loss on weights (MODELS): `quadratic` (default) is ridge regression on the weights and
  their pairwise products (sklearn PolynomialFeatures(2) and RidgeCV, alpha chosen by
  leave-one-out CV). Proxy runs are expensive, so K is small (tens); a smooth low-order
  model has few parameters and can have its minimum inside the simplex, while trees are
  piecewise constant and need hundreds of runs. `gbt` is sklearn's
  GradientBoostingRegressor, the analogue of the LightGBM regressor of Meta-rater
  (`pipeline/step3_train_regressor.py`: learning rate 1e-2) and RegMix
  (sail-sg/regmix `regression_fitting/regression.ipynb`), for K in the hundreds. The fit is
  judged by leave-one-out predictions (each run predicted by a model fitted on the others):
  their Spearman correlation and RMSE against the measured losses.
- **Search.** The predicted loss is minimized over SEARCH_DRAWS seeded Dirichlet(1) draws
  plus the K sampled vectors and the d vertices of the simplex (RegMix's and Meta-rater's
  search, `pipeline/step4_search_optimal.py`, draws candidates on the simplex, where the
  regression was fitted; both then average the top 128 candidates, here the single best is
  kept, so the printed predicted loss is that of the weights used).
- **Result.** Selection NAME: the top documents by sum_j w*_j z_j with the SAMPLE's
  constants, up to the sample's budget (where the losses were measured) unless `budget` is
  given, leaving out the sample's excluded selections. Its SQL header keeps the model, its
  alpha, the leave-one-out figures and the K (weights, loss) points.
"""

from __future__ import annotations

import json
import math
import os
import re
import dataclasses
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from winnow.lake import Lake, catalog, display
from winnow.lake.errors import UsageError, check, positive
from winnow.lake.extras import need
from winnow.lake.progress import Progress

from winnow.sql import selections
from winnow.sql.connection import connect
from winnow.train.eval import spearman
from winnow.sql.sandbox import lake_folder
from winnow.train.compare import COMPARE_FOLDER
from winnow.train.weights import MODELS
from winnow.train.weights.labels import (TOKENS, Z_LINE, Term, _check_out, check_tokens, lake_constants, literal, match_columns,
                      top_k_sql, write)

SAMPLE_LINE = "-- winnow weights sample: "
_SAMPLE = re.compile(r"^-- winnow weights sample: (\{.*\})[ \t]*$", re.M)
MIN_RUNS = 3  # the fewest sampled runs a regression is fitted on
# The most weight vectors one sample draws. Each is a selection to train a proxy run on
# (Meta-rater drew 256), and storing one costs about a second (two evaluations and a catalog
# commit: 53 s for 40 at 1,000 documents on 2 cores), so 1,024 is ~20 minutes of sampling
# for 4x Meta-rater's runs; --k 100000 would have run for a day without a word.
MAX_K = 1024
SEARCH_DRAWS = 100_000
RIDGE_ALPHAS = tuple(10.0 ** e for e in range(-6, 4))  # 1e-06 .. 1000
GBT_PARAMS = {"n_estimators": 500, "learning_rate": 0.01, "max_depth": 3}
_NAME = re.compile(r"[A-Za-z0-9_-]+")


# -- the sample ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sampled:
    """One selection of a sample: its name, weights (in the terms' order), size and SQL."""

    name: str
    weights: list[float]
    documents: int
    tokens: int
    sql: str


@display.shown
@dataclass(frozen=True)
class SampleResult:
    """`sample`'s result: the shared columns and constants, and the K selections."""

    name: str
    lake_version: int
    k: int
    alpha: float
    seed: int
    budget: int
    terms: list[Term]  # the columns kept, with the lake's constants (weight 0: per selection)
    dropped: list[str]  # constant columns
    exclude: tuple[str, ...]
    selections: list[Sampled] = field(default_factory=list)

    def compare_command(self, uri: str, flavor: str = "FLAVOR", tokens="TOKENS", tokenizer: str = "TOKENIZER") -> str:
        """The `winnow compare` of the K selections, named after the sample (so that
        `winnow weights fit --runs NAME` finds it)."""
        names = " ".join(s.name for s in self.selections)
        validation = f" --validation {self.exclude[0]}" if self.exclude else " --validation VALIDATION"
        return (f"winnow compare {uri} {names}{validation} --name {self.name} --flavor {flavor} --tokens {tokens} "
                f"--tokenizer {tokenizer}")


def sample(lake: Lake, name: str, columns, k: int, *, budget: int | None = None, seed: int = 0, exclude=(),
           alpha: float = 1.0, replace: bool = False, progress: Progress | None = None) -> SampleResult:
    """Draw `k` weight vectors ~ Dirichlet(alpha) over the columns matching `columns` (glob
    patterns; non-negative weights summing to 1, the columns read as higher is better, as
    Meta-rater's ratings) and store selections NAME-1 .. NAME-k: the top documents by the
    weighted sum of z-scores up to `budget` tokens (default half the lake's), leaving out the
    `exclude` selections. Returns a SampleResult. A UsageError, before anything is written,
    for k < 2, a bad alpha, budget or seed, a pattern matching no numeric column, fewer than
    two non-constant columns, or a NAME-i that exists (unless `replace`); every selection is
    evaluated before the first is stored.

        >>> r = sample(lake, "s", ["gopher_*"], 8, exclude=["val"])
        >>> [s.name for s in r.selections]
    """
    need("weights", "winnow weights sample")  # its runs are fitted with scikit-learn: no sample without it
    check(isinstance(name, str) and _NAME.fullmatch(name) is not None,
          f"sample name {name!r}: use letters, digits, '-' and '_'")
    check(isinstance(k, int) and not isinstance(k, bool) and k >= 2,
          f"--k {k}: draw two weight vectors or more (the regression needs several runs)")
    check(k <= MAX_K, f"--k {k:,}: at most {MAX_K:,} weight vectors (each is a selection to train a proxy run on; "
                      "Meta-rater drew 256)")
    check(isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and math.isfinite(alpha) and alpha > 0,
          f"--alpha {alpha}: the Dirichlet concentration is a number > 0")
    positive(budget, "--budget")
    seed = selections.check_seed(seed, "--seed")
    patterns = [columns] if isinstance(columns, str) else list(columns or ())
    check(len(patterns) > 0, "give at least one --columns pattern (e.g. 'gopher_*')")
    names = [f"{name}-{i}" for i in range(1, k + 1)]
    exclude = selections.check_exclude(lake, names[0], exclude)
    for n in names:
        check(n not in exclude, f"--exclude {n}: a sampled selection cannot leave out its own documents")
    if not replace:
        taken = [n for n in names if selections.get(lake, n, missing_ok=True) is not None]
        check(not taken, f"selection(s) {', '.join(taken)} exist (pass --replace to redefine them)")
    version = lake.docs().version
    con = connect(lake, version)
    try:
        schema = lake.docs(version).schema
        check_tokens(lake, schema)
        terms, dropped = lake_constants(con, schema, match_columns(schema, patterns))
        total_tokens = con.execute(f"SELECT coalesce(sum({TOKENS}), 0) FROM docs").fetchall()[0][0]
    finally:
        con.close()
    kept = ", ".join(t.column for t in terms) or "none"
    check(len(terms) >= 2, f"{len(terms)} non-constant column(s) matched ({kept}"
                           f"{'; constant: ' + ', '.join(dropped) if dropped else ''}): weights over one column are "
                           "all 1; give two columns or more")
    if budget is None:
        budget = int(total_tokens // 2)
        check(budget > 0, f"docs holds no tokens ({TOKENS} sums to 0): give --budget")
    draws = np.random.default_rng(seed).dirichlet(np.full(len(terms), float(alpha)), size=k)
    report = SampleResult(name, version, k, float(alpha), seed, int(budget), terms, dropped, exclude)
    excluded = selections.excluded_ids(lake, exclude)
    planned = []
    with _stage(progress, f"evaluate {name}-1..{k}", k):
        for i, (n, w) in enumerate(zip(names, draws), start=1):
            weighted = [replace_weight(t, float(x)) for t, x in zip(terms, w)]
            sql = sample_sql(report, i, n, weighted)
            rows = selections.run_selection(lake, sql, version, seed, excluded)  # refused here: nothing stored yet
            tokens = int(sum(x for x in rows.column(TOKENS).to_pylist() if x is not None)) if rows.num_rows else 0
            planned.append(Sampled(n, [t.weight for t in weighted], rows.num_rows, tokens, sql))
            if progress:
                progress.advance(1)
    with _stage(progress, f"store {name}-1..{k}", k):
        for s in planned:
            sel = selections.create(lake, s.name, s.sql, seed=seed, replace=replace, exclude=exclude)
            if sel.lake_version != version:
                raise UsageError(f"the lake changed (version {version} -> {sel.lake_version}) while the sample was "
                                 f"stored; run it again with --replace so that every selection reads one version")
            if progress:
                progress.advance(1)
    return dataclasses.replace(report, selections=planned)


@contextmanager
def _stage(progress: Progress | None, label: str, total: int):
    """One stage of a job on `progress` (none: nothing shown), stopped also on failure."""
    if progress is None:
        yield
        return
    progress.start(label, total, "selections")
    try:
        yield
    finally:
        progress.stop()


def replace_weight(term: Term, weight: float) -> Term:
    return Term(term.column, term.count, term.mean, term.scale, weight)


def weighted_sum(terms: list[Term], comment: str) -> str:
    """sum_j w_j * z_j as one SQL expression over docs' columns, literals only, in
    parentheses; every weight is >= 0."""
    lines = [f"( -- {comment}"]
    for j, t in enumerate(terms):
        check(t.weight >= 0, f"weight {t.weight} of {t.column} is negative")
        lines.append(f"  {'+' if j else ' '} {literal(t.weight)} * {t.z}")
    return "\n".join(lines + [")"])


def sample_sql(report: SampleResult, index: int, name: str, terms: list[Term]) -> str:
    """Selection NAME-i's SQL: a header for people, the machine line, the top documents by
    the weighted sum."""
    meta = {"sample": report.name, "index": index, "k": report.k, "lake_version": report.lake_version,
            "budget": report.budget, "alpha": report.alpha, "seed": report.seed, "exclude": list(report.exclude),
            "dropped": list(report.dropped),
            "terms": [{"column": t.column, "count": t.count, "mean": t.mean, "scale": t.scale, "weight": t.weight}
                      for t in terms]}
    header = [
        f"-- {name}: weight vector {index} of {report.k} drawn from Dirichlet({report.alpha:g}) over "
        f"{len(terms)} columns (winnow weights sample, Meta-rater's method)",
        f"-- lake version {report.lake_version}; budget {report.budget:,} tokens; seed {report.seed}; leaving out: "
        f"{', '.join(report.exclude) or 'nothing'}",
        "-- weights: " + ", ".join(f"{t.column} {t.weight:.4f}" for t in terms),
        Z_LINE,
    ]
    if report.dropped:
        header.append(f"-- dropped (constant over the lake): {', '.join(report.dropped)}")
    header.append(SAMPLE_LINE + json.dumps(meta, separators=(", ", ": ")))
    score = weighted_sum(terms, f"{name}: sampled weights, lake version {report.lake_version}")
    return "\n".join(header) + "\n" + top_k_sql(score, report.budget)


def parse_sample(sql: str, selection: str) -> dict | None:
    """The machine line of a sampled selection's SQL as a dict (terms as Terms); None when
    the SQL has none (a selection that was not sampled)."""
    m = _SAMPLE.search(sql)
    if m is None:
        return None
    try:
        meta = json.loads(m.group(1))
        meta["terms"] = [Term(str(t["column"]), bool(t["count"]), float(t["mean"]), float(t["scale"]),
                              float(t["weight"])) for t in meta["terms"]]
        meta["exclude"] = tuple(meta.get("exclude") or ())
        missing = [k for k in ("sample", "index", "k", "lake_version", "budget", "alpha", "seed") if k not in meta]
        if missing:
            raise KeyError(", ".join(missing))
    except (ValueError, KeyError, TypeError) as e:
        raise UsageError(f"selection {selection!r}: its `{SAMPLE_LINE.strip()}` line is not the JSON "
                         f"`winnow weights sample` writes ({e})") from None
    return meta


# -- the fit from runs ------------------------------------------------------------------------

@dataclass(frozen=True)
class RunPoint:
    """One sampled run: its selection, run, weights (in the terms' order), final validation
    loss, and the loss predicted for it by the model fitted on the other runs."""

    selection: str
    run_id: str
    weights: list[float]
    loss: float
    loo_predicted: float = math.nan


@display.shown
@dataclass(frozen=True)
class RunsResult:
    """`fit_runs`'s result: the regression, the minimizing weights and the selection."""

    name: str
    sample: str
    compare: str  # the compare.json read
    model: str  # "quadratic" or "gbt"
    lake_version: int  # the sample's
    terms: list[Term]  # the sample's columns and constants, with the minimizing weights
    dropped: list[str]
    points: list[RunPoint]
    left_out: list[str]  # selections of the compare that were not sampled (baselines)
    alpha: float | None  # quadratic: the ridge alpha chosen by leave-one-out CV
    loo_spearman: float
    loo_rmse: float
    predicted_loss: float  # of the minimizing weights
    best_from: str  # "a Dirichlet draw", "sampled NAME-i", "vertex COLUMN"
    candidates: int
    budget: int
    budget_from_sample: bool
    exclude: tuple[str, ...]
    score_sql: str = ""
    sql: str = ""
    documents: int = 0
    files: list[str] = field(default_factory=list)

    @property
    def model_text(self) -> str:
        """The regression in words (`winnow weights fit --runs` prints it)."""
        return model_description(self)


def fit_runs(lake: Lake, name: str, runs, *, model: str = "quadratic", columns=None, budget: int | None = None,
             out=None, seed: int = 0, replace: bool = False) -> RunsResult:
    """Learn weights from the proxy runs of a sample: `runs` is a compare's name
    (LAKE/compare/NAME/compare.json) or a path to a compare.json or its folder. Regress the
    runs' final validation loss (from the `runs` table) on their selections' sampled
    weights with `model`, search the weights minimizing the predicted loss (seeded with
    `seed`) and store selection `name` made of them; `out`: write out/NAME.sql and
    out/NAME.score.sql. `columns`, when given, must match the sample's columns. Returns a
    RunsResult. A UsageError, before anything is written, for a compare that cannot be
    found, a run missing from the catalog, runs of several samples, fewer than MIN_RUNS
    sampled runs, or a selection redefined after its run.

        >>> r = fit_runs(lake, "learned", "s", model="quadratic")
        >>> r.loo_spearman, r.predicted_loss
    """
    check(model in MODELS, f"--model {model!r}: use one of {', '.join(MODELS)}")
    positive(budget, "--budget")
    seed = selections.check_seed(seed, "--seed")
    check(isinstance(name, str) and _NAME.fullmatch(name) is not None,
          f"selection name {name!r}: use letters, digits, '-' and '_'")
    if out is not None:
        _check_out(lake, out)
    check(replace or selections.get(lake, name, missing_ok=True) is None,
          f"a selection named {name!r} exists (pass --replace to redefine it)")
    path = compare_file(lake, runs)
    points, meta, left_out, sampled_names = read_runs(lake, path)
    check(name not in sampled_names, f"selection {name!r} is one of the sampled selections the fit reads: "
                                     "give the result another name")
    terms = meta["terms"]
    if columns:
        patterns = [columns] if isinstance(columns, str) else list(columns)
        matched = set(match_columns(lake.docs().schema, patterns))
        drawn = {t.column for t in terms} | set(meta.get("dropped") or ())
        check(matched == drawn, f"--columns {' '.join(patterns)} match {', '.join(sorted(matched))}; sample "
                                f"{meta['sample']!r} was drawn over {', '.join(sorted(drawn))}: leave --columns out")
    x = np.array([p.weights for p in points], np.float64)
    y = np.array([p.loss for p in points], np.float64)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # small matrices: BLAS threads only contend
        fitted, alpha = fit_model(model, x, y, seed)
        loo = loo_predictions(model, x, y, seed)
        best, predicted, best_from, candidates = search(fitted, x, [t.column for t in terms],
                                                        [p.selection for p in points], seed)
    points = [dataclasses.replace(p, loo_predicted=float(v)) for p, v in zip(points, loo)]
    report = RunsResult(
        name=name, sample=meta["sample"], compare=str(path), model=model, lake_version=int(meta["lake_version"]),
        terms=[replace_weight(t, float(w)) for t, w in zip(terms, best)], dropped=list(meta.get("dropped") or ()),
        points=points, left_out=left_out, alpha=alpha, loo_spearman=spearman(loo, y),
        loo_rmse=float(np.sqrt(np.mean((loo - y) ** 2))), predicted_loss=predicted, best_from=best_from,
        candidates=candidates, budget=int(budget if budget is not None else meta["budget"]),
        budget_from_sample=budget is None, exclude=tuple(meta["exclude"]))
    score_sql = weighted_sum(report.terms, f"{name}: weights minimizing the predicted validation loss ({model}, "
                                           f"winnow weights fit --runs), constants of lake version "
                                           f"{report.lake_version}")
    sql = runs_sql(report, score_sql)
    if out is not None:  # before the selection: a run killed between the two is run again whole
        report = dataclasses.replace(report, files=write(out, name, sql, score_sql))
    sel = selections.create(lake, name, sql, seed=seed, replace=replace, exclude=report.exclude)
    return dataclasses.replace(report, score_sql=score_sql, sql=sql, documents=sel.documents)


def compare_file(lake: Lake, runs) -> Path:
    """The compare.json that `runs` names: a compare of the lake (LAKE/compare/NAME), else a
    path to a compare.json or to its folder."""
    check(runs is not None and str(runs).strip() != "", "--runs is empty: give a compare's name or its compare.json")
    text = os.fspath(runs)
    folder = lake_folder(lake)
    compares = Path(folder) / COMPARE_FOLDER if folder else None
    if compares is not None and re.fullmatch(r"[A-Za-z0-9_.-]+", text) and text not in (".", "..") and \
            (compares / text / "compare.json").is_file():
        return compares / text / "compare.json"
    path = Path(text)
    if path.is_dir() and (path / "compare.json").is_file():
        return path / "compare.json"
    if path.is_file():
        return path
    known = sorted(p.parent.name for p in compares.glob("*/compare.json")) if compares is not None and \
        compares.is_dir() else []
    raise UsageError(f"--runs {text}: no compare of that name in the lake and no compare.json at that path "
                     f"(compares: {', '.join(known) or 'none yet; run `winnow compare`'})")


def read_runs(lake: Lake, path: Path) -> tuple[list[RunPoint], dict, list[str], set[str]]:
    """The sampled runs a compare.json lists, as RunPoints (loss from the catalog's `runs`
    table), the sample's machine line, the selections left out (not sampled), and the
    sampled selections' names."""
    try:
        listed = json.loads(path.read_text())["runs"]
        listed = [(str(r["selection"]), str(r["run_id"])) for r in listed]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"--runs {path}: not a compare.json written by `winnow compare` ({e})") from None
    rows = {r["run_id"]: r for r in catalog.runs(lake).to_pylist()}
    missing = [f"{run_id} ({sel})" for sel, run_id in listed if run_id not in rows]
    check(not missing, f"--runs {path}: run(s) {', '.join(missing)} are not in the lake's runs table (the catalog "
                       "is the record of a run): is this the lake they were trained on?")
    points, metas, left_out = [], [], []
    for _, run_id in listed:
        row = rows[run_id]
        sel = selections.get(lake, row["selection"], missing_ok=True)
        check(sel is not None, f"run {run_id}: its selection {row['selection']!r} is not in the lake")
        meta = parse_sample(sel.sql, sel.name)
        if meta is None:
            left_out.append(sel.name)
            continue
        check(sel.lake_version == row["lake_version"] and (sel.created_at is None or row["created_at"] is None
                                                             or sel.created_at <= row["created_at"]),
              f"selection {sel.name!r} was redefined after run {run_id} was trained: its weights are not the ones "
              "the run measured; run the compare again")
        curve = row["validation_loss"] or []
        check(len(curve) > 0, f"run {run_id} ({sel.name}) has no validation loss")
        loss = float(curve[-1]["loss"])
        check(math.isfinite(loss), f"run {run_id} ({sel.name}): its final validation loss is {loss}")
        points.append(RunPoint(sel.name, run_id, [t.weight for t in meta["terms"]], loss))
        metas.append((meta, row))
    check(len(points) >= MIN_RUNS, f"--runs {path}: {len(points)} run(s) of sampled selections"
                                   f"{' (left out, not sampled: ' + ', '.join(left_out) + ')' if left_out else ''}; "
                                   f"the regression needs at least {MIN_RUNS}: compare more of the sample")
    first, row0 = metas[0]
    same = ("sample", "lake_version", "budget", "exclude")
    for meta, row in metas[1:]:
        check(all(meta[key] == first[key] for key in same) and meta["terms"] and
              [(t.column, t.count, t.mean, t.scale) for t in meta["terms"]] ==
              [(t.column, t.count, t.mean, t.scale) for t in first["terms"]],
              f"--runs {path}: the runs come from more than one sample ({first['sample']!r} at lake version "
              f"{first['lake_version']}, {meta['sample']!r} at {meta['lake_version']}): fit one sample at a time")
        keys = ("flavor", "config_hash", "tokens", "seed", "validation", "validation_version")
        differ = [key for key in keys if row[key] != row0[key]]
        check(not differ, f"--runs {path}: the runs differ in {', '.join(differ)}: their losses do not compare")
    return points, first, left_out, {p.selection for p in points}


def _estimator(model: str, seed: int):
    if model == "quadratic":
        from sklearn.linear_model import RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import PolynomialFeatures

        return make_pipeline(PolynomialFeatures(2, include_bias=False), RidgeCV(alphas=RIDGE_ALPHAS))
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(**GBT_PARAMS, random_state=seed % 2**32)


def fit_model(model: str, x: np.ndarray, y: np.ndarray, seed: int):
    """The model fitted on every run, and its chosen ridge alpha (None for gbt)."""
    fitted = _estimator(model, seed).fit(x, y)
    alpha = float(fitted[-1].alpha_) if model == "quadratic" else None
    return fitted, alpha


def loo_predictions(model: str, x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Each run's loss predicted by the model fitted on the other runs (alpha chosen again
    without it)."""
    predicted = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        predicted[i] = _estimator(model, seed).fit(x[keep], y[keep]).predict(x[i:i + 1])[0]
    return predicted


def candidates(x: np.ndarray, d: int, seed: int) -> np.ndarray:
    """The search's candidates: SEARCH_DRAWS Dirichlet(1) draws (numpy's Generator seeded
    with `seed`), then the sampled vectors `x`, then the d vertices of the simplex."""
    draws = np.random.default_rng(seed).dirichlet(np.ones(d), size=SEARCH_DRAWS)
    return np.vstack([draws, x, np.eye(d)])


def search(fitted, x: np.ndarray, columns: list[str], sampled: list[str],
           seed: int) -> tuple[np.ndarray, float, str, int]:
    """The candidate with the lowest predicted loss (the first on ties), that loss, where it
    came from, and how many candidates were searched."""
    cands = candidates(x, len(columns), seed)
    predicted = np.concatenate([fitted.predict(cands[i:i + 20_000]) for i in range(0, len(cands), 20_000)])
    best = int(np.argmin(predicted))
    same = np.flatnonzero((x == cands[best]).all(axis=1))  # a draw can repeat a sampled vector (same seed)
    if len(same):
        where = f"sampled {sampled[same[0]]}"
    elif best < SEARCH_DRAWS:
        where = "a Dirichlet draw"
    else:
        where = f"vertex {columns[best - SEARCH_DRAWS - len(x)]}"
    return cands[best], float(predicted[best]), where, len(cands)


def model_description(report: RunsResult) -> str:
    if report.model == "quadratic":
        return (f"quadratic: ridge on the weights and their pairwise products (sklearn PolynomialFeatures(2) + "
                f"RidgeCV), alpha chosen by leave-one-out CV from {RIDGE_ALPHAS[0]:g} to {RIDGE_ALPHAS[-1]:g}: "
                f"alpha = {report.alpha:g}")
    params = ", ".join(f"{k}={v}" for k, v in GBT_PARAMS.items())
    return f"gbt: gradient-boosted trees (sklearn GradientBoostingRegressor, {params})"


def runs_sql(report: RunsResult, score_sql: str) -> str:
    """The result's SQL: a comment header with the regression, its points and the search,
    then the top documents by the weighted sum up to the budget."""
    cols = [t.column for t in report.terms]
    budget_why = ("the sample's budget, where the regression was measured" if report.budget_from_sample
                  else "set with --budget (the sample's runs were measured at another)")
    header = [
        f"-- winnow weights fit: {report.name}, from proxy runs (Meta-rater's method)",
        f"-- sample {report.sample} (lake version {report.lake_version}); runs of {report.compare}: "
        f"{len(report.points)} sampled",
    ]
    if report.left_out:
        header.append(f"-- left out (not sampled): {', '.join(report.left_out)}")
    header += [
        f"-- model: {model_description(report)}",
        f"-- leave-one-out: spearman {report.loo_spearman:.4f}, rmse {report.loo_rmse:.4f} (predicted vs measured "
        "final validation loss)",
        f"-- points (weights over {', '.join(cols)} -> final validation loss; leave-one-out prediction):",
    ]
    header += [f"--   {p.selection}: [{', '.join(f'{w:.6f}' for w in p.weights)}] -> {p.loss:.6f} "
               f"(predicted {p.loo_predicted:.6f})" for p in report.points]
    header += [
        f"-- search: the lowest predicted loss over {SEARCH_DRAWS:,} Dirichlet(1) draws, the {len(report.points)} "
        f"sampled vectors and the {len(cols)} vertices: {report.predicted_loss:.6f} ({report.best_from})",
        "-- weights: " + ", ".join(f"{t.column} {t.weight:.4f}" for t in report.terms),
        f"-- budget {report.budget:,} tokens: {budget_why}; leaving out: {', '.join(report.exclude) or 'nothing'}",
        Z_LINE,
    ]
    if report.dropped:
        header.append(f"-- dropped (constant over the lake): {', '.join(report.dropped)}")
    return "\n".join(header) + "\n" + top_k_sql(score_sql, report.budget)


__all__ = ["MODELS", "SAMPLE_LINE", "RunsResult", "SampleResult", "fit_runs", "parse_sample", "sample"]

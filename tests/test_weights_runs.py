"""Weights from proxy runs, Meta-rater's method, end to end on the CPU: `winnow weights
sample` (K = 3 Dirichlet weight vectors over gopher's columns, a validation set left out),
`winnow compare` of the three selections and a random baseline (flavor `tiny`, 1,024
tokens each), `winnow weights fit --runs`. Checked apart from winnow.train.weights.runs: the
draws, the lake's constants and each selection recomputed in numpy from the raw columns,
the SQL body against its header line, the regression refitted with scikit-learn and its
minimum searched again over the same candidates, the final score recomputed; bad input
refused in one line with nothing written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import winnow
from .helpers import C4, GITHUB, OWT, SHARED, cli, fails, lake_state


SP = str(SHARED / "tokenizers" / "llama-style-sp32k.model")
K = 3
BUDGET = 60_000  # tokens per sampled selection
TOKENS = 1024  # tiny: 1,024 tokens per step on one rank -> 1 step, validated after it
SEED = 5
TERM = re.compile(r'^\s*\+?\s*(\S+) \* coalesce\(\((?:ln\(1 \+ "(?P<count>\w+)"\)'
                  r'|CASE WHEN isfinite\("(?P<plain>\w+)"\) THEN "\w+"::DOUBLE END) - (\S+)\) / (\S+), 0\)$')
LINE = re.compile(r"^-- winnow weights sample: (\{.*\})$", re.M)


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    """A lake of C4 and OpenWebText scored with gopher and tokens, a validation selection `val`
    (~5%), a random baseline, and `winnow weights sample s` of K selections leaving out val."""
    root = tmp_path_factory.mktemp("weights-runs")
    lake = winnow.init(root / "lake")
    winnow.ingest_files(lake, [str(C4), str(OWT)], workers=1)
    winnow.score(lake, "gopher", workers=1)
    winnow.score(lake, "tokens", params={"tokenizer": SP}, workers=1)
    winnow.select(lake, "val", "SELECT id FROM docs WHERE uniform(id, seed()) < 0.05", seed=1)
    winnow.select(lake, "random", "SELECT id, n_tokens FROM docs WHERE uniform(id, seed()) < 0.1", seed=2,
                  exclude=["val"])
    proc = cli("weights", "sample", lake.uri, "s", "--columns", "gopher_*", "--k", K, "--budget", BUDGET,
               "--exclude", "val", "--seed", SEED)
    return lake, root, proc


@pytest.fixture(scope="module")
def fitted(sampled):
    """The compare of the baseline and the K selections, then `weights fit --runs` with --out."""
    lake, root, _ = sampled
    cli("compare", lake.uri, "random", *[f"s-{i}" for i in range(1, K + 1)], "--validation", "val", "--name", "s",
        "--flavor", "tiny", "--tokens", TOKENS, "--tokenizer", SP, "--ngpu", "0")
    proc = cli("weights", "fit", lake.uri, "learned", "--runs", "s", "--out", root / "out")
    return lake, root / "out", proc


def machine_line(sql: str) -> dict:
    (line,) = LINE.findall(sql)
    return json.loads(line)


def body_terms(sql: str) -> list[dict]:
    """Per term of the SQL's weighted sum: column, count, weight, mean, scale (as written)."""
    terms = []
    for line in sql.splitlines():
        m = TERM.match(line)
        if m:
            terms.append({"column": m.group("count") or m.group("plain"), "count": m.group("count") is not None,
                          "weight": float(m.group(1)), "mean": float(m.group(4)), "scale": float(m.group(5))})
    return terms


def raw(lake, columns: list[str]) -> dict:
    """ids, n_tokens and each column as float64 (NULL: NaN), ordered by id."""
    t = winnow.query(lake, f"SELECT id, n_tokens, {', '.join(columns)} FROM docs ORDER BY id")
    out = {"id": np.array(t.column("id").to_pylist()), "n_tokens": np.array(t.column("n_tokens").to_pylist())}
    for c in columns:
        out[c] = np.array([np.nan if v is None else v for v in t.column(c).to_pylist()], np.float64)
    return out


def scores(data: dict, terms: list[dict]) -> np.ndarray:
    """sum_j w_j z_j recomputed in numpy: ln(1 + x) for counts, unknown values z = 0."""
    total = np.zeros(len(data["id"]))
    for t in terms:
        x = data[t["column"]]
        x = np.log1p(x) if t["count"] else np.where(np.isfinite(x), x, np.nan)
        total += t["weight"] * np.nan_to_num((x - t["mean"]) / t["scale"], nan=0.0)
    return total


def top_k(data: dict, score: np.ndarray, keep: np.ndarray, budget: int) -> set[str]:
    """QuRating's cut over the rows `keep`: by score descending then id, rows whose tokens
    before them are under the budget."""
    rows = np.flatnonzero(keep)
    order = rows[np.lexsort((data["id"][rows], -score[rows]))]
    before = np.cumsum(data["n_tokens"][order]) - data["n_tokens"][order]
    return set(data["id"][order[before < budget]])


def ids(lake, name: str) -> set[str]:
    return set(winnow.select_rows(lake, name)["id"].to_pylist())


def test_the_draws_and_constants_are_in_the_header_and_the_body(sampled):
    lake, _, proc = sampled
    metas = [machine_line(winnow.sql.get(lake, f"s-{i}").sql) for i in range(1, K + 1)]
    d = len(metas[0]["terms"])
    draws = np.random.default_rng(SEED).dirichlet(np.ones(d), size=K)  # numpy's seeded Dirichlet(1)
    columns = [t["column"] for t in metas[0]["terms"]]
    data = raw(lake, columns)
    for i, meta in enumerate(metas):
        assert (meta["sample"], meta["index"], meta["k"], meta["budget"], meta["seed"]) == ("s", i + 1, K, BUDGET, SEED)
        assert meta["exclude"] == ["val"] and meta["alpha"] == 1.0
        weights = np.array([t["weight"] for t in meta["terms"]])
        np.testing.assert_allclose(weights, draws[i], rtol=0, atol=1e-15)
        assert weights.min() >= 0 and abs(weights.sum() - 1) < 1e-12
        # the SQL body computes exactly the header's terms
        sql = winnow.sql.get(lake, f"s-{i + 1}").sql
        assert body_terms(sql) == meta["terms"]
        assert f"top_k(scored, {BUDGET})" in sql
    for t in metas[0]["terms"]:  # the lake's constants: mean and population std of the transformed values
        x = np.log1p(data[t["column"]]) if t["count"] else data[t["column"]]
        x = x[np.isfinite(x)]
        assert t["mean"] == pytest.approx(x.mean(), rel=1e-9, abs=1e-12)
        assert t["scale"] == pytest.approx(x.std(), rel=1e-9)
    assert [t["column"] for t in metas[0]["terms"] if t["count"]] == ["gopher_word_count", "gopher_stop_words"]
    assert all(m["terms"] == [dict(t, weight=m["terms"][j]["weight"]) for j, t in enumerate(metas[0]["terms"])]
               for m in metas)  # one set of constants
    lines = proc.stdout.splitlines()
    assert sum(line.strip().startswith("s-") for line in lines) == K
    assert f"winnow compare {lake.uri} s-1 s-2 s-3 --validation val --name s" in proc.stdout


def test_each_sampled_selection_is_the_top_of_its_weighted_sum_without_val(sampled):
    lake, _, _ = sampled
    val = ids(lake, "val")
    versions = {winnow.sql.get(lake, f"s-{i}").lake_version for i in range(1, K + 1)}
    assert len(versions) == 1  # all pinned to one lake version
    for i in range(1, K + 1):
        sel = winnow.sql.get(lake, f"s-{i}")
        assert sel.exclude == ("val",) and sel.seed == SEED
        meta = machine_line(sel.sql)
        data = raw(lake, [t["column"] for t in meta["terms"]])
        chosen = ids(lake, f"s-{i}")
        assert not chosen & val
        keep = ~np.isin(data["id"], list(val))
        assert chosen == top_k(data, scores(data, meta["terms"]), keep, BUDGET)
    assert len({frozenset(ids(lake, f"s-{i}")) for i in range(1, K + 1)}) == K  # the weights make a difference


def test_the_fit_reads_the_runs_and_leaves_the_baseline_out(fitted):
    lake, out, proc = fitted
    sql = (out / "learned.sql").read_text()
    assert winnow.sql.get(lake, "learned").sql == sql
    assert "left out (not sampled): random" in proc.stdout and "-- left out (not sampled): random" in sql
    runs = {r["selection"]: r for r in winnow.query(lake, "SELECT selection, validation_loss FROM runs").to_pylist()}
    assert set(runs) == {"random", "s-1", "s-2", "s-3"}
    for i in range(1, K + 1):  # the points in the header are the catalog's final validation losses
        loss = runs[f"s-{i}"]["validation_loss"][-1]["loss"]
        assert re.search(rf"^--   s-{i}: \[[^\]]+\] -> {loss:.6f} ", sql, re.M)


def refit(lake):
    """The points (weights, final validation loss) from the catalog and the selections'
    header lines, and the quadratic model refitted with scikit-learn."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures

    runs = {r["selection"]: r for r in winnow.query(lake, "SELECT selection, validation_loss FROM runs").to_pylist()}
    metas = [machine_line(winnow.sql.get(lake, f"s-{i}").sql) for i in range(1, K + 1)]
    x = np.array([[t["weight"] for t in m["terms"]] for m in metas])
    y = np.array([runs[f"s-{i}"]["validation_loss"][-1]["loss"] for i in range(1, K + 1)])

    def model():
        return make_pipeline(PolynomialFeatures(2, include_bias=False), RidgeCV(alphas=np.logspace(-6, 3, 10)))

    return x, y, model, metas


def test_the_regression_and_its_minimum_agree_with_sklearn(fitted):
    from scipy.stats import spearmanr

    lake, out, _ = fitted
    sql = (out / "learned.sql").read_text()
    x, y, model, metas = refit(lake)
    fitted_model = model().fit(x, y)
    assert float(re.search(r"alpha = (\S+)$", sql, re.M).group(1)) == pytest.approx(fitted_model[-1].alpha_)
    loo = np.array([model().fit(np.delete(x, i, 0), np.delete(y, i)).predict(x[i:i + 1])[0] for i in range(K)])
    m = re.search(r"^-- leave-one-out: spearman (\S+), rmse (\S+) ", sql, re.M)
    assert float(m.group(1)) == pytest.approx(spearmanr(loo, y).statistic, abs=1e-4)
    assert float(m.group(2)) == pytest.approx(np.sqrt(np.mean((loo - y) ** 2)), abs=1e-4)
    # the minimum over the same candidates: 100,000 Dirichlet(1) draws seeded with --seed (0), the sampled, the vertices
    d = x.shape[1]
    cands = np.vstack([np.random.default_rng(0).dirichlet(np.ones(d), 100_000), x, np.eye(d)])
    predicted = fitted_model.predict(cands)
    terms = body_terms((out / "learned.score.sql").read_text())
    w = np.array([t["weight"] for t in terms])
    np.testing.assert_allclose(w, cands[np.argmin(predicted)], rtol=0, atol=1e-15)
    assert w.min() >= 0 and abs(w.sum() - 1) < 1e-9  # on the simplex
    assert fitted_model.predict(w[None])[0] <= fitted_model.predict(x).min() + 1e-12
    assert float(re.search(r"^-- search: .*: (\S+) \(", sql, re.M).group(1)) == pytest.approx(predicted.min(), abs=1e-6)
    # the sample's columns and constants
    assert [{k: t[k] for k in ("column", "count", "mean", "scale")} for t in terms] == \
        [{k: t[k] for k in ("column", "count", "mean", "scale")} for t in metas[0]["terms"]]


def test_the_final_selection_is_recomputed_in_numpy(fitted):
    lake, out, _ = fitted
    score_sql = (out / "learned.score.sql").read_text()
    terms = body_terms(score_sql)
    data = raw(lake, [t["column"] for t in terms])
    mine = scores(data, terms)
    proc = cli("sql", lake.uri, f"SELECT id, (\n{score_sql}\n) AS s FROM docs ORDER BY id", "--format", "json")
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["id"] for r in rows] == list(data["id"])
    np.testing.assert_allclose([r["s"] for r in rows], mine, rtol=1e-9, atol=1e-9)
    val = ids(lake, "val")
    chosen = ids(lake, "learned")
    assert not chosen & val and winnow.sql.get(lake, "learned").exclude == ("val",)
    assert chosen == top_k(data, mine, ~np.isin(data["id"], list(val)), BUDGET)  # the sample's budget by default


def test_gbt_from_the_compare_folder(fitted):
    from sklearn.ensemble import GradientBoostingRegressor

    lake, _, _ = fitted
    folder = Path(lake.uri) / "compare" / "s"
    r = winnow.weights_fit(lake, "learned-gbt", runs=folder, model="gbt", budget=30_000, seed=3)
    assert r.model == "gbt" and r.alpha is None and r.budget == 30_000 and not r.budget_from_sample
    assert r.compare == str(folder / "compare.json") and r.left_out == ["random"]
    x, y, _, _ = refit(lake)
    gbt = GradientBoostingRegressor(n_estimators=500, learning_rate=0.01, max_depth=3, random_state=3).fit(x, y)
    w = np.array([t.weight for t in r.terms])
    assert w.min() >= 0 and abs(w.sum() - 1) < 1e-9
    assert gbt.predict(w[None])[0] == pytest.approx(r.predicted_loss, abs=1e-12)
    assert r.predicted_loss <= gbt.predict(x).min() + 1e-12
    assert sum(winnow.select_rows(lake, "learned-gbt")["n_tokens"].to_pylist()) >= 30_000


def test_fewer_than_three_sampled_runs_are_refused(fitted, tmp_path):
    lake, _, _ = fitted
    cli("compare", lake.uri, "s-1", "s-2", "--validation", "val", "--name", "two", "--flavor", "tiny", "--tokens",
        TOKENS, "--tokenizer", SP, "--ngpu", "0")  # both runs reused
    before = lake_state(lake)
    line = fails("weights", "fit", lake.uri, "bad", "--runs", "two", "--out", tmp_path / "out",
                 contains="2 run(s) of sampled selections")
    assert "at least 3" in line
    assert lake_state(lake) == before and not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, says", [
    (["weights", "fit", "{uri}", "bad", "--runs", "nosuch"], "--runs nosuch: no compare of that name"),
    (["weights", "fit", "{uri}", "bad", "--runs", "s", "--label", "1"], "not both"),
    (["weights", "fit", "{uri}", "bad", "--columns", "gopher_*"], "give --label SQL_EXPR"),
    (["weights", "fit", "{uri}", "bad", "--runs", "s", "--model", "forest"], "--model 'forest'"),
    (["weights", "fit", "{uri}", "bad", "--runs", "s", "--columns", "gopher_word_count"], "leave --columns out"),
    (["weights", "fit", "{uri}", "s-1", "--runs", "s", "--replace"], "one of the sampled selections"),
    (["weights", "sample", "{uri}", "bad", "--columns", "gopher_*", "--k", "1"], "--k 1: draw two"),
    (["weights", "sample", "{uri}", "s", "--columns", "gopher_*", "--k", "3"], "s-1, s-2, s-3 exist"),
    (["weights", "sample", "{uri}", "bad", "--columns", "gopher_word_count", "--k", "3"], "give two columns or more"),
    (["weights", "sample", "{uri}", "bad", "--columns", "gopher_*", "--k", "3", "--exclude", "nope"], "'nope'"),
    (["weights", "sample", "{uri}", "bad", "--columns", "gopher_*", "--k", "3", "--alpha", "0"], "--alpha 0"),
])
def test_bad_input_is_one_line_and_writes_nothing(fitted, tmp_path, args, says):
    lake, _, _ = fitted
    before = lake_state(lake)
    out = ["--out", tmp_path / "out"] if args[1] == "fit" else []
    fails(*[a.format(uri=lake.uri) for a in args], *out, contains=says)
    assert lake_state(lake) == before and not (tmp_path / "out").exists()


def test_k_is_bounded_and_a_sample_shows_its_progress(tmp_path):
    """`--k 100000` printed nothing and still ran at 120 s (about a second per selection)."""
    from winnow.train.weights.runs import MAX_K

    lake = winnow.init(tmp_path / "lake")
    winnow.ingest_files(lake, [str(GITHUB)], workers=1)
    winnow.score(lake, "gopher", workers=1)
    winnow.score(lake, "tokens", params={"tokenizer": SP}, workers=1)
    before = lake_state(lake)
    for k in (MAX_K + 1, 100_000):
        fails("weights", "sample", lake.uri, "big", "--columns", "gopher_*", "--k", k,
              contains=f"--k {k:,}: at most {MAX_K:,} weight vectors")
    assert lake_state(lake) == before

    class Seen:
        def __init__(self):
            self.events = []

        def start(self, label, total, unit):
            self.events.append(("start", label, total, unit))

        def advance(self, done, **counts):
            self.events.append(("advance", done))

        def stop(self):
            self.events.append(("stop",))

    seen = Seen()
    r = winnow.weights_sample(lake, "few", ["gopher_*"], 3, budget=2000, progress=seen)
    assert [s.name for s in r.selections] == ["few-1", "few-2", "few-3"]
    each = [("advance", 1)] * 3 + [("stop",)]
    assert seen.events == [("start", "evaluate few-1..3", 3, "selections"), *each,
                           ("start", "store few-1..3", 3, "selections"), *each]
    proc = cli("weights", "sample", lake.uri, "bar", "--columns", "gopher_*", "--k", "2", "--budget", "2000")
    assert "store bar-1..2" in proc.stderr and "2/2 selections" in proc.stderr


def test_the_compare_folder_name_is_compares():
    from winnow.train.weights.runs import COMPARE_FOLDER
    from winnow.train.compare import COMPARE_FOLDER as TRAIN_COMPARE_FOLDER

    assert COMPARE_FOLDER == TRAIN_COMPARE_FOLDER

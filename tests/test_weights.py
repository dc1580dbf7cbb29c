"""`winnow weights fit --label`: weights of gopher's columns learned from DCLM's 218 human
labels (with C4's 449 unlabelled pages beside them), stored as a selection whose SQL holds
only literals. Checked apart from winnow.train.weights.labels: the lake's constants and the score
recomputed in numpy from the raw columns and the printed weights, the weights against
scikit-learn fitted here at the printed C, the CV AUC recomputed, `winnow eval` of the
score file, the budget cut; bad input refused in one line with nothing written."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import winnow
from .helpers import C4, GITHUB, SHARED, cli, fails, lake_state


LABELS = SHARED / "labels" / "dclm-human-labels-218.jsonl"
TOKENIZER = SHARED / "tokenizers" / "llama-style-sp32k.model"
LABEL = "(meta->>'label')::INT"  # 1: high quality (120 pages), 0: low (98)
TERM = re.compile(r'^  ([+-]) (\S+) \* coalesce\(\((?:ln\(1 \+ "(?P<count>\w+)"\)'
                  r'|CASE WHEN isfinite\("(?P<plain>\w+)"\) THEN "\w+"::DOUBLE END) - (\S+)\) / (\S+), 0\)$')


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """The lake, scored with gopher and tokens, and `winnow weights fit` run once with --out."""
    root = tmp_path_factory.mktemp("weights")
    lake = winnow.init(root / "lake")
    winnow.ingest_files(lake, [str(LABELS), str(C4)], workers=1)
    winnow.score(lake, "gopher", workers=1)
    winnow.score(lake, "tokens", params={"tokenizer": str(TOKENIZER)}, workers=1)
    proc = cli("weights", "fit", lake.uri, "learned", "--columns", "gopher_*", "--label", LABEL, "--out", root / "out")
    return lake, root / "out", proc


def parse(score_sql: str) -> tuple[float, list[dict]]:
    """The intercept and, per term, the column, whether it is a count, weight, mean, scale."""
    lines = score_sql.splitlines()
    assert lines[0].startswith("( -- ") and lines[-1] == ")"  # one expression, in parentheses
    terms = []
    for line in lines[2:-1]:
        m = TERM.match(line)
        assert m, line
        sign, weight, mean, scale = m.group(1), float(m.group(2)), float(m.group(5)), float(m.group(6))
        terms.append({"column": m.group("count") or m.group("plain"), "count": m.group("count") is not None,
                      "weight": -weight if sign == "-" else weight, "mean": mean, "scale": scale})
    return float(lines[1]), terms


def features(lake, terms: list[dict]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Ids, labels (NaN: none) and the z-scores recomputed in numpy from the raw columns."""
    cols = ", ".join(t["column"] for t in terms)
    t = winnow.query(lake, f"SELECT id, {LABEL}::DOUBLE AS y, {cols} FROM docs ORDER BY id")
    y = np.array([np.nan if v is None else v for v in t.column("y").to_pylist()])
    z = []
    for term in terms:
        x = np.array([np.nan if v is None else v for v in t.column(term["column"]).to_pylist()], np.float64)
        x = np.log1p(x) if term["count"] else np.where(np.isfinite(x), x, np.nan)
        z.append(np.nan_to_num((x - term["mean"]) / term["scale"], nan=0.0))
    return t.column("id").to_pylist(), y, np.column_stack(z)


def header(sql: str, key: str) -> str:
    return re.search(rf"^-- .*{re.escape(key)} = ([^;\n]+)", sql, re.M).group(1)


def test_the_selection_is_plain_sql_with_literals(fitted):
    lake, out, proc = fitted
    sql = (out / "learned.sql").read_text()
    assert winnow.sql.get(lake, "learned").sql == sql  # the stored selection is the file
    code = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
    assert not re.search(r"\bover\s*\(|zscore|percentile|minmax|\bavg\(|stddev|\bsum\(|\bmin\(|\bmax\(", code, re.I)
    score_sql = (out / "learned.score.sql").read_text()
    assert "".join(line.strip() for line in score_sql.splitlines() if not line.startswith("--")) in \
        "".join(line.strip() for line in code.splitlines())  # the score file is the selection's score
    intercept, terms = parse(score_sql)
    columns = [t["column"] for t in terms]
    assert {"gopher_word_count", "gopher_dup_line_frac"} <= set(columns)
    assert [t["column"] for t in terms if t["count"]] == ["gopher_word_count", "gopher_stop_words"]  # int32 columns
    dropped = re.search(r"^-- dropped \(constant over the lake\): (.+)$", sql, re.M).group(1).split(", ")
    for name in dropped:  # constant: one distinct value over the lake
        assert winnow.query(lake, f"SELECT count(DISTINCT {name}) AS n FROM docs")["n"][0].as_py() <= 1
    assert "dropped (constant over the lake)" in proc.stderr
    assert re.search(r"CV auc 0\.\d{4}", proc.stdout) and "chosen C" in proc.stdout
    assert "218 labelled rows (120 positive)" in sql


def test_constants_score_and_weights_agree_with_numpy_and_sklearn(fitted):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    lake, out, _ = fitted
    sql = (out / "learned.sql").read_text()
    score_sql = (out / "learned.score.sql").read_text()
    intercept, terms = parse(score_sql)
    # the lake's constants: mean and population std of the transformed values over every known value
    cols = ", ".join(t["column"] for t in terms)
    raw = winnow.query(lake, f"SELECT {cols} FROM docs")
    for t in terms:
        x = np.array([np.nan if v is None else v for v in raw.column(t["column"]).to_pylist()], np.float64)
        x = np.log1p(x) if t["count"] else x
        x = x[np.isfinite(x)]
        assert t["mean"] == pytest.approx(x.mean(), rel=1e-9, abs=1e-12)
        assert t["scale"] == pytest.approx(x.std(), rel=1e-9)
    # the score file through `winnow sql` = the decision function recomputed from the printed weights
    proc = cli("sql", lake.uri, f"SELECT id, (\n{score_sql}\n) AS s FROM docs ORDER BY id", "--format", "json")
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    ids, y, z = features(lake, terms)
    assert [r["id"] for r in rows] == ids
    weights = np.array([t["weight"] for t in terms])
    mine = intercept + z @ weights
    np.testing.assert_allclose([r["s"] for r in rows], mine, rtol=1e-9, atol=1e-9)
    assert all(r["s"] is not None for r in rows)  # unlabelled rows get a score too
    # the weights: scikit-learn's logistic regression at the printed C on the labelled rows
    c = float(header(sql, "chosen C"))
    labelled = ~np.isnan(y)
    x, target = z[labelled], (y[labelled] == 1).astype(int)
    model = LogisticRegression(C=c, max_iter=5000).fit(x, target)
    np.testing.assert_allclose(weights, model.coef_[0], atol=1e-3)
    assert intercept == pytest.approx(model.intercept_[0], abs=1e-3)
    # the printed CV AUC: 5 stratified folds, shuffled with seed 0
    aucs = []
    for train_rows, test_rows in StratifiedKFold(5, shuffle=True, random_state=0).split(x, target):
        m = LogisticRegression(C=c, max_iter=5000).fit(x[train_rows], target[train_rows])
        aucs.append(roc_auc_score(target[test_rows], m.decision_function(x[test_rows])))
    assert float(header(sql, "5-fold CV auc")) == pytest.approx(np.mean(aucs), abs=1e-4)


def test_eval_of_the_score_file_agrees_with_the_cv_auc(fitted):
    lake, out, _ = fitted
    cv_auc = float(header((out / "learned.sql").read_text(), "5-fold CV auc"))
    proc = cli("eval", lake.uri, "--label", LABEL, (out / "learned.score.sql").read_text())
    auc = float(re.search(r"auc=(\d\.\d{3})", proc.stdout).group(1))
    assert cv_auc > 0.65  # the gopher signals carry the labels (word count alone: ~0.6)
    assert cv_auc - 0.02 <= auc <= cv_auc + 0.15  # in-sample: at least the held-out figure, not far above


def test_the_selection_respects_the_budget(fitted):
    lake, out, _ = fitted
    sql = (out / "learned.sql").read_text()
    budget = int(re.search(r"top_k\(scored, (\d+)\)", sql).group(1))
    total = winnow.query(lake, "SELECT sum(n_tokens) AS t FROM docs")["t"][0].as_py()
    assert budget == total // 2  # the default: half the lake's tokens
    rows = winnow.select_rows(lake, "learned").sort_by([("score", "descending"), ("id", "ascending")])
    tokens = np.array(rows["n_tokens"].to_pylist())
    assert tokens.sum() >= budget and tokens[:-1].sum() < budget  # QuRating's cut: the last row reaches it
    kept = set(rows["id"].to_pylist())
    scores = winnow.query(lake, f"SELECT id, (\n{(out / 'learned.score.sql').read_text()}\n) AS s FROM docs")
    left = [s for i, s in zip(scores["id"].to_pylist(), scores["s"].to_pylist()) if i not in kept]
    assert min(rows["score"].to_pylist()) >= max(left)


def test_a_numeric_label_gets_ridge_and_a_set_budget(fitted):
    lake, _, _ = fitted
    label = f"{LABEL} * 2 + (id > 'dclm-hl-100')::INT"  # four values
    r = winnow.weights_fit(lake, "ridge", ["gopher_word_count", "gopher_*_frac"], label, budget=50_000, seed=3)
    assert (r.model, r.cv_metric, r.labelled, r.budget) == ("ridge", "spearman", 218, 50_000)
    assert "ridge regression" in r.sql and "top_k(scored, 50000)" in r.sql and r.files == []
    assert {t.column for t in r.terms} <= {"gopher_word_count"} | {c for c in lake.docs().schema.names
                                                                   if c.startswith("gopher_") and c.endswith("_frac")}
    assert sum(winnow.select_rows(lake, "ridge")["n_tokens"].to_pylist()) >= 50_000


@pytest.mark.parametrize("args, says", [
    (["--label", "meta->>'label'"], "--label gives VARCHAR values"),
    (["--label", LABEL, "--columns", "nosuch_*"], "--columns 'nosuch_*' matches no numeric column"),
    (["--label", LABEL, "--columns", "text"], "only non-numeric: text"),
    (["--label", f"CASE WHEN id < 'dclm-hl-010' THEN {LABEL} END"], "10 labelled row(s); weights fit needs at least"),
    (["--label", f"{LABEL} * 0"], "every labelled row has the value 0"),
    (["--label", LABEL, "--budget", "0"], "--budget must be > 0"),
])
def test_bad_input_is_one_line_and_writes_nothing(fitted, tmp_path, args, says):
    lake, _, _ = fitted
    before = lake_state(lake)
    columns = [] if "--columns" in args else ["--columns", "gopher_*"]
    fails("weights", "fit", lake.uri, "bad", *columns, *args, "--out", tmp_path / "out", contains=says)
    assert lake_state(lake) == before and not (tmp_path / "out").exists()


def test_a_lake_without_tokens_is_refused(tmp_path):
    lake = winnow.init(tmp_path / "lake")
    winnow.ingest_files(lake, [str(GITHUB)], workers=1)
    before = lake_state(lake)
    fails("weights", "fit", lake.uri, "w", "--columns", "*", "--label", "1", contains="run `winnow score")
    assert lake_state(lake) == before

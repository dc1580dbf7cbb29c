"""`winnow eval`: the AUC, best-threshold accuracy and Spearman of expressions over docs
against DCLM's 218 human labels, each checked against an independent computation
(scikit-learn's roc_auc_score, scipy's spearmanr, a brute-force threshold sweep) on values
read back with `winnow.query`; the command's line format; and bad input refused in one line."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata, spearmanr
from sklearn.metrics import roc_auc_score

import winnow
from .helpers import C4, SHARED, cli, fails, lake_state
from winnow.train.eval import MIN_ROWS, average_ranks, best_accuracy, mann_whitney_auc, spearman


LABELS = SHARED / "labels" / "dclm-human-labels-218.jsonl"
LABEL = "(meta->>'label')::INT"  # 1: high quality (120 pages), 0: low (98)
WEIGHTED = "0.5 * zscore(gopher_word_count) - 2 * zscore(gopher_dup_line_frac)"
EXPRESSIONS = [
    "gopher_word_count",
    "-gopher_dup_line_frac",
    WEIGHTED,
    "round(gopher_mean_word_length)",  # few distinct values: ties between the classes
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """The 218 labelled pages and C4's 449 unlabelled ones, scored with gopher."""
    lake = winnow.init(tmp_path_factory.mktemp("eval") / "lake")
    winnow.ingest_files(lake, [str(LABELS), str(C4)], workers=1)
    winnow.score(lake, "gopher", workers=1)
    return lake


def expected(lake, expression: str, label: str = LABEL, where: str | None = None) -> dict:
    """The figures computed apart from winnow.train.eval: the values from `winnow.query`,
    sklearn's AUC, scipy's Spearman, accuracy by trying every threshold."""
    filter_ = f" WHERE {where}" if where else ""
    t = winnow.query(lake, f"SELECT ({label})::DOUBLE AS y, ({expression})::DOUBLE AS x FROM docs{filter_}")
    y = np.array([math.nan if v is None else v for v in t.column("y").to_pylist()])
    x = np.array([math.nan if v is None else v for v in t.column("x").to_pylist()])
    keep = ~np.isnan(x) & ~np.isnan(y)
    x, y = x[keep], y[keep]
    figures = {"n": int(keep.sum()), "skipped": int((~keep).sum()), "spearman": spearmanr(x, y).statistic}
    if len(np.unique(y)) == 2:
        positive = y == y.max()
        figures["auc"] = roc_auc_score(positive, x)
        cuts = [*np.unique(x), math.inf]
        accuracies = [np.mean((x >= c) == positive) for c in cuts]
        figures["accuracy"] = max(accuracies)
        figures["threshold"] = cuts[accuracies.index(max(accuracies))]  # the lowest best
    return figures


def check_agreement(a, want: dict) -> None:
    assert (a.n, a.skipped) == (want["n"], want["skipped"])
    assert a.spearman == pytest.approx(want["spearman"], abs=1e-12)
    if "auc" in want:
        assert a.auc == pytest.approx(want["auc"], abs=1e-12)
        assert a.accuracy == pytest.approx(want["accuracy"], abs=1e-12)
        assert a.threshold == want["threshold"]
    else:
        assert math.isnan(a.auc) and math.isnan(a.accuracy)


def test_figures_agree_with_sklearn_and_scipy(lake):
    report = winnow.eval_expressions(lake, LABEL, EXPRESSIONS)
    assert report.binary and report.labelled == 218 and report.rows == winnow.info(lake).documents
    assert [a.expression for a in report.agreements] == EXPRESSIONS
    for a in report.agreements:
        check_agreement(a, expected(lake, a.expression))
        assert a.n == 218 and a.skipped == report.rows - 218  # C4's pages have no label
    ties = report.agreements[3]
    assert ties.threshold in range(2, 10)  # a rounded length: the tie rule matters here
    # word count agrees with the labels better than chance, the weighted sum of z-scores better still
    auc = {a.expression: a.auc for a in report.agreements}
    assert auc["gopher_word_count"] > 0.55 and auc[WEIGHTED] > auc["gopher_word_count"]


def test_where_limits_the_rows_and_the_windows(lake):
    """--where picks the rows; a window (zscore_window) spans them, as in `winnow sql`, while
    zscore has the whole lake version's constants; booleans are labels too."""
    where = "gopher_word_count >= 40"
    label = f"{LABEL} = 1"
    windowed = WEIGHTED.replace("zscore(", "zscore_window(")
    report = winnow.eval_expressions(lake, label, [WEIGHTED, "gopher_word_count", windowed], where=where)
    for a in report.agreements:
        check_agreement(a, expected(lake, a.expression, label, where))
    assert report.agreements[0].n < 218
    everywhere = winnow.eval_expressions(lake, LABEL, [WEIGHTED, windowed]).agreements
    # the window's means and scales follow the rows; the lake's constants do not
    assert report.agreements[2].threshold != everywhere[1].threshold
    lake_values = winnow.query(lake, f"SELECT {WEIGHTED} AS v FROM docs ORDER BY v")["v"].to_pylist()
    assert report.agreements[0].threshold in lake_values and everywhere[0].threshold in lake_values


def test_null_and_nan_values_are_skipped_per_expression(lake):
    gaps = "CASE WHEN gopher_word_count > 400 THEN NULL WHEN gopher_word_count < 60 THEN 'NaN'::DOUBLE " \
           "ELSE gopher_word_count END"
    report = winnow.eval_expressions(lake, LABEL, [gaps, "gopher_word_count"])
    gapped, full = report.agreements
    check_agreement(gapped, expected(lake, gaps))
    labelled = winnow.query(lake, f"SELECT gopher_word_count AS w FROM docs WHERE {LABEL} IS NOT NULL")
    w = np.array(labelled.column("w").to_pylist())
    assert gapped.n == int(((w <= 400) & (w >= 60)).sum()) and 0 < gapped.n < full.n == 218
    assert gapped.skipped == report.rows - gapped.n


def test_a_label_with_many_values_gets_spearman_only(lake):
    report = winnow.eval_expressions(lake, "gopher_word_count", ["gopher_mean_word_length", "gopher_word_count"],
                                     where="source = 'dclm-human-labels-218'")
    assert not report.binary
    for a in report.agreements:
        check_agreement(a, expected(lake, a.expression, "gopher_word_count", "source = 'dclm-human-labels-218'"))
    assert report.agreements[1].spearman == pytest.approx(1.0)


def test_version_and_tag(lake):
    latest = lake.docs().version
    lake.docs().tags.create("eval-test", latest)
    now = winnow.eval_expressions(lake, LABEL, ["gopher_word_count"]).agreements
    assert winnow.eval_expressions(lake, LABEL, ["gopher_word_count"], version=latest).agreements == now
    assert winnow.eval_expressions(lake, LABEL, ["gopher_word_count"], version="eval-test").agreements == now
    with pytest.raises(winnow.UsageError, match="gopher_word_count.*not found"):  # before gopher's columns
        winnow.eval_expressions(lake, LABEL, ["gopher_word_count"], version=1)


def test_the_command_prints_one_line_per_expression(lake):
    proc = cli("eval", lake.uri, "--label", LABEL, "gopher_word_count", "--", "-gopher_dup_line_frac", WEIGHTED)
    lines = proc.stdout.splitlines()
    assert len(lines) == 3
    report = winnow.eval_expressions(lake, LABEL, ["gopher_word_count", "-gopher_dup_line_frac", WEIGHTED])
    for line, a in zip(lines, report.agreements):
        m = re.fullmatch(r"(.+?) +auc=(\d\.\d{3})  acc=(\d\.\d{3}) \(threshold (\S+)\)  spearman=(-?\d\.\d{3})  "
                         r"n=(\d+)  skipped=(\d+)", line)
        assert m, line
        assert m.group(1) == a.expression
        assert float(m.group(2)) == round(a.auc, 3) and float(m.group(3)) == round(a.accuracy, 3)
        assert float(m.group(4)) == pytest.approx(a.threshold, rel=1e-3)
        assert float(m.group(5)) == round(a.spearman, 3)
        assert (int(m.group(6)), int(m.group(7))) == (a.n, a.skipped)
    assert "218 labelled" in proc.stderr
    numeric = cli("eval", lake.uri, "--label", "gopher_word_count", "gopher_mean_word_length").stdout
    assert re.fullmatch(r"gopher_mean_word_length  auc=nan  acc=nan  spearman=-?\d\.\d{3}  n=\d+  skipped=0\n",
                        numeric), numeric


@pytest.mark.parametrize("args, says", [
    (["--label", "meta->>'label'", "gopher_word_count"], "--label gives VARCHAR values"),
    (["--label", LABEL, "gopher_word_count +"], "not an SQL expression"),
    (["--label", LABEL, "42"], "'42': names no column"),
    (["--label", LABEL, "--where", "source = 'none'", "gopher_word_count"], "no rows matching --where"),
    (["--label", LABEL, "--where", "id < 'dclm-hl-010'", "gopher_word_count"], f"eval needs at least {MIN_ROWS}"),
])
def test_the_command_refuses_bad_input_in_one_line(lake, args, says):
    before = lake_state(lake)
    fails("eval", lake.uri, *args, contains=says)
    assert lake_state(lake) == before


@pytest.mark.parametrize("label, expression, where, says", [
    ("text", "gopher_word_count", None, "--label gives VARCHAR"),
    (LABEL, "text", None, "'text' gives VARCHAR values"),
    (LABEL, "random()", None, "names no column"),
    (LABEL, "nosuch_column", None, 'column "nosuch_column" not found'),
    (LABEL, "avg(gopher_word_count)", None, "an aggregate"),
    (LABEL, "gopher_word_count) AS v, (1", None, "give one SQL expression"),
    (LABEL, "gopher_word_count; SELECT 1", None, "not an SQL expression"),
    (LABEL, "gopher_word_count", "id <", "--where: not one SQL filter"),
    (f"{LABEL} * 0 + 1", "gopher_word_count", None, "every labelled row has the value 1"),
    (LABEL, "CASE WHEN id < 'dclm-hl-010' THEN gopher_word_count END", None, f"eval needs at least {MIN_ROWS}"),
])
def test_bad_input_is_a_usage_error(lake, label, expression, where, says):
    with pytest.raises(winnow.UsageError, match=re.escape(says)):
        winnow.eval_expressions(lake, label, [expression], where=where)


# ---------------------------------------------------------------- the rules, on random data


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.booleans()), min_size=2, max_size=60))
def test_ranks_auc_accuracy_spearman_match_the_references(pairs):
    x = np.array([float(v) for v, _ in pairs])  # small integers: many ties
    positive = np.array([p for _, p in pairs])
    assert np.array_equal(average_ranks(x), rankdata(x))
    auc = mann_whitney_auc(x, positive)
    if positive.all() or not positive.any():
        assert math.isnan(auc)
        return
    assert auc == pytest.approx(roc_auc_score(positive, x), abs=1e-12)
    accuracy, threshold = best_accuracy(x, positive)
    cuts = [*np.unique(x), math.inf]
    tried = [np.mean((x >= c) == positive) for c in cuts]
    assert accuracy == pytest.approx(max(tried)) and threshold == cuts[tried.index(max(tried))]
    want = spearmanr(x, positive).statistic if len(np.unique(x)) > 1 else math.nan
    got = spearman(x, positive.astype(float))
    assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, abs=1e-12)

"""The SQL macro library and named selections on real data: budgets, sampling, domains,
pinning; what a selection may be (seed, rows) and that a refused one changes nothing;
preview and diff against figures computed in SQL."""

from __future__ import annotations

import hashlib
import itertools
import math
import re

import shutil
from datetime import datetime, timezone

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import winnow
from winnow.sql import SEED_MAX, SelectionError, SelectionUsageError, create, diff, evaluate, load_macros, preview

from winnow.cli import app

from .helpers import C4, GITHUB, OWT, cli, fails, lake_state

# Candidates over the real documents: tokens approximated by bytes / 4 until `tokens` is
# scored; the score is a real signal (share of letters), the domain the source.
CANDIDATES = """
WITH c AS (
    SELECT id, source AS domain, (n_bytes // 4) AS n_tokens,
           length(regexp_replace(text, '[^A-Za-z]', '', 'g')) / n_chars AS score
    FROM docs)
"""


@pytest.fixture(scope="module")
def real_lake(tmp_path_factory):
    lake = winnow.init(tmp_path_factory.mktemp("sel") / "lake")
    winnow.ingest_files(lake, [str(OWT), str(C4), str(GITHUB)])
    return lake


def q(lake, sql):
    return winnow.query(lake, sql).to_pylist()


def test_top_k_meets_the_budget_to_the_document(real_lake):
    budget = 300_000
    rows = q(real_lake, CANDIDATES + f"SELECT id, n_tokens, score, cum_tokens FROM top_k(c, {budget}) ORDER BY cum_tokens")
    tokens = [r["n_tokens"] for r in rows]
    assert sum(tokens) >= budget and sum(tokens) - tokens[-1] < budget  # the last one reaches it
    everything = q(real_lake, CANDIDATES + "SELECT id, score FROM c ORDER BY score DESC, id")
    assert [r["id"] for r in rows] == [r["id"] for r in everything[: len(rows)]]
    bottom = q(real_lake, CANDIDATES + f"SELECT id FROM bottom_k(c, {budget}) ORDER BY cum_tokens")
    ascending = q(real_lake, CANDIDATES + "SELECT id FROM c ORDER BY score ASC, id")
    assert [r["id"] for r in bottom] == [r["id"] for r in ascending[: len(bottom)]]
    docs = q(real_lake, CANDIDATES + "SELECT id FROM top_k_docs(c, 25) ORDER BY rank")
    assert [r["id"] for r in docs] == [r["id"] for r in everything[:25]]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.floats(-5, 5).map(lambda x: x + 0.0)), min_size=1, max_size=40),
       st.integers(0, 400))
def test_top_k_budget_property(rows, budget):
    con = duckdb.connect()
    load_macros(con)
    con.execute("CREATE TABLE c (id VARCHAR, n_tokens BIGINT, score DOUBLE)")
    con.executemany("INSERT INTO c VALUES (?, ?, ?)", [(f"d{i:02d}", n, s) for i, (n, s) in enumerate(rows)])
    got = con.sql(f"SELECT id, cum_tokens FROM top_k(c, {budget}) ORDER BY cum_tokens, id").fetchall()
    ordered = sorted(((-s, f"d{i:02d}", n) for i, (n, s) in enumerate(rows)))
    want, total = [], 0
    for _, id_, n in ordered:  # QuRating: take in order until the budget is reached, that one included
        if total >= budget:
            break
        want.append(id_)
        total += n
    assert sorted(id_ for id_, _ in got) == sorted(want)
    assert max((cum for _, cum in got), default=0) == total


def test_uniform_matches_numpy_bit_for_bit():
    con = duckdb.connect()
    load_macros(con)
    ids = [f"doc-{i}" for i in range(200)] + ["owt-1000-0042", "é ü"]
    seed = 1234567
    got = con.execute("SELECT uniform(id, ?) FROM unnest(?) t(id)", [seed, ids]).fetchall()
    mask = (1 << 64) - 1

    def splitmix(x):
        z = (x + 0x9E3779B97F4A7C15) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    for (u,), id_ in zip(got, ids):
        key = int.from_bytes(hashlib.md5(id_.encode()).digest()[8:], "little")
        assert u == ((splitmix(key ^ seed) >> 11) + 0.5) / 2**53


def test_sampling_reproduces_and_seeds_differ(real_lake):
    sql = CANDIDATES + "SELECT id FROM sample_tokens(c, 0.05, 200000, {seed}) ORDER BY id"
    a, b, c = (q(real_lake, sql.format(seed=s)) for s in (7, 7, 8))
    assert a == b and a != c
    assert len(a) > 10


def test_temperature_sampling_matches_exact_without_replacement_probabilities():
    # 5 documents, 2 drawn with p ∝ exp(s / tau) without replacement: inclusion probability
    # by enumeration of ordered draws, against frequencies over 4,000 seeds.
    scores = [0.0, 0.5, 1.0, 1.5, 3.0]
    tau = 1.0
    w = [math.exp(s / tau) for s in scores]
    exact = [0.0] * 5
    for i, j in itertools.permutations(range(5), 2):
        p = w[i] / sum(w) * w[j] / (sum(w) - w[i])
        exact[i] += p
        exact[j] += p
    con = duckdb.connect()
    load_macros(con)
    con.execute("CREATE TABLE c AS SELECT 'doc' || i AS id, s AS score, 1 AS n_tokens FROM "
                "(SELECT unnest(range(5)) AS i, unnest(?::DOUBLE[]) AS s)", [scores])
    seeds = 4000
    rows = con.execute(
        f"SELECT id, count(*) FROM range({seeds}) r(seed), LATERAL (SELECT id FROM sample_docs(c, {tau}, 2, seed)) "
        "GROUP BY id"
    ).fetchall()
    freq = {id_: n / seeds for id_, n in rows}
    for i, p in enumerate(exact):
        sigma = math.sqrt(p * (1 - p) / seeds)
        assert abs(freq.get(f"doc{i}", 0.0) - p) < 4 * sigma + 1e-3, (i, freq, exact)
    # and it is not k * softmax, which differs by far more than the tolerance here
    assert abs(2 * w[4] / sum(w) - exact[4]) > 0.1


def test_per_domain_budgets_follow_quratings_rule(real_lake):
    budget = 400_000
    rows = q(real_lake, CANDIDATES + f"SELECT domain, n_tokens, cum_tokens, domain_budget FROM top_k_per_domain(c, {budget})")
    totals = {r["domain"]: r["t"] for r in q(real_lake, CANDIDATES + "SELECT domain, sum(n_tokens) AS t FROM c GROUP BY domain")}
    grand = sum(totals.values())
    for domain, total in totals.items():
        mine = [r for r in rows if r["domain"] == domain]
        quota = int(total / grand * budget)
        assert all(r["domain_budget"] == quota for r in mine)
        got = sum(r["n_tokens"] for r in mine)
        last = max(mine, key=lambda r: r["cum_tokens"])["n_tokens"] if mine else 0
        assert got - last < quota <= got or (quota == 0 and not mine)
    quota = {"c4-sample-449": 10000, "github-sample-50": 5000}  # openwebtext-1000: no quota, no tokens
    got = q(real_lake, CANDIDATES + ", quotas AS (SELECT * FROM (VALUES ('c4-sample-449', 10000), "
                                    "('github-sample-50', 5000)) v(domain, tokens)) "
                                    "SELECT domain, id, n_tokens, domain_budget FROM top_k_quota(c, quotas)")
    candidates = q(real_lake, CANDIDATES + "SELECT id, domain, n_tokens, score FROM c")
    for domain, tokens in quota.items():
        mine = [r for r in got if r["domain"] == domain]
        assert {r["domain_budget"] for r in mine} == {tokens}
        ordered = sorted((-r["score"], r["id"], r["n_tokens"]) for r in candidates if r["domain"] == domain)
        want, total = set(), 0
        for _, id_, n in ordered:  # the quota's cut, in Python
            if total >= tokens:
                break
            want.add(id_)
            total += n
        assert {r["id"] for r in mine} == want
        assert sum(r["n_tokens"] for r in mine) == total >= tokens
    assert {r["domain"] for r in got} == set(quota)


def test_mixing_criteria_by_token_shares_removes_duplicates(real_lake):
    rows = q(real_lake, CANDIDATES + """,
        a AS (SELECT * FROM top_k(c, 100000)),
        c2 AS (SELECT id, n_tokens, -score AS score FROM c),
        b AS (SELECT * FROM top_k_excluding(c2, a, 100000))
        SELECT 'a' AS part, id, n_tokens FROM a UNION ALL SELECT 'b', id, n_tokens FROM b""")
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    for part in "ab":
        t = sum(r["n_tokens"] for r in rows if r["part"] == part)
        assert 100000 <= t < 100000 + max(r["n_tokens"] for r in rows)


def test_selection_pinned_to_a_version_survives_ingest_score_and_cleanup(tmp_path):
    lake = winnow.init(tmp_path / "lake")
    winnow.ingest_files(lake, [str(OWT)])
    sql = CANDIDATES + "SELECT id, n_tokens, score FROM sample_tokens(c, 0.1, 150000, seed())"
    sel = create(lake, "qurating-style", sql, seed=3)
    before = evaluate(lake, "qurating-style")["id"].to_pylist()
    winnow.ingest_files(lake, [str(C4), str(GITHUB)])
    from .test_scoring_runner import UPPER

    winnow.score(lake, UPPER)
    lake.cleanup(older_than_seconds=0)
    assert lake.docs(sel.lake_version).count_rows() == 1000  # the pinned version is still there
    assert evaluate(lake, "qurating-style")["id"].to_pylist() == before
    again = create(lake, "now", sql, seed=3)
    assert again.lake_version > sel.lake_version
    with pytest.raises(SelectionError, match="exists"):
        create(lake, "now", sql)
    with pytest.raises(SelectionError, match="`id` column"):
        create(lake, "bad", "SELECT 1 AS x")


SPECIAL = st.sampled_from([float("nan"), float("inf"), float("-inf"), None, 0.0, -0.0, 1.0, 1.0, 2.5, 1.0000001, 5e-324,
                           -5e-324, 1e-300, -1e-300, 1.7e308, -1.7e308, 2.0 ** -20, -(2.0 ** -20)])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.one_of(SPECIAL, st.floats(-3, 3))), min_size=1, max_size=60),
       st.integers(0, 600))
def test_binned_cut_equals_a_full_sort_with_ties_and_special_scores(rows, budget):
    con = duckdb.connect()
    load_macros(con)
    con.execute("CREATE TABLE c (id VARCHAR, n_tokens BIGINT, score DOUBLE)")
    con.executemany("INSERT INTO c VALUES (?, ?, ?)", [(f"d{i:03d}", n, s) for i, (n, s) in enumerate(rows)])
    full = con.sql(f"""SELECT id FROM (SELECT id, n_tokens, sum(n_tokens) OVER (ORDER BY score DESC, id
                       ROWS UNBOUNDED PRECEDING) AS cum FROM c) WHERE cum - n_tokens < {budget} ORDER BY id""").fetchall()
    assert con.sql(f"SELECT id FROM top_k(c, {budget}) ORDER BY id").fetchall() == full


def _small_lake(folder):
    lake = winnow.init(folder / "lake")
    winnow.ingest_files(lake, [str(GITHUB)])
    return lake


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory):
    """50 documents; each test that writes to it checks its own before and after."""
    return _small_lake(tmp_path_factory.mktemp("small"))


def test_seeds_are_0_to_2_63_minus_1_and_checked_before_anything_is_written(small_lake):
    before = lake_state(small_lake)
    fails("select", "create", small_lake.uri, "s", "--query", "SELECT id FROM docs WHERE uniform(id, seed()) < 0.5",
          "--seed", "9223372036854775808", contains="seed 9223372036854775808: a seed is an integer from 0 to 2**63 - 1")
    for seed in (-5, 2**63, 2**64, 1.5, "7"):
        with pytest.raises(SelectionUsageError, match="0 to 2"):
            create(small_lake, "s", "SELECT id FROM docs", seed=seed)
    assert lake_state(small_lake) == before  # no tag `selection-s` left behind
    sql = "SELECT id FROM docs WHERE uniform(id, seed()) < 0.5"
    sel = create(small_lake, "s", sql, seed=SEED_MAX)
    want = winnow.query(small_lake, f"SELECT id FROM docs WHERE uniform(id, {SEED_MAX}) < 0.5")["id"]
    assert sel.seed == SEED_MAX and sorted(evaluate(small_lake, "s")["id"].to_pylist()) == sorted(want.to_pylist())
    shown = CliRunner().invoke(app, ["select", "create", "--help"], terminal_width=200).output
    assert "The seed, an integer from 0 to 2**63 - 1" in " ".join(shown.replace("│", " ").split())


# Every budget, count and temperature of the macro library that is out of range, and the
# error it gives (from the macro itself, so `winnow sql`, selections and the API all see it).
OUT_OF_RANGE = {
    "top_k(c, -5)": "top_k: the token budget must be >= 0, got -5",
    "bottom_k(c, -1)": "bottom_k: the token budget must be >= 0, got -1",
    "top_k_docs(c, -1)": "top_k_docs: k must be >= 0, got -1",
    "bottom_k_docs(c, -2)": "bottom_k_docs: k must be >= 0, got -2",
    "top_k_excluding(c, t, -3)": "top_k_excluding: the token budget must be >= 0, got -3",
    "top_k_per_domain(c, -4)": "top_k_per_domain: the token budget must be >= 0, got -4",
    "top_k_quota(c, q)": "top_k_quota: a quota of tokens must be >= 0, got -7",
    "sample_docs(c, 1.0, -3, 0)": "sample_docs: k must be >= 0, got -3",
    "sample_tokens(c, 1.0, -3, 0)": "sample_tokens: the token budget must be >= 0, got -3",
    "sample_tokens(c, 0, 1000, 0)": "sample_tokens: the temperature tau must be > 0",
    "sample_tokens(c, -1, 1000, 0)": "sample_tokens: the temperature tau must be > 0",
    "sample_docs(c, 0.0, 10, 0)": "sample_docs: the temperature tau must be > 0",
    "sample_docs(c, -0.5, 10, 0)": "sample_docs: the temperature tau must be > 0",
}


def test_negative_budgets_and_counts_and_temperatures_are_refused_by_the_macros(small_lake):
    before = lake_state(small_lake)
    cte = (CANDIDATES.rstrip().rstrip(")") + "), t AS (SELECT 'none' AS id), "
           "q AS (SELECT 'github-sample-50' AS domain, -7 AS tokens)\n")
    for call, message in OUT_OF_RANGE.items():
        with pytest.raises(duckdb.InvalidInputException, match=re.escape(message)):  # the API passes DuckDB's on
            winnow.query(small_lake, f"{cte} SELECT id FROM {call}")
    with pytest.raises(SelectionUsageError, match="sample_docs: k must be >= 0, got -3"):
        create(small_lake, "neg", f"{cte} SELECT id FROM sample_docs(c, 1.0, -3, seed())")
    fails("select", "create", small_lake.uri, "neg", "--query", f"{cte} SELECT id FROM top_k(c, -5)",
          contains="top_k: the token budget must be >= 0, got -5")
    fails("sql", small_lake.uri, f"{cte} SELECT id FROM sample_tokens(c, 0, 1000, 7)",
          contains="the temperature tau must be > 0")
    assert lake_state(small_lake) == before
    # in range, they select as before
    assert len(q(small_lake, f"{cte} SELECT id FROM sample_docs(c, 0.5, 3, 7)")) == 3
    assert len(q(small_lake, f"{cte} SELECT id FROM top_k(c, 0)")) == 0


def test_an_empty_selection_is_stored_with_a_warning(small_lake):
    for name, sql in (("none", "SELECT id FROM docs WHERE false"),
                      ("zero", CANDIDATES + "SELECT id FROM top_k_docs(c, 0)")):
        proc = cli("select", "create", small_lake.uri, name, "--query", sql)
        assert f"selection {name}: 0 documents" in proc.stdout
        assert proc.stderr.strip().splitlines() == [
            f"warning: selection {name} has 0 documents (materialize and train refuse it): check its WHERE and budget"]
    proc = cli("select", "create", small_lake.uri, "some", "--query", "SELECT id FROM docs LIMIT 3")
    assert "warning" not in proc.stderr


BAD_SELECTIONS = {
    "SELECT NULL AS id": "1 NULL id(s)",
    "SELECT id FROM docs UNION ALL SELECT NULL": "1 NULL id(s)",
    "SELECT 1 AS id": "`id` column is int32",
    "SELECT id FROM docs UNION ALL (SELECT id FROM docs LIMIT 2)": "more than once (2 repeated",
    "SELECT 'phantom' AS id UNION ALL SELECT id FROM docs": "1 selected id(s) are not in docs at lake version 2 (e.g. 'phantom')",
    "SELECT id, 'x' AS n_tokens FROM docs": "`n_tokens` column is string",
    "SELECT id, 'x' AS score FROM docs": "`score` column is string",
    "SELECT source FROM docs": "must return an `id` column",
    "COPY (SELECT id FROM docs) TO 'ids.csv'": "one SELECT statement (this one is: COPY)",
    "SELECT id FROM docs; SELECT id FROM docs": "(this one is: SELECT, SELECT)",
    "  -- nothing": "no statement",
    "": "the SQL is empty",
    "SELECT id FROM nope": "selection SQL failed: Catalog Error",
    f"SELECT id FROM read_json('{GITHUB}')": f"selection SQL: cannot access '{GITHUB}': this connection has no file access",
}


def test_a_selection_is_checked_when_given_and_a_refused_one_changes_nothing(small_lake, tmp_path):
    before = lake_state(small_lake)
    for sql, message in BAD_SELECTIONS.items():
        with pytest.raises(SelectionUsageError) as e:
            create(small_lake, "bad", sql)
        assert message in str(e.value), (sql, str(e.value))
    fails("select", "create", small_lake.uri, "bad", "--query", "SELECT NULL AS id", contains="NULL id")
    fails("select", "create", small_lake.uri, "bad", "--sql", tmp_path / "nonexistent.sql",
          contains="nonexistent.sql: No such file or directory")
    with pytest.raises(SelectionUsageError, match="no selection named 'bad'"):
        evaluate(small_lake, "bad")
    assert lake_state(small_lake) == before


def test_a_selection_that_cannot_be_stored_leaves_no_tag(tmp_path):
    small_lake = _small_lake(tmp_path)
    before = lake_state(small_lake)
    data = small_lake.table_uri("selections") + "/data"
    shutil.rmtree(data, ignore_errors=True)
    open(data, "w").close()  # the catalog can be read but not appended to: the append fails after the tag
    with pytest.raises(winnow.WinnowError):
        create(small_lake, "s", "SELECT id FROM docs")
    assert lake_state(small_lake) == before


def test_selections_stored_by_an_older_winnow_fail_clearly(small_lake):
    """Rows an older winnow stored without checking: previews and diffs say what is wrong."""
    version = small_lake.docs().version
    for name, sql in (("ints", "SELECT 1 AS id"), ("phantom", "SELECT 'phantom' AS id")):
        small_lake.append("selections", pa.Table.from_pylist([{
            "name": name, "sql": sql, "lake_version": version, "seed": 0, "documents": 1,
            "created_at": datetime.now(timezone.utc), "winnow_version": "0.0.1"}],
            schema=small_lake.dataset("selections").schema))
    fails("select", "preview", small_lake.uri, "ints", contains="`id` column is int32")
    with pytest.raises(SelectionUsageError, match="not in docs at lake version 2 \\(e.g. 'phantom'\\)"):
        diff(small_lake, "phantom", "ints")
    with pytest.raises(SelectionUsageError, match="not in docs"):
        preview(small_lake, "phantom")


def _figures(lake, sql: str) -> dict:
    """What preview must say about a selection with n_tokens and score, computed in SQL."""
    sel = f"({sql}) s JOIN docs d USING (id)"
    total = winnow.query(lake, f"SELECT count(*) AS n, sum(s.n_tokens) AS t, sum(d.n_bytes) AS b FROM {sel}").to_pylist()[0]
    sources = winnow.query(lake, f"SELECT d.source, count(*) AS n, sum(s.n_tokens) AS t FROM {sel} GROUP BY d.source")
    ranked = winnow.query(lake, f"SELECT s.id, s.score, left(d.text, 240) AS text FROM {sel} ORDER BY s.score DESC, s.id")
    return {"documents": total["n"], "tokens": int(total["t"] or 0), "text_bytes": int(total["b"] or 0),
            "sources": {r["source"]: (r["n"], int(r["t"])) for r in sources.to_pylist()}, "ranked": ranked.to_pylist()}


def test_preview_and_diff_agree_with_sql(real_lake):
    a_sql = CANDIDATES + "SELECT id, n_tokens, score FROM top_k(c, 400000)"
    b_sql = CANDIDATES + "SELECT id, n_tokens, score FROM sample_tokens(c, 0.05, 400000, seed())"
    create(real_lake, "pa", a_sql, replace=True)
    create(real_lake, "pb", b_sql, seed=5, replace=True)
    create(real_lake, "pcode", "SELECT id FROM docs WHERE source = 'github-sample-50'", replace=True)
    create(real_lake, "pnone", "SELECT id, n_bytes // 4 AS n_tokens, 1.0 AS score FROM docs WHERE false", replace=True)
    lake_docs = real_lake.docs().count_rows()

    want = _figures(real_lake, a_sql)
    p = preview(real_lake, "pa", samples=2, bins=10)
    assert (p.documents, p.tokens, p.text_bytes, p.lake_documents) == (
        want["documents"], want["tokens"], want["text_bytes"], lake_docs)
    assert 0 < p.documents < lake_docs
    assert {r["source"]: (r["documents"], r["share"], r["token_share"]) for r in p.sources} == {
        s: (n, n / want["documents"], t / want["tokens"]) for s, (n, t) in want["sources"].items()}
    counts, _ = np.histogram([r["score"] for r in want["ranked"]], bins=10)
    assert [c for _, _, c in p.histogram] == counts.tolist()
    ranked = want["ranked"]
    assert p.samples["top"] == ranked[:2] and p.samples["bottom"] == ranked[-2:]
    mid = len(ranked) // 2 - 1
    assert p.samples["middle"] == ranked[mid: mid + 2]

    shown = cli("select", "preview", real_lake.uri, "pa").stdout
    assert (f"selection pa: {want['documents']:,} of {lake_docs:,} documents" in shown
            and f"{want['tokens']:,} tokens" in shown)
    cells = {c[0]: c[1:] for c in ([x.strip() for x in line.split("│")[1:-1]] for line in shown.splitlines()
                                   if line.count("│") == 5)}
    assert cells == {s: [f"{n:,}", f"{n / want['documents']:.1%}", f"{t / want['tokens']:.1%}"]
                     for s, (n, t) in want["sources"].items()}
    assert f"[top] {ranked[0]['id']} " in shown and f"[bottom] {ranked[-1]['id']} " in shown

    code = preview(real_lake, "pcode")  # no n_tokens anywhere: tokens unknown, no histogram
    assert code.tokens is None and code.documents == 50 and not code.histogram
    assert code.sources == [{"source": "github-sample-50", "documents": 50, "share": 1.0, "token_share": None}]
    empty = preview(real_lake, "pnone")
    assert (empty.documents, empty.tokens, empty.text_bytes, empty.sources, empty.histogram, empty.samples) == (
        0, 0, 0, [], [], {})
    assert f"selection pnone: 0 of {lake_docs:,} documents" in cli("select", "preview", real_lake.uri, "pnone").stdout

    parts = winnow.query(real_lake, f"""
        WITH a AS ({a_sql}), b AS ({b_sql.replace("seed()", "5")})
        SELECT (SELECT count(*) FROM a ANTI JOIN b USING (id)) AS only_a,
               (SELECT count(*) FROM b ANTI JOIN a USING (id)) AS only_b,
               (SELECT count(*) FROM a SEMI JOIN b USING (id)) AS both_,
               (SELECT sum(n_tokens) FROM a ANTI JOIN b USING (id)) AS t_only_a,
               (SELECT sum(n_tokens) FROM b ANTI JOIN a USING (id)) AS t_only_b,
               (SELECT sum(n_tokens) FROM a SEMI JOIN b USING (id)) AS t_both""").to_pylist()[0]
    d = diff(real_lake, "pa", "pb")
    assert (d.only_a, d.only_b, d.both, d.tokens_only_a, d.tokens_only_b, d.tokens_both) == (
        parts["only_a"], parts["only_b"], parts["both_"], int(parts["t_only_a"]), int(parts["t_only_b"]),
        int(parts["t_both"]))
    assert d.both and d.only_a and d.only_b  # a real overlap, not a trivial one
    line = cli("select", "diff", real_lake.uri, "pa", "pb").stdout.strip()
    assert line == (f"only pa: {d.only_a:,} ({d.tokens_only_a:,} tokens) · both: {d.both:,} ({d.tokens_both:,} tokens) "
                    f"· only pb: {d.only_b:,} ({d.tokens_only_b:,} tokens)")
    e = diff(real_lake, "pnone", "pcode")
    assert (e.only_a, e.both, e.only_b, e.tokens_only_a, e.tokens_only_b) == (0, 0, 50, 0, None)


def test_normalizers_treat_nan_as_unknown():
    """A model rater writes NaN for a document it cannot score: zscore, percentile and minmax
    leave it out of their statistics and give it NULL, so a weighted sum ranks it last
    instead of DuckDB's NaN-above-everything order."""
    con = duckdb.connect()
    load_macros(con)
    x = [1.0, float("nan"), 3.0, 2.0, 5.0]
    con.execute("CREATE TABLE t AS SELECT * FROM (SELECT unnest(?) AS x, unnest(range(5)) AS id, 10 AS n_tokens)", [x])
    rows = con.sql("SELECT id, zscore(x), percentile(x), minmax(x) FROM t ORDER BY id").fetchall()
    finite = np.array([1.0, 3.0, 2.0, 5.0])
    z = (finite - finite.mean()) / finite.std()
    assert [r[1] for r in rows if r[0] != 1] == pytest.approx(list(z))
    assert [r[2] for r in rows if r[0] != 1] == pytest.approx([0.0, 2 / 3, 1 / 3, 1.0])
    assert [r[3] for r in rows if r[0] != 1] == pytest.approx([0.0, 0.5, 0.25, 1.0])
    assert rows[1][1:] == (None, None, None)
    picked = con.sql("WITH s AS (SELECT id, n_tokens, zscore(x) AS score FROM t) "
                     "SELECT id FROM top_k(s, 40) ORDER BY cum_tokens").fetchall()
    assert [r[0] for r in picked] == [4, 2, 3, 0]  # the NaN row would come first on the raw column
    raw = con.sql("WITH s AS (SELECT id, n_tokens, x AS score FROM t) SELECT id FROM top_k(s, 10)").fetchall()
    assert raw == [(1,)]

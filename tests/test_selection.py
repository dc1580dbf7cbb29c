"""The SQL macro library and named selections on real data: budgets, sampling, domains,
pinning."""

from __future__ import annotations

import hashlib
import itertools
import math

import duckdb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import winnow
from winnow.sql import SelectionError, create, evaluate, load_macros

from .conftest import C4, GITHUB, OWT

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
@given(st.lists(st.tuples(st.integers(0, 50), st.floats(-5, 5)), min_size=1, max_size=40), st.integers(0, 400))
def test_top_k_budget_property(rows, budget):
    con = duckdb.connect()
    load_macros(con)
    con.execute("CREATE TABLE c (id VARCHAR, n_tokens BIGINT, score DOUBLE)")
    con.executemany("INSERT INTO c VALUES (?, ?, ?)", [(f"d{i}", n, s) for i, (n, s) in enumerate(rows)])
    got = con.sql(f"SELECT n_tokens FROM top_k(c, {budget}) ORDER BY cum_tokens, id").fetchall()
    ordered = sorted(((-s, f"d{i}", n) for i, (n, s) in enumerate(rows)))
    want, total = [], 0
    for _, _, n in ordered:  # QuRating: take in order until the budget is reached, that one included
        if total >= budget:
            break
        want.append(n)
        total += n
    assert sorted(n for (n,) in got) == sorted(want)


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
    quotas = q(real_lake, CANDIDATES + ", quotas AS (SELECT * FROM (VALUES ('c4-sample-449', 10000), "
                                       "('github-sample-50', 5000)) v(domain, tokens)) "
                                       "SELECT domain, sum(n_tokens) AS t FROM top_k_quota(c, quotas) GROUP BY domain")
    assert {r["domain"] for r in quotas} == {"c4-sample-449", "github-sample-50"}


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
    sql = CANDIDATES.replace("FROM docs", "FROM docs") + "SELECT id, n_tokens, score FROM sample_tokens(c, 0.1, 150000, seed())"
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


SPECIAL = st.sampled_from([float("nan"), float("inf"), float("-inf"), None, 0.0, 1.0, 1.0, 2.5])


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

"""The seed systems' selections in sql/examples run as written, on a lake holding every
score column they name (imported: synthetic values for the model ratings), with budgets
that cut, and select exactly the documents a Python computation over the same rows does."""

from __future__ import annotations

import hashlib
import math
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import winnow

from .helpers import C4, OWT, ROOT

EXAMPLES = {p.stem: p for p in sorted((ROOT / "sql" / "examples").glob("*.sql"))}
# Not seed-system selections: the README's quickstart ones (they read the quickstart's
# scorers' columns), and datatrove-filters (keep flags for every document, not a selection;
# it has its own tests).
OTHERS = {"quickstart-metarater", "quickstart-qurating", "datatrove-filters"}
SEED_SYSTEMS = [name for name in EXAMPLES if name not in OTHERS]
SEED = 1
MASK = (1 << 64) - 1


@pytest.fixture(scope="module")
def rated(tmp_path_factory):
    """The lake, and its rows as Python: every column the examples read."""
    tmp = tmp_path_factory.mktemp("examples")
    lake = winnow.init(tmp / "lake")
    winnow.ingest_files(lake, [str(OWT), str(C4)])
    columns = sorted({c for name in SEED_SYSTEMS for c in re.findall(
        r"\b((?:prrc|qurating|wanjuan|dsir|rps|gopher)_\w+|fineweb_edu|fasttext_oh_eli5|datarater)\b",
        EXAMPLES[name].read_text())})
    ids = lake.docs().to_table(columns=["id", "n_bytes", "source"])
    rng = np.random.default_rng(0)
    table = {"id": ids["id"], "n_tokens": pa.array((ids["n_bytes"].to_numpy() // 4).astype(np.int32))}
    # scales chosen so that every threshold in the examples keeps some documents and drops others
    scale = {"datarater": 5, "gopher_word_count": 2000, "gopher_mean_word_length": 12, "fasttext_oh_eli5": 0.1}
    for c in columns:
        table[c] = pa.array((rng.random(ids.num_rows) * scale.get(c, 1)).astype(np.float32))
    pq.write_table(pa.table(table), tmp / "scores.parquet")
    winnow.import_scores(lake, str(tmp / "scores.parquet"))
    rows = lake.docs().to_table(columns=["id", "source", "n_tokens", *columns])
    py = {c: rows[c].to_numpy(zero_copy_only=False) for c in rows.column_names}
    py["n_tokens"] = py["n_tokens"].astype(np.int64)
    return lake, py


def zscore(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return (x - x.mean()) / x.std()


def gumbel(ids, seed: int) -> np.ndarray:
    """random.sql's gumbel(id, seed), in Python."""
    def splitmix(x):
        z = (x + 0x9E3779B97F4A7C15) & MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    u = [((splitmix(int.from_bytes(hashlib.md5(i.encode()).digest()[8:], "little") ^ seed) >> 11) + 0.5) / 2**53
         for i in ids]
    return -np.log(-np.log(np.array(u)))


def top_k(ids, tokens, score, budget, taken=frozenset()) -> list[str]:
    """QuRating's cut: highest score first (ties by id), until `budget` tokens, the document
    that reaches it included; ids in `taken` skipped."""
    out, total = [], 0
    for _, i, n in sorted((-s, i, n) for i, n, s in zip(ids, tokens, score) if i not in taken):
        if total >= budget:
            break
        out.append(i)
        total += n
    return out


def run(lake, name: str, budget_literals: dict[str, int]) -> set[str]:
    """The example's selection with its budgets replaced (each replacement must happen)."""
    sql = EXAMPLES[name].read_text()
    for literal, budget in budget_literals.items():
        assert literal in sql, (name, literal)
        sql = sql.replace(literal, str(budget))
    sel = winnow.select(lake, name, sql, seed=SEED, replace=True)
    got = winnow.select_rows(lake, name)["id"].to_pylist()
    assert sel.documents == len(got) == len(set(got))
    return set(got)


def test_every_seed_system_is_checked():
    assert sorted(SEED_SYSTEMS) == sorted(CHECKS)


def check_metarater(lake, py):
    budget = int(py["n_tokens"].sum() // 3)
    sql = EXAMPLES["metarater"].read_text()
    terms = re.findall(r"([+-]?)\s*(\d*\.\d+)\s*\*\s*zscore\((\w+)\)", sql)
    assert len(terms) == 25
    score = sum((-1 if sign == "-" else 1) * float(w) * zscore(py[c]) for sign, w, c in terms)
    return run(lake, "metarater", {"30e9": budget}), set(top_k(py["id"], py["n_tokens"], score, budget))


def check_qurating(lake, py):
    budget = int(py["n_tokens"].sum() * 3 // 10)
    score = zscore(py["qurating_educational_value"]) / 2.0 + gumbel(py["id"], SEED)
    total = int(py["n_tokens"].sum())
    want = set()
    for domain in set(py["source"]):
        mine = py["source"] == domain
        quota = math.floor(int(py["n_tokens"][mine].sum()) / total * budget)
        want |= set(top_k(py["id"][mine], py["n_tokens"][mine], score[mine], quota))
    return run(lake, "qurating", {"30e9": budget}), want


def check_qurating_mix(lake, py):
    quarter = int(py["n_tokens"].sum() // 10)
    taken: set[str] = set()
    for criterion in ("writing_style", "facts_and_trivia", "educational_value", "required_expertise"):
        taken |= set(top_k(py["id"], py["n_tokens"], py[f"qurating_{criterion}"], quarter, frozenset(taken)))
    return run(lake, "qurating-mix", {"7.5e9": quarter}), taken


def check_dclm(lake, py):
    keep = ((py["fasttext_oh_eli5"] >= np.float32(0.018112)) & (py["gopher_word_count"] >= 50)
            & (py["gopher_word_count"] <= 100000) & (py["gopher_mean_word_length"] >= 3)
            & (py["gopher_mean_word_length"] <= 10))
    return run(lake, "dclm", {}), set(py["id"][keep])


def check_datarater(lake, py):
    return run(lake, "datarater", {}), set(py["id"][py["datarater"] >= 3])


CHECKS = {"metarater": check_metarater, "qurating": check_qurating, "qurating-mix": check_qurating_mix,
          "dclm": check_dclm, "datarater": check_datarater}


@pytest.mark.parametrize("name", SEED_SYSTEMS)
def test_seed_system_selection_matches_python(rated, name: str):
    lake, py = rated
    got, want = CHECKS[name](lake, py)
    assert 0 < len(want) < len(py["id"])  # the budget or threshold cuts
    assert got == want

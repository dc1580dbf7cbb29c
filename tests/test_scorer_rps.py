"""The `rps` scorer: the 11 RedPajama-V2 quality signals that Meta-rater uses.

Three kinds of checks:
1. worked examples, each value derived by hand from the RedPajama-V2 definitions
   (togethercomputer/RedPajama-Data, app/src/core/...), to 1e-6;
2. the real documents in ../shared/data: column types, lengths, no nulls, valid ranges,
   and agreement with `reference_signals`, a plain per-document transcription of the
   definitions written for these tests (slow, no vectorization), on every document;
3. packages that reproduce RedPajama pieces exactly, where installed (nltk's
   WordPunctTokenizer is RedPajama's raw-word splitter; no installed package computes the
   signals themselves).
"""

from __future__ import annotations

import json
import math
import re
import string
import unicodedata
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import winnow
from winnow.scoring import registry
from winnow.scoring.scorers import rps
from winnow.scoring.scorers.rps import COLUMNS, RedPajamaScorer, rps_signals

from .helpers import C4, GITHUB, OWT

NAN = float("nan")

# ---- a plain transcription of the RedPajama-V2 definitions ----------------------------

_PUNCT = str.maketrans("", "", string.punctuation)
_TOKEN = re.compile(r"\w+|[^\w\s]+")  # nltk WordPunctTokenizer
_SENTENCE = re.compile(r"\b[^.!?]+[.!?]*")
_ASCII_LETTER = re.compile(r"[a-zA-Z]")


def normalize(text: str) -> str:
    """Delete ASCII punctuation, lowercase, strip, collapse whitespace, NFD."""
    text = text.translate(_PUNCT).lower().strip()
    return unicodedata.normalize("NFD", re.sub(r"\s+", " ", text))


def split_lines(text: str) -> list[str]:
    """Split after every "\\n", keeping it; a non-empty tail is a line too."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def top_ngram_fraction(words: list[str], n: int) -> float:
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    counts = Counter(grams)
    best = max(counts.values())
    if best <= 1:
        return 0.0
    gram = next(g for g in grams if counts[g] == best)  # the top n-gram seen first
    return round(sum(map(len, gram)) * best / sum(map(len, words)), 8)


def reference_signals(text: str | None) -> dict[str, float]:
    text = text or ""
    words = normalize(text).split()
    n = len(words)
    tokens = _TOKEN.findall(text)
    lines = split_lines(text)
    out = {
        "rps_doc_word_count": float(n),
        "rps_doc_num_sentences": float(len(_SENTENCE.findall(text))),
        "rps_doc_mean_word_length": round(sum(map(len, words)) / n, 8) if n else NAN,
        "rps_doc_frac_unique_words": round(len(set(words)) / n, 8) if n else NAN,
        "rps_doc_unigram_entropy": (
            round(sum(-c / n * math.log(c / n) for c in Counter(words).values()), 8) if n else NAN
        ),
        "rps_doc_frac_no_alph_words": (
            round(1.0 - sum(bool(_ASCII_LETTER.search(t)) for t in tokens) / len(tokens), 8)
            if tokens else NAN
        ),
        "rps_doc_frac_chars_top_2gram": top_ngram_fraction(words, 2),
        "rps_doc_frac_chars_top_3gram": top_ngram_fraction(words, 3),
    }
    upper, numeric, terminal = [], [], []
    for line in lines:
        upper.append(round(sum(c.isupper() for c in line) / len(line), 8))
        norm = normalize(line)
        numeric.append(round(sum(c.isnumeric() for c in norm) / len(norm), 8) if norm else 0.0)
        terminal.append(float(line.rstrip().endswith((".", "!", "?", "\u201d"))))
    for name, values in (
        ("rps_lines_uppercase_letter_fraction", upper),
        ("rps_lines_numerical_chars_fraction", numeric),
        ("rps_lines_ending_with_terminal_punctution_mark", terminal),
    ):
        out[name] = sum(values) / len(values) if values else NAN
    return out


def close(a: float, b: float, tol: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol


def assert_signals(got: dict[str, float], want: dict[str, float], tol: float = 1e-6, label: str = ""):
    bad = {c: (got[c], want[c]) for c in COLUMNS if not close(got[c], want[c], tol)}
    assert not bad, f"{label}: (got, expected) {bad}"


def score_texts(texts: list[str | None]) -> dict[str, list[float]]:
    """Through the scorer's public entry point, as the runner calls it."""
    out = RedPajamaScorer().score(pa.RecordBatch.from_pydict({"text": pa.array(texts, pa.string())}))
    return {c: out[c].to_pylist() for c in COLUMNS}


def one(text: str | None) -> dict[str, float]:
    return {c: v[0] for c, v in score_texts([text]).items()}


def load(path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def real_docs() -> dict[str, list[str]]:
    return {"owt": load(OWT), "c4": load(C4), "github": load(GITHUB)}


# ---- 1. worked examples ---------------------------------------------------------------


def test_worked_example_mixed_document():
    text = "The cat sat. The cat ran!\nHELLO world 42\n\nno end"
    got = one(text)
    # normalized: punctuation "." "!" deleted, lowercased, whitespace collapsed:
    #   "the cat sat the cat ran hello world 42 no end" -> 11 words
    # characters: 3+3+3+3+3+3+5+5+2+2+3 = 35 -> mean 35/11
    # distinct: the(2) cat(2) sat ran hello world 42 no end = 9 -> 9/11
    # entropy: 2 words with p=2/11, 7 with p=1/11:
    #   2*(2/11)ln(11/2) + 7*(1/11)ln(11) = (4/11)ln(5.5) + (7/11)ln(11)
    # raw words (\w+|[^\w\s]+): The cat sat . The cat ran ! HELLO world 42 no end = 13,
    #   without an ASCII letter: ".", "!", "42" -> 3/13
    # sentences: runs without .!? are "The cat sat", " The cat ran",
    #   "\nHELLO world 42\n\nno end", each with a word boundary -> 3
    # top 2-gram: (the, cat) twice, 6 chars -> 6*2/35; every 3-gram occurs once -> 0
    # lines: "The cat sat. The cat ran!\n" (26 chars, 2 upper), "HELLO world 42\n" (15, 5),
    #   "\n" (1, 0), "no end" (6, 0)
    #   uppercase: (2/26 + 5/15 + 0 + 0)/4
    #   numeric on normalized lines: "the cat sat the cat ran" 0/23, "hello world 42" 2/14,
    #   "" 0, "no end" 0/6 -> (2/14)/4
    #   terminal: "...ran!" yes, "... 42" no, "" no, "no end" no -> 1/4
    want = {
        "rps_doc_word_count": 11,
        "rps_doc_num_sentences": 3,
        "rps_doc_mean_word_length": 35 / 11,
        "rps_doc_unigram_entropy": (4 / 11) * math.log(5.5) + (7 / 11) * math.log(11),
        "rps_doc_frac_unique_words": 9 / 11,
        "rps_doc_frac_no_alph_words": 3 / 13,
        "rps_doc_frac_chars_top_2gram": 12 / 35,
        "rps_doc_frac_chars_top_3gram": 0.0,
        "rps_lines_uppercase_letter_fraction": (2 / 26 + 5 / 15) / 4,
        "rps_lines_numerical_chars_fraction": (2 / 14) / 4,
        "rps_lines_ending_with_terminal_punctution_mark": 0.25,
    }
    assert_signals(got, want)
    assert abs(want["rps_doc_unigram_entropy"] - 2.1458417526) < 1e-9  # the number itself


def test_worked_example_overlapping_repeats_exceed_one():
    # "a a a a a": 5 words of 1 char; (a, a) occurs 4 times (overlapping windows count):
    # 2 chars * 4 / 5 = 1.6; (a, a, a) 3 times: 3 * 3 / 5 = 1.8 (upstream has no cap)
    got = one("a a a a a")
    assert_signals(got, {
        "rps_doc_word_count": 5, "rps_doc_num_sentences": 1, "rps_doc_mean_word_length": 1.0,
        "rps_doc_unigram_entropy": 0.0, "rps_doc_frac_unique_words": 0.2,
        "rps_doc_frac_no_alph_words": 0.0, "rps_doc_frac_chars_top_2gram": 1.6,
        "rps_doc_frac_chars_top_3gram": 1.8, "rps_lines_uppercase_letter_fraction": 0.0,
        "rps_lines_numerical_chars_fraction": 0.0, "rps_lines_ending_with_terminal_punctution_mark": 0.0,
    })


def test_worked_example_top_ngram_ties_go_to_the_first_seen():
    # words ab c ab c dddd e dddd e (16 chars): (ab, c) and (dddd, e) both occur twice;
    # Counter.most_common(1) returns the one inserted first, as upstream uses it:
    # (ab, c): 3 chars * 2 / 16 = 0.375; in the reversed document (dddd, e): 5 * 2 / 16
    a, b = score_texts(["ab c ab c dddd e dddd e", "dddd e dddd e ab c ab c"])["rps_doc_frac_chars_top_2gram"]
    assert abs(a - 0.375) < 1e-6 and abs(b - 0.625) < 1e-6


def test_worked_example_unicode_nfd_and_numeric():
    # "Año 2024 – ½": the en dash is not ASCII punctuation and stays.
    # normalized: "an\u0303o 2024 – ½" (NFD splits ñ into n + combining tilde):
    #   words an~o(4) 2024(4) –(1) ½(1): 4 words, 10 chars -> mean 2.5
    #   normalized line length 4+1+4+1+1+1+1 = 13, numeric 2,0,2,4,½ = 5 -> 5/13
    # raw words: Año 2024 – ½ (½ is numeric, so \w) -> 4; with an ASCII letter: Año -> 1 - 1/4
    # raw line "Año 2024 – ½" has 12 chars, 1 uppercase -> 1/12; ends in ½ -> not terminal
    got = one("Año 2024 – ½")
    assert_signals(got, {
        "rps_doc_word_count": 4, "rps_doc_num_sentences": 1, "rps_doc_mean_word_length": 2.5,
        "rps_doc_unigram_entropy": math.log(4), "rps_doc_frac_unique_words": 1.0,
        "rps_doc_frac_no_alph_words": 0.75, "rps_doc_frac_chars_top_2gram": 0.0,
        "rps_doc_frac_chars_top_3gram": 0.0, "rps_lines_uppercase_letter_fraction": 1 / 12,
        "rps_lines_numerical_chars_fraction": 5 / 13, "rps_lines_ending_with_terminal_punctution_mark": 0.0,
    })


def test_worked_example_nfd_makes_precomposed_and_decomposed_words_equal():
    # "Café CAFÉ cafe\u0301": lowercased and NFD, all three are "cafe\u0301" (5 chars):
    #   3 words, 1 distinct -> 1/3, entropy 0, mean 5; (w, w) twice: 10 * 2 / 15
    # raw words: the combining accent U+0301 is not \w, so "cafe\u0301" is "cafe" + "\u0301":
    #   Café CAFÉ cafe \u0301 -> 4 tokens, 3 with an ASCII letter -> 1 - 3/4
    # raw line of 15 chars with C, C, A, F, É uppercase -> 5/15
    got = one("Café CAFÉ cafe\u0301")
    assert_signals(got, {
        "rps_doc_word_count": 3, "rps_doc_num_sentences": 1, "rps_doc_mean_word_length": 5.0,
        "rps_doc_unigram_entropy": 0.0, "rps_doc_frac_unique_words": 1 / 3,
        "rps_doc_frac_no_alph_words": 0.25, "rps_doc_frac_chars_top_2gram": 20 / 15,
        "rps_doc_frac_chars_top_3gram": 0.0, "rps_lines_uppercase_letter_fraction": 5 / 15,
        "rps_lines_numerical_chars_fraction": 0.0, "rps_lines_ending_with_terminal_punctution_mark": 0.0,
    })


def test_worked_example_sentences():
    # \b[^.!?]+[.!?]*: runs without .!? are "3", "5 apples", " Really", " yes", each with a
    # word boundary (between "." and "5" too) -> 4; "?! ..." has only the run " " -> 0
    got = score_texts(["3.5 apples... Really?! yes", "?! ...", "...Hi"])["rps_doc_num_sentences"]
    assert got == [4.0, 0.0, 1.0]


def test_worked_example_terminal_punctuation_and_crlf():
    # lines 'He said “hi.”  \r\n' (17 chars, 1 uppercase; without trailing whitespace it
    # ends in ” -> terminal) and 'No' (2 chars, 1 uppercase, not terminal)
    got = one("He said \u201chi.\u201d  \r\nNo")
    assert abs(got["rps_lines_ending_with_terminal_punctution_mark"] - 0.5) < 1e-6
    assert abs(got["rps_lines_uppercase_letter_fraction"] - (1 / 17 + 1 / 2) / 2) < 1e-6
    # long trailing whitespace: "End." + 20 spaces + "\n" ends in "." -> 1; "Ok!" + 12
    # tabs/spaces -> 1; 12 spaces alone -> 0; "no" -> 0: 2/4
    got = one("End." + " " * 20 + "\nOk!" + " \t" * 6 + "\n" + " " * 12 + "\nno")
    assert abs(got["rps_lines_ending_with_terminal_punctution_mark"] - 0.5) < 1e-6


def test_degenerate_documents_give_nan_or_zero_never_an_error():
    got = score_texts(["", "   ", "!!!", "\n\n", None, "x"])
    col = lambda c: got[c]  # noqa: E731
    # no normalized word: counts 0, word statistics undefined, top-n-gram fractions 0
    assert col("rps_doc_word_count")[:5] == [0.0] * 5
    assert col("rps_doc_num_sentences")[:5] == [0.0] * 5
    for c in ("rps_doc_mean_word_length", "rps_doc_unigram_entropy", "rps_doc_frac_unique_words"):
        assert all(math.isnan(v) for v in col(c)[:5]), c
    assert col("rps_doc_frac_chars_top_2gram") == [0.0] * 6
    # raw words: "!!!" is one word without a letter; the others have none
    no_alph = col("rps_doc_frac_no_alph_words")
    assert math.isnan(no_alph[0]) and math.isnan(no_alph[1]) and no_alph[2] == 1.0
    assert math.isnan(no_alph[3]) and math.isnan(no_alph[4]) and no_alph[5] == 0.0
    # lines: the empty text (and a null) has none; "   " is one line, "\n\n" two
    for c in COLUMNS[8:]:
        v = col(c)
        assert math.isnan(v[0]) and math.isnan(v[4]), c
        assert not any(math.isnan(x) for x in (v[1], v[2], v[3], v[5])), c
    assert col("rps_lines_ending_with_terminal_punctution_mark")[1:4] == [0.0, 1.0, 0.0]
    # a lone surrogate cannot come through Arrow (UTF-8) but is a valid Python str
    assert rps_signals(["ab\ud800 cd"])["rps_doc_word_count"][0] == 2.0


# ---- the scorer contract --------------------------------------------------------------


def test_scorer_contract_and_registry():
    s = registry.resolve("rps")()
    assert type(s) is RedPajamaScorer
    assert (s.name, s.version, s.inputs) == ("rps", "1", ("text",))
    assert [(f.name, f.type) for f in s.outputs()] == [(c, pa.float32()) for c in COLUMNS]
    assert len(COLUMNS) == 11 and "rps_lines_ending_with_terminal_punctution_mark" in COLUMNS
    s.setup("cpu")
    out = s.score(pa.RecordBatch.from_pydict({"text": []}))
    assert all(len(out[c]) == 0 for c in COLUMNS)


# ---- 2. the real documents ------------------------------------------------------------


def test_real_documents_types_lengths_nulls_and_ranges(real_docs):
    docs = real_docs["owt"] + real_docs["c4"] + real_docs["github"]
    batch = pa.RecordBatch.from_pydict({"text": docs})
    out = RedPajamaScorer().score(batch)
    assert set(out) == set(COLUMNS)
    cols = {}
    for c in COLUMNS:
        a = out[c]
        assert isinstance(a, pa.Array) and a.type == pa.float32(), c
        assert len(a) == len(docs) and a.null_count == 0, c
        cols[c] = a.to_numpy(zero_copy_only=False).astype(np.float64)
        assert not np.isnan(cols[c]).any(), c  # every real document has words and lines
    words = cols["rps_doc_word_count"]
    assert (words >= 1).all() and (words == np.round(words)).all()
    sentences = cols["rps_doc_num_sentences"]
    assert (sentences >= 0).all() and (sentences == np.round(sentences)).all()
    assert (cols["rps_doc_mean_word_length"] > 0).all()
    entropy = cols["rps_doc_unigram_entropy"]
    assert (entropy >= 0).all() and (entropy <= np.log(words) + 1e-5).all()
    unique = cols["rps_doc_frac_unique_words"]
    assert (unique > 0).all() and (unique <= 1).all() and (unique >= 1 / words - 1e-7).all()
    for c in ("rps_doc_frac_no_alph_words", *COLUMNS[8:]):
        assert ((cols[c] >= 0) & (cols[c] <= 1)).all(), c
    assert ((cols["rps_doc_frac_chars_top_2gram"] >= 0) & (cols["rps_doc_frac_chars_top_2gram"] <= 2)).all()
    assert ((cols["rps_doc_frac_chars_top_3gram"] >= 0) & (cols["rps_doc_frac_chars_top_3gram"] <= 3)).all()
    # the data are not degenerate: typical prose values where they must be
    owt = slice(0, len(real_docs["owt"]))
    assert 4 < np.median(cols["rps_doc_mean_word_length"][owt]) < 6
    assert 0.3 < np.median(cols["rps_lines_ending_with_terminal_punctution_mark"][owt]) < 1
    assert np.median(cols["rps_lines_uppercase_letter_fraction"][owt]) < 0.1


def test_real_documents_agree_with_the_plain_definitions(real_docs):
    for name, docs in real_docs.items():
        fast = rps_signals(docs)
        for i, text in enumerate(docs):
            assert_signals({c: float(fast[c][i]) for c in COLUMNS}, reference_signals(text),
                           tol=1e-7, label=f"{name}[{i}]")


def test_float32_columns_are_the_float64_values_cast(real_docs):
    docs = real_docs["c4"]
    out = RedPajamaScorer().score(pa.RecordBatch.from_pydict({"text": docs}))
    fast = rps_signals(docs)
    for c in COLUMNS:
        assert np.array_equal(out[c].to_numpy(), fast[c].astype(np.float32), equal_nan=True), c


def test_word_count_against_a_direct_count_on_real_documents(real_docs):
    # the reference's own steps, written out: translate away string.punctuation, lower,
    # strip, collapse \s+, NFD, then str.split()
    for text in (real_docs["owt"][0], real_docs["c4"][3], real_docs["github"][7]):
        t = text.translate(str.maketrans("", "", string.punctuation)).lower().strip()
        words = unicodedata.normalize("NFD", re.sub(r"\s+", " ", t)).split()
        got = one(text)
        assert got["rps_doc_word_count"] == len(words) > 0
        assert abs(got["rps_doc_mean_word_length"] - sum(map(len, words)) / len(words)) < 1e-5
        # lines: RedPajama's line regex gives the lines the scorer averages over
        lines = re.findall(r"[^\n]*\n|[^\n]+$", text)
        assert lines == split_lines(text)
        terminal = sum(l.rstrip().endswith((".", "!", "?", "\u201d")) for l in lines) / len(lines)
        assert abs(got["rps_lines_ending_with_terminal_punctution_mark"] - terminal) < 1e-6


def test_word_split_safety_net_gives_the_same_word_signals(monkeypatch):
    # word counts come from the character tables; if they ever disagreed with str.split()
    # the scorer splits each document itself. Force a disagreement: pretend "q" is no
    # content character, so "aqb" counts as two words on the numpy side.
    text = "aqb aqb c. Quick quiz q"
    want = reference_signals(text)
    calls = []
    split = rps._split_documents
    monkeypatch.setattr(rps, "_split_documents", lambda texts: calls.append(1) or split(texts))
    saved = int(rps._NORM_LEN[ord("q")])
    rps._NORM_LEN[ord("q")] = 0
    try:
        got = {c: float(v[0]) for c, v in rps_signals([text]).items()}
    finally:
        rps._NORM_LEN[ord("q")] = saved
    assert calls == [1]
    for c in COLUMNS[:8]:
        if c != "rps_doc_num_sentences" and c != "rps_doc_frac_no_alph_words":
            assert close(got[c], want[c], 1e-7), c


def test_chunking_and_the_rank_path_do_not_change_values(real_docs, monkeypatch):
    docs = real_docs["c4"][:120] + ["", "x y x y"] + real_docs["github"][:5]
    expected = rps_signals(docs)
    monkeypatch.setattr(rps, "CHUNK_CHARS", 3000)  # many small chunks, big documents alone
    chunked = rps_signals(docs)
    monkeypatch.setattr(rps, "CHUNK_CHARS", 1 << 21)
    monkeypatch.setattr(rps, "_MAX_DIRECT_KEY", 0)  # n-gram keys through dense ranks
    ranked = rps_signals(docs)
    for c in COLUMNS:
        assert np.array_equal(chunked[c], expected[c], equal_nan=True), c
        assert np.array_equal(ranked[c], expected[c], equal_nan=True), c


def test_scoring_a_lake_with_the_runner(lake):
    winnow.ingest_files(lake, [str(C4)])
    r = winnow.score(lake, "rps")
    n_docs = winnow.query(lake, "SELECT count(*) AS n FROM docs").to_pylist()[0]["n"]  # after dedup
    assert r.scored == r.rows == n_docs > 400 and sorted(r.columns) == sorted(COLUMNS)
    rows = winnow.query(lake, f"SELECT text, {', '.join(COLUMNS)} FROM docs LIMIT 40").to_pylist()
    for row in rows:
        want = reference_signals(row["text"])
        for c in COLUMNS:
            assert abs(row[c] - want[c]) <= 1e-6 * max(1.0, abs(want[c])), c


# ---- 3. packages that reproduce RedPajama pieces --------------------------------------


def _wordpunct_as_redpajama_ran_it():
    """nltk's WordPunctTokenizer pattern compiled with `re`, as every nltk up to 3.9.2 did
    (RedPajama-V2 ran nltk 3.8.1; see the rps module docstring)."""
    nltk_tokenize = pytest.importorskip("nltk.tokenize")
    return re.compile(nltk_tokenize.WordPunctTokenizer()._pattern)


def test_raw_words_match_nltk_wordpunct_tokenizer_if_installed(real_docs):
    pattern = _wordpunct_as_redpajama_ran_it()
    docs = real_docs["owt"][:200] + real_docs["github"]
    fast = rps_signals(docs)["rps_doc_frac_no_alph_words"]
    for i, text in enumerate(docs):
        tokens = pattern.findall(text)
        want = round(1 - sum(bool(re.search("[a-zA-Z]", t)) for t in tokens) / len(tokens), 8)
        assert abs(fast[i] - want) < 1e-7


def test_no_alph_words_follow_re_not_the_regex_module():
    # Python's re counts ¾ as a word character (str.isalnum): "3¾" is one raw word without a
    # letter, "cups" one with letters. nltk 3.10+ (the `regex` module) splits "3", "¾".
    assert _wordpunct_as_redpajama_ran_it().findall("3¾ cups") == ["3¾", "cups"]
    assert one("3¾ cups")["rps_doc_frac_no_alph_words"] == pytest.approx(0.5)
    # a combining mark is no word character for re: "e" + U+0301 is two raw words, one without a letter
    assert one("e\u0301")["rps_doc_frac_no_alph_words"] == pytest.approx(0.5)
    nltk = pytest.importorskip("nltk")
    if tuple(int(p) for p in nltk.__version__.split(".")[:2]) >= (3, 10):
        from nltk.tokenize import WordPunctTokenizer

        assert WordPunctTokenizer().tokenize("3¾ cups") == ["3", "¾", "cups"]


# ---- the assumptions the vectorized code rests on -------------------------------------


def test_character_classes_hold_for_every_code_point():
    """`\\w`/`\\s`/`\\b` of re equal the str methods the tables use, and lowercasing + NFD
    never turn a space into a non-space or back (so word boundaries survive normalization,
    and a normalized length is the sum of per-character lengths)."""
    word, space = re.compile(r"\w"), re.compile(r"\s")
    for cp in range(0x110000):
        ch = chr(cp)
        assert (word.match(ch) is not None) == (ch.isalnum() or ch == "_"), hex(cp)
        assert (space.match(ch) is not None) == ch.isspace(), hex(cp)
        norm = unicodedata.normalize("NFD", ch.lower())
        if ch.isspace():
            assert norm and all(c.isspace() for c in norm), hex(cp)
        else:
            assert not any(c.isspace() for c in norm), hex(cp)


_INTERESTING = list(
    "aAzZ09_ .!?,;:'\"-()#\u201d\u201c\n\n\r\t\x0b\x0c\x1c\x85\xa0\u2000\u2028\u3000"
    "ÉéñÑİıΣσςß½①²\u0301\u0303ﬁ한글中文…–—\U0001f600\ud800"
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(alphabet=st.sampled_from(_INTERESTING), max_size=40), min_size=1, max_size=6))
def test_random_texts_agree_with_the_plain_definitions(texts):
    fast = rps_signals(texts)
    for i, text in enumerate(texts):
        assert_signals({c: float(fast[c][i]) for c in COLUMNS}, reference_signals(text), tol=1e-7,
                       label=repr(text))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=60), min_size=1, max_size=5))
def test_arbitrary_unicode_agrees_with_the_plain_definitions(texts):
    fast = rps_signals(texts)
    for i, text in enumerate(texts):
        assert_signals({c: float(fast[c][i]) for c in COLUMNS}, reference_signals(text), tol=1e-7,
                       label=repr(text))

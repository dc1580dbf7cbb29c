"""Gopher quality and repetition statistics (scorer `gopher`), as datatrove's
GopherQualityFilter and GopherRepetitionFilter compute them (Rae et al. 2021, table A1).

Words are datatrove's English words (spaCy's tokenizer, re-implemented in
winnow.scoring.text). "Symbol" words consist only of datatrove's punctuation characters;
`gopher_word_count` and the mean word length count the other words, as the filter does;
the hash and ellipsis ratios divide by all words; a word is alphabetic if any of its
characters is (`str.isalpha`). Repetition statistics divide by the text's length in
characters. The filters' decisions, with their default thresholds, are the SQL in
sql/examples/datatrove-filters.sql (gopher_quality_keep, gopher_repetition_keep).

Duplicated n-grams are compared as word sequences; datatrove compares the words joined
without spaces, so it also counts "ab c" and "a bc" as the same 5-gram. That changes
`gopher_dup_5gram_char_frac` for 3 of 4,530 test documents (by under 0.03), and no
decision.
"""

from __future__ import annotations

import re
from itertools import accumulate, count, filterfalse

import numpy as np
import pyarrow as pa

from winnow.scoring.scorer import TextStatsScorer
from winnow.scoring.text import SYMBOLS, find_duplicates, words

STOP_WORDS = frozenset(["the", "be", "to", "of", "and", "that", "have", "with"])
TOP_N = (2, 3, 4)
DUP_N = (5, 6, 7, 8, 9, 10)
_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")
NAN = float("nan")

FIELDS = (
    [("gopher_word_count", pa.int32()), ("gopher_mean_word_length", pa.float32()),
     ("gopher_hash_word_ratio", pa.float32()), ("gopher_ellipsis_word_ratio", pa.float32()),
     ("gopher_bullet_lines_frac", pa.float32()), ("gopher_ellipsis_lines_frac", pa.float32()),
     ("gopher_alpha_words_frac", pa.float32()), ("gopher_stop_words", pa.int32()),
     ("gopher_dup_para_frac", pa.float32()), ("gopher_dup_para_char_frac", pa.float32()),
     ("gopher_dup_line_frac", pa.float32()), ("gopher_dup_line_char_frac", pa.float32())]
    + [(f"gopher_top_{n}gram_char_frac", pa.float32()) for n in TOP_N]
    + [(f"gopher_dup_{n}gram_char_frac", pa.float32()) for n in DUP_N]
)


def ngram_chars(ids: list[int], lengths: list[int]) -> tuple[list[int], list[int]]:
    """For words given as ids (equal for equal words, each below the number of words) and
    their lengths: the characters of the most frequent n-gram (joined with spaces) times its
    count, for n in TOP_N (ties: the n-gram seen first, as Counter.most_common); and the
    characters in n-grams that repeat an earlier one, scanning greedily (a repeat skips n),
    for n in DUP_N.

    Each n-gram gets a number, equal for equal n-grams: the number of its first n - 1
    words' n-gram and its last word, renumbered densely (np.unique), one n at a time."""
    tops, dups = [0] * len(TOP_N), [0] * len(DUP_N)
    n_words = len(ids)
    if n_words < 2:
        return tops, dups
    word = np.array(ids, np.int64)
    prefix = [0, *accumulate(lengths)]
    vocab = int(word.max()) + 1
    gram = word
    for n in range(2, DUP_N[-1] + 1):
        windows = n_words - n + 1
        if windows <= 0:
            break
        _, gram, counts = np.unique(gram[:windows] * vocab + word[n - 1:], return_inverse=True, return_counts=True)
        if n in TOP_N:
            best = int(counts.max())
            first = int(np.argmax(counts[gram] == best))  # the first window of a most frequent n-gram
            tops[n - TOP_N[0]] = (prefix[first + n] - prefix[first] + n - 1) * best
        if len(counts) == windows:  # no n-gram repeats, so no longer one does
            if n >= TOP_N[-1]:
                break
            continue
        if n in DUP_N:
            dups[n - DUP_N[0]] = _repeated_chars(gram, counts, prefix, n)
    return tops, dups


def _repeated_chars(gram: np.ndarray, counts: np.ndarray, prefix: list[int], n: int) -> int:
    """The greedy scan over the windows. Only n-grams that occur more than once can be
    repeats or make one; the others are passed over one at a time, so the scan visits only
    the windows of repeated n-grams."""
    at = np.flatnonzero(counts[gram] > 1)
    seen: set[int] = set()
    chars = resume = 0
    for i, g in zip(at.tolist(), gram[at].tolist()):
        if i < resume:  # inside the n-gram of the last repeat
            continue
        if g in seen:
            chars += prefix[i + n] - prefix[i]
            resume = i + n
        else:
            seen.add(g)
    return chars


def gopher_stats(text: str) -> tuple:
    ws = words(text)
    n_all = len(ws)
    content = list(filterfalse(SYMBOLS.issuperset, ws))
    n_alpha = sum(map(str.isalpha, ws)) + sum(1 for w in filterfalse(str.isalpha, ws) if any(map(str.isalpha, w)))
    n_chars = len(text)
    lines = text.splitlines()
    paragraphs = _PARAGRAPHS.split(text.strip())
    para_dups, para_chars = find_duplicates(paragraphs)
    line_list = _LINES.split(text)
    line_dups, line_chars = find_duplicates(line_list)
    vocab: dict[str, int] = {}
    tops, dups = ngram_chars(list(map(vocab.setdefault, ws, count())), list(map(len, ws)))
    per_char = (lambda x: x / n_chars) if n_chars else (lambda x: NAN)
    per_word = (lambda x: x / n_all) if n_all else (lambda x: NAN)
    per_line = (lambda x: x / len(lines)) if lines else (lambda x: NAN)
    return (
        len(content),
        sum(map(len, content)) / len(content) if content else NAN,
        per_word(text.count("#")),
        per_word(text.count("...") + text.count("…")),
        per_line(sum(s.lstrip().startswith(("•", "-")) for s in lines)),
        per_line(sum(s.rstrip().endswith(("...", "…")) for s in lines)),
        per_word(n_alpha),
        len(STOP_WORDS.intersection(ws)),
        para_dups / len(paragraphs),
        per_char(para_chars),
        line_dups / len(line_list),
        per_char(line_chars),
        *map(per_char, tops),
        *map(per_char, dups),
    )


class GopherScorer(TextStatsScorer):
    name = "gopher"
    version = "2"  # 2: spaCy's exact word split (winnow.scoring.text)
    inputs = ("text",)
    fields = FIELDS
    stats = staticmethod(gopher_stats)

"""Gopher quality and repetition statistics (scorer `gopher`), as datatrove's
GopherQualityFilter and GopherRepetitionFilter compute them (Rae et al. 2021, table A1).

Words come from winnow.scoring.text.words (spaCy-like, as datatrove splits them).
"Symbol" words consist only of punctuation; `gopher_word_count` and the mean word length
count the other words, as the filter does. Repetition statistics divide by the text's
length in characters. The filter's defaults, as SQL over these columns:

    gopher_word_count BETWEEN 50 AND 100000 AND gopher_mean_word_length BETWEEN 3 AND 10
    AND gopher_hash_word_ratio <= 0.1 AND gopher_ellipsis_word_ratio <= 0.1
    AND gopher_bullet_lines_frac <= 0.9 AND gopher_ellipsis_lines_frac <= 0.3
    AND gopher_alpha_words_frac >= 0.8 AND gopher_stop_words >= 2
    AND gopher_dup_para_frac <= 0.3 AND gopher_dup_para_char_frac <= 0.2
    AND gopher_dup_line_frac <= 0.3 AND gopher_dup_line_char_frac <= 0.2
    AND gopher_top_2gram_char_frac <= 0.2 AND gopher_top_3gram_char_frac <= 0.18
    AND gopher_top_4gram_char_frac <= 0.16 AND gopher_dup_5gram_char_frac <= 0.15 ...
    AND gopher_dup_10gram_char_frac <= 0.10

Duplicated n-grams are compared as word sequences (datatrove compares the words joined
without spaces, so it also counts "ab c" and "a bc" as the same n-gram: rare).
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import accumulate

import pyarrow as pa

from winnow.scoring.scorer import TextStatsScorer
from winnow.scoring.text import find_duplicates, is_symbol_word, words

STOP_WORDS = frozenset(["the", "be", "to", "of", "and", "that", "have", "with"])
TOP_N = (2, 3, 4)
DUP_N = (5, 6, 7, 8, 9, 10)
_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")
_HAS_LETTER = re.compile(r"[^\W\d_]")
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


def top_ngram_chars(ids: list[int], lengths: list[int], n: int) -> int:
    """Characters of the most frequent n-gram (joined with spaces) times its count."""
    grams = list(zip(*(ids[i:] for i in range(n))))
    if not grams:
        return 0
    counts = Counter(grams)
    best = max(counts.values())
    first = next(g for g in grams if counts[g] == best)  # Counter.most_common's tie rule
    start = grams.index(first)
    return (sum(lengths[start:start + n]) + n - 1) * best


def dup_ngram_chars(ids: list[int], prefix: list[int], n: int) -> int:
    """Characters in n-grams that repeat an earlier one, scanning greedily (a repeat skips n)."""
    grams = list(zip(*(ids[i:] for i in range(n))))
    if len(set(grams)) == len(grams):  # no n-gram repeats: the usual case, at C speed
        return 0
    seen: set = set()
    chars, i, count = 0, 0, len(grams)
    while i < count:
        gram = grams[i]
        if gram in seen:
            chars += prefix[i + n] - prefix[i]
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars


def gopher_stats(text: str) -> tuple:
    ws = words(text)
    n_all = len(ws)
    content = [w for w in ws if w.isalnum() or not is_symbol_word(w)]
    n_chars = len(text)
    lines = text.splitlines()
    paragraphs = _PARAGRAPHS.split(text.strip())
    para_dups, para_chars = find_duplicates(paragraphs)
    line_list = _LINES.split(text)
    line_dups, line_chars = find_duplicates(line_list)
    vocab: dict[str, int] = {}
    ids = [vocab.setdefault(w, len(vocab)) for w in ws]
    lengths = [len(w) for w in ws]
    prefix = [0, *accumulate(lengths)]
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
        per_word(sum(1 for w in ws if w.isalpha() or _HAS_LETTER.search(w))),
        len(STOP_WORDS.intersection(ws)),
        para_dups / len(paragraphs),
        per_char(para_chars),
        line_dups / len(line_list),
        per_char(line_chars),
        *(per_char(top_ngram_chars(ids, lengths, n)) for n in TOP_N),
        *(per_char(c) for c in dup_ngram_series(ids, prefix)),
    )


def dup_ngram_series(ids: list[int], prefix: list[int]) -> list[int]:
    """dup_ngram_chars for n = 5..10; none repeats at n once none repeats at n - 1."""
    out = []
    for n in DUP_N:
        out.append(dup_ngram_chars(ids, prefix, n) if not out or out[-1] else 0)
    return out


class GopherSignals(TextStatsScorer):
    name = "gopher"
    version = "1"
    inputs = ("text",)
    fields = FIELDS
    stats = staticmethod(gopher_stats)

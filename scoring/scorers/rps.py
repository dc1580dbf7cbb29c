"""The 11 RedPajama-V2 quality signals that Meta-rater uses (scorer `rps`).

Definitions follow togethercomputer/RedPajama-Data (v2), `app/src/core/` (document.py,
quality_signals/{natural_language,repetitions,lines}.py) and `app/src/utilities/text/`.
This module is an independent, vectorized implementation of those definitions; the
values agree with a direct per-document transcription of them (tests/test_scorer_rps.py
checks every signal on every real test document).

Text views (as in RedPajama's `Document`)
-----------------------------------------
- raw: the text as stored.
- normalized: delete the 32 ASCII characters of `string.punctuation`, lowercase
  (`str.lower`), strip and collapse every run of whitespace (`\\s` = `str.isspace`) to
  one space, then Unicode NFD.
- normalized words: the normalized text split on whitespace.
- raw words: the tokens of nltk's WordPunctTokenizer, i.e. the regex `\\w+|[^\\w\\s]+`
  compiled with Python's `re` module, whose `\\w` is `str.isalnum()` or "_" (see below).
- lines: the text split after every "\\n" (the "\\n" stays with its line, a last line
  without "\\n" counts, empty lines such as a lone "\\n" count); a line's normalized form
  is the normalization above applied to that line alone.

Signals (all float32; RedPajama rounds ratios to 8 decimals, so does this module)
---------------------------------------------------------------------------------
- rps_doc_word_count: number of normalized words.
- rps_doc_num_sentences: number of matches of `\\b[^.!?]+[.!?]*` in the raw text.
- rps_doc_mean_word_length: characters in normalized words / number of them.
- rps_doc_unigram_entropy: sum over distinct normalized words of -(c/N)·ln(c/N).
- rps_doc_frac_unique_words: distinct normalized words / normalized words.
- rps_doc_frac_no_alph_words: 1 - (raw words containing an ASCII letter [a-zA-Z]) /
  (raw words).
- rps_doc_frac_chars_top_{2,3}gram: take the most frequent word n-gram of the normalized
  words (overlapping windows; ties go to the n-gram seen first, as Counter.most_common
  does); if it occurs at least twice: (characters of its n words) × (its count) /
  (characters of all normalized words), else 0. Overlapping repeats can push this above
  1 (at most n), exactly as upstream.
- rps_lines_uppercase_letter_fraction: per raw line, characters with `str.isupper()` /
  line length including its "\\n"; averaged over lines.
- rps_lines_numerical_chars_fraction: per normalized line, characters with
  `str.isnumeric()` / normalized line length (0 when that is empty); averaged over lines.
- rps_lines_ending_with_terminal_punctution_mark (upstream spelling): per raw line, 1 if
  the line with trailing whitespace removed ends with ".", "!", "?" or "”", else 0;
  averaged over lines.

Which `\\w`: nltk's `re`, not `regex`
--------------------------------------
RedPajama-Data v2 lists `nltk` without a version (app/requirements.txt) and installs it
into its Docker image (python:3.11.5) with pip; RedPajama-V2 was released in October 2023,
when the newest nltk was 3.8.1 (January 2023; 3.9 followed in August 2024). nltk up to
3.9.2 compiles RegexpTokenizer patterns with `re`; nltk 3.10 compiles them with the
`regex` module, whose `\\w` differs: it leaves out numbers of category No (¾ ² ①), which
`re` counts as word characters, and takes in combining marks (U+0301), which `re` does
not. This column follows `re`, as RedPajama-V2 was computed: "3¾ cups" is two raw words
here ("3¾", "cups": 0.5 without a letter), three with nltk 3.10 ("3", "¾", "cups": 0.667).

From lines to one number per document
-------------------------------------
RedPajama stores the three `rps_lines_*` signals as one (start, end, value) span per line.
Meta-rater and the SlimPajama-Meta-rater release store one scalar per document but publish
no code for the reduction. This module uses the plain (unweighted) mean over all lines,
because (1) that is how RedPajama-V2's own published filtering examples reduce line-level
signals (sum of the per-line values divided by the number of lines, e.g. the Gopher
bullet-point rule in the RedPajama-V2 dataset card); (2) for the terminal-punctuation
signal the plain mean is exactly "the fraction of lines that end in terminal
punctuation", the C4 heuristic the signal comes from; (3) a character-length-weighted
mean would turn the uppercase signal into the document-wide uppercase-character fraction
and drop its per-line nature. Scale: RedPajama's native fractions in [0, 1] are kept
(third-party readers of SlimPajama-Meta-rater report these columns on a 0-100 scale,
which, if true, is this value × 100).

Undefined values
----------------
NaN exactly where RedPajama has no value: the mean word length, entropy, fraction of
unique words (no normalized word), the fraction of no-alphabet words (no raw word), and
the three line signals for a document with no line at all (only the empty text). Where
RedPajama itself says 0 it stays 0 (word and sentence counts, top-n-gram fractions of a
text without a repeated n-gram). A null text is scored as the empty text.

Speed
-----
Documents are processed in chunks of about CHUNK_CHARS characters. Character-level work
(lines, sentences, raw words, per-line ratios) runs in numpy on the UTF-32 code points of
the whole chunk, through per-code-point property tables filled lazily from `str` methods
(so the character classes are exactly Python's). Word-level work lowercases, NFDs and
splits the punctuation-free text of the whole chunk in one call each, numbers each
document's distinct words with one dict per document (the only per-word Python step, in
C through `map`), then uses numpy over the chunk: bincount for the unigram statistics and
one sort per n-gram size for the top n-grams. No Python loop runs per character.
"""

from __future__ import annotations

import string
import unicodedata
from typing import Iterable

import numpy as np
import pyarrow as pa

from winnow.scoring.scorer import Scorer

COLUMNS = (
    "rps_doc_word_count",
    "rps_doc_num_sentences",
    "rps_doc_mean_word_length",
    "rps_doc_unigram_entropy",
    "rps_doc_frac_unique_words",
    "rps_doc_frac_no_alph_words",
    "rps_doc_frac_chars_top_2gram",
    "rps_doc_frac_chars_top_3gram",
    "rps_lines_uppercase_letter_fraction",
    "rps_lines_numerical_chars_fraction",
    "rps_lines_ending_with_terminal_punctution_mark",
)

PRECISION = 8  # upstream rounds ratios to this many decimals
CHUNK_CHARS = 1 << 21  # documents are processed in chunks of about this many characters
_MAX_DIRECT_KEY = (1 << 63) - 1  # n-gram keys beyond this go through dense ranks

# ---- per-code-point property tables --------------------------------------------------

_UPPER, _SPACE, _WORD, _PUNCT, _TERM, _SENT, _ALPHA = (1 << i for i in range(7))
_NCP = 0x110000
_FLAGS = np.zeros(_NCP, np.uint8)
_NORM_LEN = np.zeros(_NCP, np.uint8)  # len(NFD(c.lower())) for a kept non-space char, else 0
_NORM_NUM = np.zeros(_NCP, np.uint8)  # how many of those characters are str.isnumeric()
_KNOWN = np.zeros(_NCP, np.bool_)
_PUNCTUATION = frozenset(string.punctuation)
_TERMINAL = frozenset(".!?\u201d")  # . ! ? and the right double quotation mark
_SENTENCE_END = frozenset(".!?")
_ASCII_LETTERS = frozenset(string.ascii_letters)
_DELETE_PUNCTUATION = str.maketrans("", "", string.punctuation)


def _describe(ch: str) -> tuple[int, int, int]:
    f = 0
    if ch.isupper():
        f |= _UPPER
    if ch.isspace():
        f |= _SPACE
    if ch.isalnum() or ch == "_":  # the `\w` of Python's re for str patterns
        f |= _WORD
    if ch in _PUNCTUATION:
        f |= _PUNCT
    if ch in _TERMINAL:
        f |= _TERM
    if ch in _SENTENCE_END:
        f |= _SENT
    if ch in _ASCII_LETTERS:
        f |= _ALPHA
    if f & (_PUNCT | _SPACE):
        return f, 0, 0
    norm = unicodedata.normalize("NFD", ch.lower())
    return f, len(norm), sum(map(str.isnumeric, norm))


def _learn(codepoints: Iterable[int]) -> None:
    for cp in codepoints:
        cp = int(cp)
        _FLAGS[cp], _NORM_LEN[cp], _NORM_NUM[cp] = _describe(chr(cp))
        _KNOWN[cp] = True


_learn(range(128))


def _ensure_known(cps: np.ndarray) -> None:
    high = cps[cps >= 128]
    if high.size:
        unknown = high[~np.take(_KNOWN, high)]
        if unknown.size:
            _learn(np.unique(unknown).tolist())


# ---- helpers --------------------------------------------------------------------------


def _shifted(x: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """x[i-1] at i, False at 0 and at the positions in `cut` (document starts)."""
    out = np.empty_like(x)
    out[0] = False
    out[1:] = x[:-1]
    out[cut] = False
    return out


def _first_of_runs(positions: np.ndarray, run_ids: np.ndarray) -> np.ndarray:
    """The first of `positions` (ascending) within each distinct (non-decreasing) run id."""
    if positions.size == 0:
        return positions
    keep = np.empty(positions.size, np.bool_)
    keep[0] = True
    np.not_equal(run_ids[1:], run_ids[:-1], out=keep[1:])
    return positions[keep]


def _rounded(x: np.ndarray) -> np.ndarray:
    return np.round(x, PRECISION)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den == 0."""
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


# ---- the signals for one chunk of documents -------------------------------------------


def _chunk_signals(texts: list[str]) -> dict[str, np.ndarray]:
    n = len(texts)
    lens = np.fromiter(map(len, texts), np.int64, n)
    off = np.zeros(n + 1, np.int64)
    np.cumsum(lens, out=off[1:])
    total = int(off[-1])
    nan = np.full(n, np.nan)
    out = {
        "rps_doc_word_count": np.zeros(n),
        "rps_doc_num_sentences": np.zeros(n),
        "rps_doc_mean_word_length": nan.copy(),
        "rps_doc_unigram_entropy": nan.copy(),
        "rps_doc_frac_unique_words": nan.copy(),
        "rps_doc_frac_no_alph_words": nan.copy(),
        "rps_doc_frac_chars_top_2gram": np.zeros(n),
        "rps_doc_frac_chars_top_3gram": np.zeros(n),
        "rps_lines_uppercase_letter_fraction": nan.copy(),
        "rps_lines_numerical_chars_fraction": nan.copy(),
        "rps_lines_ending_with_terminal_punctution_mark": nan.copy(),
    }
    if total == 0:
        return out

    # the chunk as one array of code points (documents back to back) and their classes
    cps = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype="<u4")
    _ensure_known(cps)
    flags = np.take(_FLAGS, cps)
    dstart = off[:-1][lens > 0]  # starts of the non-empty documents, strictly increasing
    dend = off[1:][lens > 0]

    def per_doc(positions: np.ndarray) -> np.ndarray:
        """How many of the (ascending) chunk positions fall in each document."""
        return np.diff(np.searchsorted(positions, off))

    is_space = (flags & _SPACE) != 0
    is_word = (flags & _WORD) != 0  # \w
    is_other = ~(is_word | is_space)
    prev_word = _shifted(is_word, dstart)

    # raw words (\w+|[^\w\s]+): runs of word characters and runs of other non-space ones;
    # runs never continue into the next document (_shifted cuts at document starts). Each
    # segment from one word-run start to the next holds one word run and no other letter.
    word_runs = np.flatnonzero(is_word & ~prev_word)
    n_tokens = per_doc(word_runs) + per_doc(np.flatnonzero(is_other & ~_shifted(is_other, dstart)))
    n_alpha = np.zeros(n, np.int64)
    if word_runs.size:
        with_letter = np.logical_or.reduceat((flags & _ALPHA) != 0, word_runs)
        n_alpha = per_doc(word_runs[with_letter])
    out["rps_doc_frac_no_alph_words"] = _rounded(1.0 - _ratio(n_alpha, n_tokens))
    del word_runs, is_other

    # sentences: a match of \b[^.!?]+[.!?]* starts at the first word boundary inside a run
    # of characters other than .!? and swallows the rest of that run and the .!? after it,
    # so the matches are the runs that contain a word boundary
    not_end = (flags & _SENT) == 0
    runs = np.flatnonzero(not_end & ~_shifted(not_end, dstart))
    if runs.size:
        with_boundary = np.logical_or.reduceat(not_end & (is_word != prev_word), runs)
        out["rps_doc_num_sentences"] = per_doc(runs[with_boundary]).astype(np.float64)
    del not_end, runs, prev_word, is_word

    # lines: one ends after every "\n", and one at the end of a document not ending in "\n";
    # together they tile the chunk, so each line starts where the previous one ends
    ends = np.flatnonzero(cps == 10) + 1
    tails = dend[cps[dend - 1] != 10]
    if tails.size:
        ends = np.sort(np.concatenate([ends, tails]))
    starts = np.zeros_like(ends)
    starts[1:] = ends[:-1]
    line_doc = np.searchsorted(off, starts, side="right") - 1
    n_lines = np.bincount(line_doc, minlength=n)

    def line_mean(values: np.ndarray) -> np.ndarray:
        return _ratio(np.bincount(line_doc, weights=values, minlength=n), n_lines)

    upper = np.add.reduceat((flags & _UPPER) != 0, starts, dtype=np.int64)
    out["rps_lines_uppercase_letter_fraction"] = line_mean(_rounded(upper / (ends - starts)))
    # the last non-whitespace character of each line (before `starts` if there is none):
    # step back over trailing whitespace, a few characters in practice
    last = ends - 1
    pending = np.flatnonzero(is_space[last])
    for _ in range(8):
        if not pending.size:
            break
        last[pending] -= 1
        pending = pending[last[pending] >= starts[pending]]
        pending = pending[is_space[last[pending]]]
    for i in pending.tolist():  # long trailing whitespace: ask str.rstrip
        line = cps[starts[i] : ends[i]].tobytes().decode("utf-32-le", "surrogatepass")
        last[i] = starts[i] + len(line.rstrip()) - 1
    terminal = (last >= starts) & ((flags[np.maximum(last, 0)] & _TERM) != 0)
    out["rps_lines_ending_with_terminal_punctution_mark"] = line_mean(terminal.astype(np.float64))
    del upper, last, pending, terminal, is_space

    # normalized lines, on the kept (non-punctuation) characters: a content character c
    # becomes len(NFD(lower(c))) characters, each gap between two words one space
    keep = (flags & _PUNCT) == 0
    del flags
    kept = cps[keep]
    kept_per_line = np.add.reduceat(keep, starts, dtype=np.int64)
    del keep
    kstarts = np.zeros_like(kept_per_line)  # the lines, in kept positions
    np.cumsum(kept_per_line[:-1], out=kstarts[1:])
    empty_line = kept_per_line == 0
    kept_off = np.zeros(n + 1, np.int64)  # the documents, in kept positions
    np.cumsum(np.bincount(line_doc, weights=kept_per_line, minlength=n).astype(np.int64), out=kept_off[1:])

    def line_sum(values: np.ndarray) -> np.ndarray:
        sums = np.add.reduceat(np.append(values, 0), kstarts, dtype=np.int64)
        sums[empty_line] = 0
        return sums

    norm_len = np.take(_NORM_LEN, kept)
    content = norm_len != 0
    prev_content = np.zeros_like(content)
    prev_content[1:] = content[:-1]
    first_kept = kept_off[:-1]
    prev_content[first_kept[first_kept < kept.size]] = False  # no word runs across documents
    word_starts = np.flatnonzero(content & ~prev_content)  # in kept positions
    del content, prev_content
    words_per_line = np.diff(np.searchsorted(word_starts, kstarts), append=word_starts.size)
    words_per_line[empty_line] = 0
    chars_per_line = line_sum(norm_len) + np.maximum(words_per_line - 1, 0)
    numeric = line_sum(np.take(_NORM_NUM, kept))
    numeric_frac = np.zeros(numeric.shape)
    np.divide(numeric, chars_per_line, out=numeric_frac, where=chars_per_line != 0)
    out["rps_lines_numerical_chars_fraction"] = line_mean(_rounded(numeric_frac))
    n_words = np.bincount(line_doc, weights=words_per_line, minlength=n).astype(np.int64)
    # normalized length of each word: from its start to the next word's start nothing
    # but spaces (length 0) and document separators follow it
    word_len = np.add.reduceat(norm_len, word_starts, dtype=np.int64) if word_starts.size else np.zeros(0, np.int64)
    del norm_len, chars_per_line, numeric, numeric_frac, word_starts
    del starts, ends, line_doc, kstarts, kept_per_line, empty_line

    # normalized words: lowercase, NFD and split the kept text of the whole chunk at once,
    # with a "\n" between documents. Neither lowercasing nor NFD turns a space into a
    # non-space or back (tests check every code point), so the words are the content runs
    # counted above, and each document's words are the next n_words[d] of them.
    kept = np.insert(kept, kept_off[1:-1], 10)
    del cps
    text = kept.tobytes().decode("utf-32-le", "surrogatepass")
    del kept
    words = unicodedata.normalize("NFD", text.lower()).split()
    del text
    if len(words) != n_words.sum():  # unreachable (see above); kept as a safety net
        words, n_words = _split_documents(texts)
        word_len = np.fromiter(map(len, words), np.int64, len(words))
    out["rps_doc_word_count"] = n_words.astype(np.float64)
    n_total = len(words)
    if n_total == 0:
        return out

    # word ids: the chunk position of the word's first occurrence in its document
    gid = np.empty(n_total, np.int64)
    word_off = np.zeros(n + 1, np.int64)
    np.cumsum(n_words, out=word_off[1:])
    bounds = word_off.tolist()
    for d in np.flatnonzero(n_words).tolist():
        a, b = bounds[d], bounds[d + 1]
        gid[a:b] = np.fromiter(map({}.setdefault, words[a:b], range(a, b)), np.int64, b - a)
    del words
    word_doc = np.repeat(np.arange(n), n_words)

    counts = np.bincount(gid, minlength=n_total)
    vocab = np.flatnonzero(counts)  # first occurrences, one per distinct word of a document
    vocab_doc = word_doc[vocab]
    n_vocab = np.diff(np.searchsorted(vocab, word_off))
    chars = np.bincount(word_doc, weights=word_len, minlength=n)
    p = counts[vocab] / n_words[vocab_doc]
    out["rps_doc_mean_word_length"] = _rounded(_ratio(chars, n_words))
    out["rps_doc_frac_unique_words"] = _rounded(_ratio(n_vocab, n_words))
    entropy = np.bincount(vocab_doc, weights=-p * np.log(p), minlength=n)
    out["rps_doc_unigram_entropy"] = _rounded(np.where(n_words > 0, entropy, np.nan))

    cum_chars = np.zeros(n_total + 1, np.int64)
    np.cumsum(word_len, out=cum_chars[1:])
    for size, name in ((2, "rps_doc_frac_chars_top_2gram"), (3, "rps_doc_frac_chars_top_3gram")):
        out[name] = _top_ngram_fraction(gid, word_doc, n_total, cum_chars, chars, size, n)
    return out


def _split_documents(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """Normalized words of each document, one document at a time (the slow, plain way)."""
    words: list[str] = []
    counts = np.zeros(len(texts), np.int64)
    for d, t in enumerate(texts):
        w = unicodedata.normalize("NFD", t.translate(_DELETE_PUNCTUATION).lower()).split()
        counts[d] = len(w)
        words.extend(w)
    return words, counts


def _top_ngram_fraction(gid, word_doc, n_gid, cum_chars, chars, size, n) -> np.ndarray:
    """Per document: chars of its most frequent word n-gram × its count / chars of all words."""
    result = np.zeros(n)
    m = gid.size - size + 1
    if m <= 0:
        return result
    # one int64 key per window of `size` consecutive words. Word ids are distinct per
    # document, so equal keys are equal n-grams of one document; a window straddling two
    # documents has a key of its own that occurs once and so never counts as a top n-gram.
    positional = n_gid ** size <= _MAX_DIRECT_KEY
    if positional:
        key = gid[:m].copy()
        for k in range(1, size):
            key *= n_gid
            key += gid[k : m + k]
    else:  # too many words for a positional key: chain dense ranks of shorter prefixes
        key = gid[:m].copy()
        for k in range(1, size):
            _, rank = np.unique(key, return_inverse=True)
            key = rank.astype(np.int64) * n_gid + gid[k : m + k]
    win_doc = word_doc[:m]  # non-decreasing: windows are in text order

    # keys sort by their first word id, hence by document, with the same number of windows
    # per document as in text order: the i-th smallest key belongs to document win_doc[i]
    ordered = np.sort(key)
    run_start = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    run_count = np.diff(np.append(run_start, ordered.size))
    run_doc = win_doc[run_start]
    group = _first_of_runs(np.arange(run_doc.size), run_doc)
    best = np.zeros(n, np.int64)
    best[run_doc[group]] = np.maximum.reduceat(run_count, group)
    top = (run_count == best[run_doc]) & (run_count > 1)
    if not top.any():
        return result
    top_keys = ordered[run_start[top]]  # ascending
    if positional:  # only windows starting with the first word of a top n-gram can match
        starts_top = np.zeros(n_gid, np.bool_)
        starts_top[top_keys // n_gid ** (size - 1)] = True
        candidates = np.flatnonzero(starts_top[gid[:m]])
    else:
        candidates = np.arange(m)
    at = np.minimum(np.searchsorted(top_keys, key[candidates]), top_keys.size - 1)
    # the first window (in text order) whose n-gram has the document's top count is the
    # first occurrence of the top n-gram seen first: what Counter.most_common(1) returns
    hit = candidates[top_keys[at] == key[candidates]]
    first = _first_of_runs(hit, win_doc[hit])
    d = win_doc[first]
    p0 = first
    ngram_chars = cum_chars[p0 + size] - cum_chars[p0]
    result[d] = _rounded(ngram_chars * best[d] / chars[d])
    return result


def rps_signals(texts: list[str | None]) -> dict[str, np.ndarray]:
    """The 11 signals (float64 arrays, before the float32 cast) for a list of texts."""
    texts = ["" if t is None else t for t in texts]
    if not texts:
        return {c: np.zeros(0) for c in COLUMNS}
    parts: list[dict[str, np.ndarray]] = []
    i = 0
    while i < len(texts):
        j, size = i, 0
        while j < len(texts) and (j == i or size + len(texts[j]) <= CHUNK_CHARS):
            size += len(texts[j])
            j += 1
        parts.append(_chunk_signals(texts[i:j]))
        i = j
    if len(parts) == 1:
        return parts[0]
    return {c: np.concatenate([p[c] for p in parts]) for c in COLUMNS}


class RedPajamaScorer(Scorer):
    """RedPajama-V2 quality signals (the 11 that Meta-rater uses), one float32 column each."""

    name = "rps"
    version = "1"
    inputs = ("text",)

    def outputs(self) -> list[pa.Field]:
        return [pa.field(c, pa.float32()) for c in COLUMNS]

    def score(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        values = rps_signals(batch.column("text").to_pylist())
        return {c: pa.array(values[c].astype(np.float32), type=pa.float32()) for c in COLUMNS}

"""The statistics behind FineWeb's quality filter (scorer `fineweb`), as datatrove's
FineWebQualityFilter computes them over the non-blank lines (split on "\\n").

    fineweb_line_punct_ratio      lines ending in sentence-terminal punctuation
    fineweb_short_line_ratio      lines of at most 30 characters
    fineweb_char_dup_ratio        characters of lines repeating an earlier line / characters
                                  of the text without newlines
    fineweb_newline_word_ratio    newlines per word (datatrove's English words: spaCy's
                                  tokenizer, re-implemented in winnow.scoring.text)

A line ends in sentence-terminal punctuation if its last character is one of datatrove's
TERMINAL_PUNCTUATION (winnow.scoring.text.TERMINALS). The filter's decision, with its
default thresholds, is fineweb_quality_keep in sql/examples/datatrove-filters.sql.
"""

from __future__ import annotations

import pyarrow as pa

from winnow.scoring.scorer import TextStatsScorer
from winnow.scoring.text import TERMINALS, find_duplicates, word_count

SHORT_LINE = 30
NAN = float("nan")
FIELDS = ["fineweb_line_punct_ratio", "fineweb_short_line_ratio", "fineweb_char_dup_ratio",
          "fineweb_newline_word_ratio"]


def fineweb_stats(text: str) -> tuple:
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return NAN, NAN, NAN, NAN
    n = len(lines)
    chars = len(text) - text.count("\n")
    n_words = word_count(text)
    return (
        sum(line.endswith(TERMINALS) for line in lines) / n,
        sum(len(line) <= SHORT_LINE for line in lines) / n,
        find_duplicates(lines)[1] / chars if chars else NAN,
        text.count("\n") / n_words if n_words else NAN,
    )


class FineWebScorer(TextStatsScorer):
    name = "fineweb"
    version = "2"  # 2: spaCy's exact word split, all of datatrove's terminal punctuation
    inputs = ("text",)
    fields = [(name, pa.float32()) for name in FIELDS]
    stats = staticmethod(fineweb_stats)

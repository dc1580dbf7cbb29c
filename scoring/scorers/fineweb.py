"""The statistics behind FineWeb's quality filter (scorer `fineweb`), as datatrove's
FineWebQualityFilter computes them over the non-blank lines (split on "\\n").

    fineweb_line_punct_ratio      lines ending in sentence-terminal punctuation
    fineweb_short_line_ratio      lines of at most 30 characters
    fineweb_char_dup_ratio        characters of lines repeating an earlier line / characters
                                  of the text without newlines
    fineweb_newline_word_ratio    newlines per word (words as winnow.scoring.text splits them)

The filter's defaults: fineweb_line_punct_ratio >= 0.12 AND fineweb_short_line_ratio <= 0.67
AND fineweb_char_dup_ratio <= 0.01 AND fineweb_newline_word_ratio <= 0.3.
"""

from __future__ import annotations

import pyarrow as pa

from winnow.scoring.scorer import TextStatsScorer
from winnow.scoring.text import TERMINALS, find_duplicates, words

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
    n_words = len(words(text))
    return (
        sum(line.endswith(TERMINALS) for line in lines) / n,
        sum(len(line) <= SHORT_LINE for line in lines) / n,
        find_duplicates(lines)[1] / chars if chars else NAN,
        text.count("\n") / n_words if n_words else NAN,
    )


class FineWebSignals(TextStatsScorer):
    name = "fineweb"
    version = "1"
    inputs = ("text",)
    fields = [(name, pa.float32()) for name in FIELDS]
    stats = staticmethod(fineweb_stats)

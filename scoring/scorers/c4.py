"""The statistics behind C4's quality filter (scorer `c4`), as datatrove's C4QualityFilter
applies it line by line (Raffel et al. 2020; tensorflow_datasets c4_utils).

A line is kept when, stripped: no word is over 1,000 characters; (citations like [12]
removed) it ends in . ? ! " or ' but not "..."; it has at least 3 words; it does not
mention javascript; it holds none of the cookie / terms-of-use phrases. A kept-so-far
line with "lorem ipsum" or a curly bracket drops the whole page. `c4_sentences` counts
the sentences of the kept lines as datatrove does, with spaCy's sentencizer over spaCy's
tokens (re-implemented in winnow.scoring.text): "Version 2.0 is out." is one sentence.
The filter's decision, with its default thresholds, is c4_quality_keep in
sql/examples/datatrove-filters.sql:

    c4_lorem_ipsum = 0 AND c4_curly_bracket = 0 AND c4_sentences >= 5

`c4_kept_chars_frac` is the share of the text's characters in kept lines: the filter
also rewrites a kept page to its kept lines, which winnow never does to the text.
"""

from __future__ import annotations

import re

import pyarrow as pa

from winnow.scoring.scorer import TextStatsScorer
from winnow.scoring.text import sentences

CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
END_PUNCTUATION = (".", "?", "!", '"', "'")
POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
MAX_WORD = 1000
MIN_WORDS = 3

FIELDS = [
    ("c4_lines", pa.int32()), ("c4_lines_kept", pa.int32()), ("c4_sentences", pa.int32()),
    ("c4_lorem_ipsum", pa.int8()), ("c4_curly_bracket", pa.int8()), ("c4_javascript_lines", pa.int32()),
    ("c4_policy_lines", pa.int32()), ("c4_kept_chars_frac", pa.float32()),
]


def c4_stats(text: str) -> tuple:
    lines = text.splitlines()
    kept = n_sentences = lorem = curly = javascript = policy = kept_chars = 0
    for raw in lines:
        line = raw.strip()
        ws = line.split()
        if len(line) > MAX_WORD and max(map(len, ws)) > MAX_WORD:
            continue
        line = CITATION.sub("", line)
        if not line.endswith(END_PUNCTUATION) or line.endswith("..."):
            continue
        if len(ws) < MIN_WORDS:
            continue
        low = line.lower()
        if "lorem ipsum" in low:
            lorem = 1
        if "javascript" in low:
            javascript += 1
            continue
        if "{" in line:
            curly = 1
        if any(p in low for p in POLICY):
            policy += 1
            continue
        kept += 1
        kept_chars += len(line)
        n_sentences += sentences(line)
    return (len(lines), kept, n_sentences, lorem, curly, javascript, policy,
            kept_chars / len(text) if text else float("nan"))


class C4Scorer(TextStatsScorer):
    name = "c4"
    version = "2"  # 2: spaCy's sentencizer (winnow.scoring.text.sentences)
    inputs = ("text",)
    fields = FIELDS
    stats = staticmethod(c4_stats)

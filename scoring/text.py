"""Text splitting shared by the heuristic scorers (gopher, c4, fineweb).

datatrove, whose statistics these scorers reproduce, splits English words with spaCy's
tokenizer (and sentences with spaCy's sentencizer): about 40 documents/s here. `words`
approximates spaCy's English rules with one regular expression: whitespace separates
tokens; punctuation is split off on both sides, one character a token (a run of hyphens
or dots is one); hyphens inside words are tokens of their own; "n't", the clitics 's 're
've 'll 'd 'm, and cannot/gonna/gotta are split as spaCy splits them; URLs, numbers with
separators, dotted abbreviations (U.S.) and common abbreviations (Mr.) stay whole. Word
counts differ from spaCy's by about 1%. On the real data in ../shared/data this gives
the same Gopher, C4 and FineWeb keep/drop decisions as datatrove for nearly every document
(tests/test_scorer_heuristics.py states the agreement it requires).
"""

from __future__ import annotations

import re
import string

_ABBREVIATIONS = ("Mr", "Mrs", "Ms", "Dr", "Jr", "Sr", "St", "Sen", "Rep", "Gov", "Gen", "Lt", "Col", "Prof",
                  "Inc", "Ltd", "Co", "Corp", "vs", "v", "Jan", "Feb", "Mar", "Apr", "Aug", "Sept",
                  "Sep", "Oct", "Nov", "Dec", "Mt", "Ft", "approx", "Ave", "Rev")
_WORD = re.compile(
    r"""https?://[^\s"'<>()\[\]]*[^\s"'<>()\[\].,;:!?]   # a URL is one token
      | \w+(?=n[’']t\b)          # "do" of "don't"
      | n[’']t\b                 # "n't"
      | (?<=\w)[’'](?:s|re|ve|ll|d|m)\b   # clitics
      | \b(?:can(?=not\b)|gon(?=na\b)|got(?=ta\b))   # cannot, gonna, gotta
      | (?<=can)not\b|(?<=gon)na\b|(?<=got)ta\b
      | \.\.\.|…                 # an ellipsis is one token
      | \d+(?:[,/:.]\d+)+         # numbers with separators: 500,000  9/06  3:15
      | (?:[^\W\d_]\.){2,}       # dotted abbreviations: U.S.  e.g.  a.m.
      | \b(?:[A-Z]|""" + "|".join(_ABBREVIATIONS) + r""")\.(?!\w)   # W.  Mr.  vs.
      | [^\W_](?:[\w./]*[^\W_])?(?<![.])   # a word: letters/digits, inner dots or slashes
      | _+
      | -+|\.+                    # a run of hyphens or dots is one token
      | [^\w\s]                   # any other character is a token of its own
    """,
    re.X,
)
_SENTENCE = re.compile(r"[^.!?。！？]*[^\s.!?。！？][^.!?。！？]*(?:[.!?。！？]+|$)")

# Characters that make a word a "symbol" word in Gopher's rules (datatrove's punctuation
# set: ASCII punctuation, control characters, common typographic punctuation, sentence
# terminals).
SYMBOLS = frozenset(string.punctuation + "«´»–—‘’“”„…‼‽⁇⁈⁉" + "".join(map(chr, range(32))) + "\x7f"
                    + "".join(map(chr, range(0x80, 0xA0))) + "։؟۔।॥။።。！．？｡﹒﹖﹗")
# Sentence terminals: a line "ends in terminal punctuation" (FineWeb) if it ends in one.
TERMINALS = tuple("!.?։؟۔।॥။።‼‽⁇⁈⁉。！．？｡﹒﹖﹗")


_SPLIT_WORDS = {"cannot": ["can", "not"], "gonna": ["gon", "na"], "gotta": ["got", "ta"]}


def words(text: str) -> list[str]:
    """English words, split like spaCy's tokenizer (see module docstring).

    Chunks between whitespace that are plain letters (most of them) are taken as they are;
    the others go through the regular expression."""
    out: list[str] = []
    append, extend = out.append, out.extend
    for chunk in text.split():
        if chunk.isalpha():
            if chunk in _SPLIT_WORDS:
                extend(_SPLIT_WORDS[chunk])
            else:
                append(chunk)
        else:
            extend(m.group() for m in _WORD.finditer(chunk))
    return out


def sentences(text: str) -> int:
    """How many sentences `text` holds (a run of text ending in . ! ? or the end)."""
    return len(_SENTENCE.findall(text))


def is_symbol_word(word: str) -> bool:
    return all(ch in SYMBOLS for ch in word)


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """(elements, characters) that repeat an element seen earlier."""
    seen: set[str] = set()
    n = chars = 0
    for x in items:
        if x in seen:
            n += 1
            chars += len(x)
        else:
            seen.add(x)
    return n, chars

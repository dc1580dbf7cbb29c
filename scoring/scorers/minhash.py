"""MinHash signatures: `winnow score LAKE minhash [-p ngram=5 -p bands=14 -p rows=8 -p seed=1]`.

    minhash  fixed_size_list<uint32>[bands * rows]  the MinHash signature of the document's
                                                    set of word n-grams (shingles)

`winnow dedup LAKE --method minhash` reads it band by band (scoring/dedup/lsh.py).
The defaults are FineWeb's (datatrove `MinhashConfig`: word 5-grams, 14 bands x 8 rows,
112 hashes). The shingles follow datatrove's `MinhashDedupSignature.get_shingles`
(huggingface/datatrove, src/datatrove/pipeline/dedup/minhash.py, with `simplify_text` of
src/datatrove/utils/text.py and its English word tokenizer), so that the two find the
same clusters:

1. the text is lowercased; every run of digits, with one decimal part after one of
   `.,،٫⎖⎗⎘`, becomes "0";
2. punctuation becomes a space: datatrove's PUNCTUATION list, i.e. every ASCII character
   that is not a letter, digit or space, the control characters, and the CJK and typographic
   marks listed in `_OTHER_PUNCTUATION` below (other Unicode symbols stay);
3. whitespace runs become one space; accents are removed (NFD, combining marks dropped);
4. the words are spaCy's English tokens (scoring/text.py `words`: the same split datatrove's
   SpaCyTokenizer gives, without spaCy), e.g. "cannot" -> can not;
5. the shingles are the distinct runs of `ngram` consecutive words, joined by one space.

A text with fewer than `ngram` words has no shingle. Its signature is defined: every
value 2**32 - 1 (the empty set's MinHash), and dedup never puts such a row in a cluster
(datatrove writes no signature for it, so it is never a duplicate there either). An empty
text gets it too; nothing raises.

Library: rensa 0.5.0 (`RMinHash.digest_matrix_from_token_sets`, Rust, 32-bit slots), chosen
over datasketch 2.0.0 by measurement on the same 2,000 real documents (the 1,717 of
../shared/data and ../shared/labels, and 283 resampled from their paragraphs, seed 0; 112
hashes; 2 shared cores): signatures from the shingles at 11,600-14,000 docs/s with rensa
against 600 docs/s with datasketch (`MinHash.update_batch`, sha1 per shingle); with the
shingling, 440-480 against 260-270 docs/s. Fidelity, on 3,000 pairs (a document and a copy
with 0-30% of its words edited, exact Jaccard spread over [0, 1]): estimate minus exact
Jaccard, MAE 0.021 / RMSE 0.031 with rensa, 0.023 / 0.035 with datasketch (the binomial
bound sqrt(J(1-J)/112) is 0.034 RMS). So rensa: at least as faithful, and the signatures
cost little beside the text normalization.

uint32, not uint64: rensa's slots are 32-bit (datasketch's default sha1_hash32 values also
fit in 32 bits), so a signature is 448 bytes (112 x 4) instead of 896; a chance equality
of two 32-bit minima (2**-32 per slot) does not move an estimate, and a band of 8 values
is 256 bits, so chance band collisions do not occur at any lake size.
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from itertools import chain

import numpy as np
import pyarrow as pa

from winnow.scoring.scorer import Param, Scorer
from winnow.scoring.text import JOINED, SPECIAL_CASES, words

EMPTY = np.uint32(0xFFFFFFFF)  # every slot of the signature of a text with no shingle

_NUMBERS = re.compile(r"\d+(?:[.,،٫⎖⎗⎘]\d+)?")  # `\d` of a str pattern: Unicode decimal digits (Nd)
_OTHER_PUNCTUATION = "—”％１〈、━【「」，】；“《„’∶´．（–？！：～«〉》）。…►»"
_CONTROLS = "".join(map(chr, [*range(0, 9), *range(11, 32), *range(127, 160)]))
# punctuation becomes a space and whitespace runs one space: one pass over runs of either
_SEPARATORS = re.compile("[" + re.escape(string.punctuation + _OTHER_PUNCTUATION + _CONTROLS) + r"\s]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


@functools.lru_cache(maxsize=65536)
def _without_marks(run: str) -> str:
    """A run of non-ASCII characters without its combining marks (category Mn)."""
    return "".join(c for c in run if unicodedata.category(c) != "Mn")


def normalize(text: str) -> str:
    """`text` as datatrove's `simplify_text` leaves it with its defaults (see the module):
    lowercase, numbers as 0, punctuation as spaces, single spaces, no accents."""
    text = _SEPARATORS.sub(" ", _NUMBERS.sub("0", text.lower())).strip()
    if not text.isascii():
        text = _NON_ASCII.sub(lambda m: _without_marks(m.group()), unicodedata.normalize("NFD", text)).strip()
    return text


# ---- the words of many texts, chunk by chunk ------------------------------------------------
# normalize and words act on each whitespace-separated chunk of the raw text alone (lowercasing
# looks no further than the chunk, numbers and punctuation lie within it, and accents are removed
# character by character), except where spaCy's step 5 joins a special case from pieces, which
# looks at the neighbouring chunks (scoring/text.py). So the words of a text are the words of its
# chunks, each worked out once and cached: a chunk that normalizes to text containing one of the
# special cases step 5 joins ("‘s" and the like, rare) is marked instead, and a text with such a
# chunk takes the whole way, words(normalize(text)).

CHUNK_CACHE_SIZE = 300_000  # raw chunks; about 50 MB. When full, the cache starts over.
_CHUNK_WORDS: dict[str, tuple[str, ...] | None] = {}  # raw chunk -> its words; None: they depend on context
_PUNCTUATION = re.compile("[" + re.escape(string.punctuation + _OTHER_PUNCTUATION + _CONTROLS) + "]+")
_JOINED_CHAR = re.compile("[" + re.escape("".join(sorted({c for j in JOINED for c in j if not c.isalnum()}))) + "]")


def _sub_words(chunk: str):
    """words(chunk) for a chunk of normalized text that holds none of JOINED."""
    return (chunk,) if chunk.isalpha() and chunk not in SPECIAL_CASES else words(chunk)


def _learn(chunks: list[str]) -> None:
    """Caches the words of raw `chunks` (no whitespace in them), normalized all at once: joined
    by newlines, which no step of `normalize` touches, then cut apart again."""
    text = _PUNCTUATION.sub(" ", _NUMBERS.sub("0", "\n".join(chunks).lower()))
    if not text.isascii():
        text = _NON_ASCII.sub(lambda m: _without_marks(m.group()), unicodedata.normalize("NFD", text))
    for chunk, part in zip(chunks, text.split("\n"), strict=True):
        if _JOINED_CHAR.search(part) and any(j in part for j in JOINED):
            _CHUNK_WORDS[chunk] = None
        else:
            _CHUNK_WORDS[chunk] = tuple(chain.from_iterable(map(_sub_words, part.split())))


def text_words(text: str) -> list[str]:
    """words(normalize(text)), from the cached words of its chunks."""
    chunks = text.split()
    for _ in range(2):
        try:
            return list(chain.from_iterable(map(_CHUNK_WORDS.get, chunks)))
        except TypeError:  # None: a chunk not seen yet, or one whose words depend on its neighbours
            new = set(chunks).difference(_CHUNK_WORDS)
            if not new:
                break
            if len(_CHUNK_WORDS) + len(new) > CHUNK_CACHE_SIZE:  # start over (never within a text)
                _CHUNK_WORDS.clear()
                new = set(chunks)
            _learn(list(new))
    return words(normalize(text))


def _ngrams(w: list[str], ngram: int):
    """The runs of `ngram` consecutive words of `w`, each joined by a space (with repeats)."""
    return map(" ".join, zip(*(w[i:] for i in range(ngram))))


def shingles(text: str, ngram: int) -> list[str]:
    """The distinct word n-grams of `text` after `normalize`, joined by a space; none for a
    text with fewer than `ngram` words."""
    return list(set(_ngrams(text_words(text), ngram)))


class MinHash(Scorer):
    """MinHash signatures of word n-grams (rensa), for `winnow dedup --method minhash`."""

    name = "minhash"
    version = "1"
    inputs = ("text",)
    parameters = {
        "ngram": Param(int, 5, "words per shingle (FineWeb: 5)", minimum=1),
        "bands": Param(int, 14, "LSH bands (FineWeb: 14)", minimum=1),
        "rows": Param(int, 8, "hashes per band (FineWeb: 8); the signature has bands x rows", minimum=1),
        "seed": Param(int, 1, "seed of the hash functions (the same for every row of a lake)", minimum=0),
        "column": Param(str, "minhash", "the output column's name"),
    }

    def __init__(self, **params):
        super().__init__(**params)
        if self.hashes > 4096:
            raise ValueError(f"bands x rows = {self.hashes}: at most 4096 hashes")
        if not self.param("column"):
            raise ValueError("column must not be empty")

    @property
    def hashes(self) -> int:
        """The signature's length: bands x rows."""
        return self.param("bands") * self.param("rows")

    def outputs(self) -> list[pa.Field]:
        return [pa.field(self.param("column"), pa.list_(pa.uint32(), self.hashes))]

    def fingerprint(self) -> dict:
        """rensa's algorithm version, recorded with the column: signatures of two versions
        must not be mixed in one column (a new version needs --replace)."""
        from rensa import RMinHash

        return {"rensa_algorithm": RMinHash.ALGORITHM_VERSION}

    def signatures(self, texts: list[str]) -> np.ndarray:
        """The signatures of `texts`: uint32, one row of bands x rows values per text (all
        2**32 - 1 for a text with no shingle)."""
        from rensa import RMinHash

        ngram = self.param("ngram")
        # a shingle's repeats change no minimum: rensa gets them as they come, not made distinct
        sets = [list(_ngrams(text_words(t or ""), ngram)) for t in texts]
        if not sets:
            return np.zeros((0, self.hashes), np.uint32)
        matrix = RMinHash.digest_matrix_from_token_sets(sets, num_perm=self.hashes, seed=self.param("seed"))
        return np.array(matrix.to_rows(), dtype=np.uint32).reshape(len(sets), self.hashes)

    def score(self, batch: pa.RecordBatch):
        sig = self.signatures(batch.column("text").to_pylist())
        column = pa.FixedSizeListArray.from_arrays(pa.array(sig.reshape(-1), pa.uint32()), self.hashes)
        return {self.param("column"): column}

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

Speed (see NOTES in the README's Benchmarks): the words of a text are put together from the
cached words of its whitespace-separated chunks (`spaced_words`; the same words, tested on every
real document and on random text), and the shingles are never built as strings: they are byte
ranges of one buffer, hashed with rensa's own token hash re-done in numpy (`_token_hashes`,
checked against rensa's `hash_token_sets` once per process) and handed to rensa as hashes, with
repeats (a minimum does not change with them). The signatures are bit for bit those of rensa's
`digest_matrix_from_token_sets` over the distinct shingle strings.

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

CHUNK_CACHE_SIZE = 300_000  # raw chunks; about 75 MB (245 bytes each, measured). When full, the cache starts over.
_CHUNK_TEXT: dict[str, str | None] = {}  # raw chunk -> its words joined by spaces; None: they depend on context
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
        if part.isalpha() and part not in SPECIAL_CASES:  # most: one plain word
            _CHUNK_TEXT[chunk] = part
        elif _JOINED_CHAR.search(part) and any(j in part for j in JOINED):
            _CHUNK_TEXT[chunk] = None
        else:
            _CHUNK_TEXT[chunk] = " ".join(chain.from_iterable(map(_sub_words, part.split())))


def spaced_words(text: str) -> str:
    """words(normalize(text)) joined by spaces (one or more), from the cached words of its chunks."""
    chunks = text.split()
    for _ in range(2):
        try:
            return " ".join(map(_CHUNK_TEXT.get, chunks))
        except TypeError:  # None: a chunk not seen yet, or one whose words depend on its neighbours
            new = set(chunks).difference(_CHUNK_TEXT)
            if not new:
                break
            if len(_CHUNK_TEXT) + len(new) > CHUNK_CACHE_SIZE:  # start over (never within a text)
                _CHUNK_TEXT.clear()
                new = set(chunks)
            _learn(list(new))
    return " ".join(words(normalize(text)))


def text_words(text: str) -> list[str]:
    """words(normalize(text)), from the cached words of its chunks."""
    return spaced_words(text).split()


def _ngrams(w: list[str], ngram: int):
    """The runs of `ngram` consecutive words of `w`, each joined by a space (with repeats)."""
    return map(" ".join, zip(*(w[i:] for i in range(ngram))))


def shingles(text: str, ngram: int) -> list[str]:
    """The distinct word n-grams of `text` after `normalize`, joined by a space; none for a
    text with fewer than `ngram` words."""
    return list(set(_ngrams(text_words(text), ngram)))


# ---- rensa's token hash, in numpy --------------------------------------------------------------
# rensa hashes each token's UTF-8 bytes to 64 bits, then permutes those hashes. Building one Python
# string per shingle costs more than all of rensa's work, so the shingles are hashed here instead,
# all at once, as byte ranges of one buffer, with rensa's function for tokens of 8 bytes or more
# (rensa-core utils.rs: `hash_bytes`, then `calculate_hash_fast`), and the hashes go to
# `digest_matrix_from_flat_token_hashes`. `_hashes_are_rensas` checks the function against rensa's
# own `hash_token_sets` once per process; where they differ, the shingles go to rensa as strings.

_U64 = np.uint64
_M32, _S32 = _U64(0xFFFFFFFF), _U64(32)
_SEED1, _SEED2 = _U64(0x243F6A8885A308D3), _U64(0x13198A2E03707344)
_ZERO_COLLAPSE, _K = _U64(0xA4093822299F31D0), _U64(0xF1357AEA2E62A9C5)
HASH_BATCH = 128  # texts hashed together: large enough to amortize numpy's calls, small enough for the cache


def _mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The low and high halves of the 128-bit products x * y, xor-ed (rensa's multiply_mix)."""
    x0, x1, y0, y1 = x & _M32, x >> _S32, y & _M32, y >> _S32
    p01, p10 = x0 * y1, x1 * y0
    mid = ((x0 * y0) >> _S32) + (p01 & _M32) + (p10 & _M32)
    return (x * y) ^ (x1 * y1 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32))


def _token_hashes(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """rensa's 64-bit hashes of the byte ranges buf[s:s + n] (every n >= 8; buf has 8 bytes after
    the last range): 16-byte blocks mixed in turn, then the last 16 bytes."""
    rows = np.lib.stride_tricks.sliding_window_view(buf, 8)

    def read(offsets):  # the little-endian uint64 at each offset
        return rows[offsets].view("<u8")[:, 0]

    first = read(starts)
    long = lengths > 16
    block = _mix(_SEED1 ^ first, _ZERO_COLLAPSE ^ read(starts + 8))
    s0 = np.where(long, _SEED2, _SEED1 ^ first)
    s1 = np.where(long, block, _SEED2)
    more = np.flatnonzero(lengths > 32)
    k = 1
    while len(more):
        at = starts[more] + 16 * k
        block = _mix(s0[more] ^ read(at), _ZERO_COLLAPSE ^ read(at + 8))
        s0[more] = s1[more]
        s1[more] = block
        k += 1
        more = more[lengths[more] > 16 * k + 16]
    s0 ^= np.where(long, read(starts + lengths - 16), _U64(0))
    s1 ^= read(starts + lengths - 8)
    h = (_mix(s0, s1) ^ lengths.astype(_U64)) * _K
    return (h << _U64(26)) | (h >> _U64(38))


def _shingle_hashes(lines: list[str], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """rensa's hashes of the shingles of each of `lines` (words separated by spaces), with repeats,
    line after line, and how many each line has."""
    raw = np.frombuffer("\n".join(lines).encode(), np.uint8)
    space = raw == 32
    # one space between two words, none elsewhere, so that the shingles are byte ranges: the first
    # space after a word stays, then one before a newline or the end goes
    b = raw[~space | np.insert((raw[:-1] != 32) & (raw[:-1] != 10), 0, False)]
    b = b[(b != 32) | np.append(b[1:] != 10, False)]
    edges = np.diff(np.concatenate(([0], (b != 10) & (b != 32), [0])).astype(np.int8))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    counts = np.bincount(np.searchsorted(np.flatnonzero(b == 10), starts), minlength=len(lines))
    n = np.maximum(counts - ngram + 1, 0)
    first = np.cumsum(counts) - counts  # each line's first word
    g = np.arange(int(n.sum())) + np.repeat(first - (np.cumsum(n) - n), n)  # each shingle's first word
    s = starts[g]
    buf = np.concatenate((b, np.zeros(8, np.uint8)))
    return _token_hashes(buf, s, ends[g + ngram - 1] - s), n


@functools.cache
def _hashes_are_rensas() -> bool:
    """Whether _token_hashes gives rensa's own token hashes (on tokens of 8 to 100 bytes)."""
    from rensa import RMinHash

    chars = "abcdefghij klmnop0éü中𝄞"
    tokens = ["".join(chars[(i * 7 + j * j) % len(chars)] for j in range(n)) for i, n in enumerate(range(8, 101))]
    data = "".join(tokens).encode()
    lengths = np.array([len(t.encode()) for t in tokens], np.int64)
    starts = np.cumsum(lengths) - lengths
    ours = _token_hashes(np.frombuffer(data + bytes(8), np.uint8), starts, lengths)
    return np.array_equal(ours, np.array(RMinHash.hash_token_sets([tokens])[0], np.uint64))


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

        ngram, seed = self.param("ngram"), self.param("seed")
        if not texts:
            return np.zeros((0, self.hashes), np.uint32)
        # a shingle's repeats change no minimum: rensa gets them as they come, not made distinct
        lines = [spaced_words(t or "") for t in texts]
        if ngram >= 5 and _hashes_are_rensas():  # a shingle of 5 words has 9 bytes or more
            parts = [_shingle_hashes(lines[i:i + HASH_BATCH], ngram) for i in range(0, len(lines), HASH_BATCH)]
            offsets = np.concatenate(([0], np.cumsum(np.concatenate([n for _, n in parts])))).astype(np.uint64)
            hashes = np.concatenate([h for h, _ in parts])
            matrix = RMinHash.digest_matrix_from_flat_token_hashes(hashes, offsets, self.hashes, seed)
        else:
            sets = [list(_ngrams(line.split(), ngram)) for line in lines]
            matrix = RMinHash.digest_matrix_from_token_sets(sets, num_perm=self.hashes, seed=seed)
        return np.array(matrix.to_rows(), dtype=np.uint32).reshape(len(texts), self.hashes)

    def score(self, batch: pa.RecordBatch):
        sig = self.signatures(batch.column("text").to_pylist())
        column = pa.FixedSizeListArray.from_arrays(pa.array(sig.reshape(-1), pa.uint32()), self.hashes)
        return {self.param("column"): column}

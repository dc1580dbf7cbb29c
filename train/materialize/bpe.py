"""A fast encoder for byte-level BPE tokenizer.json files (GPT-2's kind) that gives exactly
the token ids HF `tokenizers` gives, 2.5-6x faster per core: tiktoken's BPE core, fed the
file's own vocabulary, merges and added tokens. Used by materialization; anything it cannot
prove equal is left to the tokenizer's own library (`byte_level_bpe` returns None).

Why the ids are the same. Both split the text the same way: the added tokens first, then
GPT-2's regex (tokenizers, pre_tokenizers/byte_level.rs; tiktoken's r50k pattern is the
same alternation). Inside a piece they merge differently:
- tokenizers (models/bpe/word.rs, `merge_all`) merges the adjacent pair that is a *merge*
  of lowest merge rank, leftmost first;
- tiktoken (src/lib.rs, `byte_pair_merge`) merges the adjacent pair whose *concatenation*
  has the lowest rank, leftmost first (and takes a piece that is a whole token as it is).
They agree when (1) each merge's token id grows with the merge's rank, so the ranks order
pairs alike, and (2) every token a merge makes is tokenized by the BPE model alone into
itself. (2) rules out an adjacent pair (x, y) that is not a merge but whose concatenation
t is a token: in any run of the merge rule, the parts inside t's span evolve as in a run
on t alone (merges outside the span do not touch it), so that run would stop at [x, y],
not [t]. Both conditions are checked on the file (about 0.3 s for GPT-2's 50,000 merges);
tokens no merge makes (an added token that also sits in the vocabulary) are left out of
tiktoken's ranks, as the merge rule can never make them either. tests/
test_materialize_parallel.py compares both on every Unicode code point and on the real data.

Building and proving GPT-2's encoder costs ~0.5 s, a tenth of a 20,000-document job, so
`fast_encoder` keeps the proved encoder in the user's cache folder and reads it back
(~0.03 s) only when the file's header and checksum say it is whole and of this tokenizer
file, this code and these library versions (tests/test_materialize_cache.py).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from winnow.lake import atomic
from winnow.lake.version import WINNOW_VERSION

# tokenizers' ByteLevel pre-tokenizer regex (pre_tokenizers/byte_level.rs), GPT-2's own
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def byte_chars() -> dict[str, int]:
    """GPT-2's map of the 256 bytes to printable characters, inverted: character -> byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = dict(zip(printable, printable)), 0
    for b in range(256):
        if b not in chars:
            chars[b], extra = 256 + extra, extra + 1
    return {chr(c): b for b, c in chars.items()}


@dataclass
class FastBPE:
    """tiktoken's encoder built from a tokenizer.json; `encode` gives its ids per text. It
    holds the ranks and travels as them; tiktoken's core is built where it first encodes
    (~0.1 s), so a parent whose workers encode never builds it."""

    name: str
    ranks: dict[bytes, int]  # each token's bytes -> its id (the bytes and the merges' tokens)
    special: dict[str, int]  # added tokens, found in the text as they are

    def __getstate__(self) -> dict:
        return {"name": self.name, "ranks": self.ranks, "special": self.special}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    @property
    def encoding(self):
        """The tiktoken.Encoding, built once in this process."""
        built = self.__dict__.get("_encoding")
        if built is None:
            import tiktoken

            built = self.__dict__["_encoding"] = tiktoken.Encoding(
                self.name, pat_str=GPT2_PATTERN, mergeable_ranks=self.ranks, special_tokens=self.special)
        return built

    def encode(self, texts: list[str]) -> list[np.ndarray]:
        """Token ids of each text (uint32), added tokens found in the text included, as
        tokenizers' encode(text, add_special_tokens=False) gives them."""
        enc = self.encoding.encode_to_numpy
        return [enc(text, allowed_special="all") for text in texts]


def byte_level_bpe(tok, check: bool = True) -> tuple[FastBPE | None, str]:
    """(the fast encoder of Tokenizer `tok`, "") when it is a byte-level BPE tokenizer.json
    the fast encoder provably equals, else (None, why not). `check=False` skips the one
    costly check (2 above), for workers of a job whose parent checked the same file."""
    if tok.kind != "tokenizers":
        return None, f"a {tok.kind} tokenizer"
    if find_spec("tiktoken") is None:
        return None, "tiktoken is not installed"
    spec = json.loads(tok.impl.to_str())
    model, pre = spec.get("model") or {}, spec.get("pre_tokenizer") or {}
    shape = (spec.get("normalizer") is None and pre.get("type") == "ByteLevel" and pre.get("use_regex", True)
             and not pre.get("add_prefix_space") and model.get("type") == "BPE" and model.get("dropout") is None
             and not model.get("continuing_subword_prefix") and not model.get("end_of_word_suffix")
             and not model.get("ignore_merges") and not model.get("byte_fallback"))
    if not shape:
        return None, "not a plain byte-level BPE (GPT-2's pre-tokenizer, no normalizer, no dropout)"
    vocab, to_byte = model["vocab"], byte_chars()
    if any(c not in vocab for c in to_byte):
        return None, "a byte is missing from the vocabulary"
    ranks = {bytes([to_byte[c]]): vocab[c] for c in to_byte}
    latin = {ord(c): b for c, b in to_byte.items()}  # a token's characters -> its bytes, as latin-1 code points
    words, tokens = [], []  # what each merge makes
    last = -1
    for merge in model["merges"]:
        a, b = merge.split(" ", 1) if isinstance(merge, str) else merge
        word = a + b
        token = vocab.get(word)
        if token is None or token <= last or a not in vocab or b not in vocab:
            return None, f"merge {a!r} + {b!r}: its token ids do not grow with the merges"
        last = token
        ranks[word.translate(latin).encode("latin-1")] = token
        words.append(word)
        tokens.append(token)
    added = [t for t in spec.get("added_tokens") or [] if t.get("content")]
    if any(t.get("lstrip") or t.get("rstrip") or t.get("single_word") for t in added):
        return None, "an added token strips spaces or matches whole words only"
    contents = [t["content"] for t in added]
    if any(a != b and b.startswith(a) for a in contents for b in contents):
        return None, "an added token is a prefix of another"
    if check:
        model = tok.impl.model
        for word, token in zip(words, tokens):  # the merges' own words, not rebuilt from their bytes
            if [t.id for t in model.tokenize(word)] != [token]:
                return None, f"token {token} is not the BPE of its own bytes"
    return FastBPE(f"winnow-{tok.sha256[:12]}", ranks, {t["content"]: t["id"] for t in added}), ""


CACHE_MAGIC = b"winnow fast BPE cache\n"


def cache_file(tok) -> Path:
    """Where the fast encoder of `tok` is kept: the user's cache folder ($XDG_CACHE_HOME or
    ~/.cache, winnow/), one file per tokenizer file (by its sha256)."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "winnow" / f"bpe-{tok.sha256}.bin"


def _cache_key(tok) -> dict:
    """What the kept encoder depends on: the tokenizer file, this module's code (the rules
    and the proof), winnow's version and the tokenizers library the proof ran on."""
    import tokenizers

    return {"tokenizer_sha256": tok.sha256, "winnow": WINNOW_VERSION, "tokenizers": tokenizers.__version__,
            "code_sha256": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()}


def fast_encoder(tok) -> tuple[FastBPE | None, str]:
    """`byte_level_bpe(tok)`, kept: building and proving GPT-2's encoder costs ~0.5 s, reading
    it back ~0.03 s. The file (`cache_file`) holds the ranks and added tokens after a header
    naming what they depend on (`_cache_key`) and the payload's sha256; a file whose header,
    checksum or sizes do not match (stale, damaged, another tokenizer) is never used: the
    encoder is built and proved again and the file replaced whole (lake/atomic.py). Only a
    tokenizer the proof accepted is kept; a cache folder that cannot be written is passed
    over."""
    if tok.kind != "tokenizers" or find_spec("tiktoken") is None:
        return byte_level_bpe(tok)
    path, key = cache_file(tok), _cache_key(tok)
    fast = read_cache(path, key)
    if fast is not None:
        return fast, ""
    fast, why = byte_level_bpe(tok)
    if fast is not None:
        try:
            _write_cache(path, key, fast)
        except OSError:
            pass
    return fast, why


def _write_cache(path: Path, key: dict, fast: FastBPE) -> None:
    items = sorted(fast.ranks.items(), key=lambda kv: kv[1])
    payload = b"".join([np.array([i for _, i in items], "<u4").tobytes(),
                        np.array([len(b) for b, _ in items], "<u4").tobytes(), *(b for b, _ in items)])
    header = json.dumps({"key": key, "name": fast.name, "special": fast.special, "tokens": len(items),
                         "payload_sha256": hashlib.sha256(payload).hexdigest()}).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.file(path) as f:
        f.write(CACHE_MAGIC + len(header).to_bytes(8, "little") + header + payload)


def read_cache(path: Path, key: dict) -> FastBPE | None:
    """The encoder kept in `path`, when it is whole and was built for `key`; else None."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(CACHE_MAGIC):
        return None
    at = len(CACHE_MAGIC) + 8
    try:
        size = int.from_bytes(data[at - 8:at], "little")
        header = json.loads(data[at:at + size])
        payload = memoryview(data)[at + size:]
        if header["key"] != key or hashlib.sha256(payload).hexdigest() != header["payload_sha256"]:
            return None
        n = int(header["tokens"])
        ids = np.frombuffer(payload, "<u4", n).tolist()
        ends = np.cumsum(np.frombuffer(payload, "<u4", n, offset=4 * n), dtype=np.int64).tolist()
        blob = bytes(payload[8 * n:])
        if n and ends[-1] != len(blob):
            return None
        ranks = dict(zip((blob[a:b] for a, b in zip([0, *ends], ends)), ids))
        special = {str(k): int(v) for k, v in header["special"].items()}
        if len(ranks) != n:
            return None
        return FastBPE(str(header["name"]), ranks, special)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None

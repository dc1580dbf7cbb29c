"""Tokenizers by path or id: a tokenizer.json (HF `tokenizers`), a SentencePiece `.model`,
or a Hugging Face id or folder (AutoTokenizer). One small interface for counting tokens,
materializing shards and checking that shards match the tokenizer a trainer uses.

Encoding adds no special tokens; materialization adds BOS/EOS itself (see shards.py).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from winnow.lake.errors import UsageError
from winnow.lake.extras import missing


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Tokenizer:
    spec: str  # as given: a path or an id
    kind: str  # "tokenizers" | "sentencepiece" | "transformers"
    impl: object
    threads: int = os.cpu_count() or 1

    @property
    def name(self) -> str:
        return Path(self.spec).name if os.path.exists(self.spec) else self.spec

    @cached_property
    def sha256(self) -> str:
        """The identity of the tokenizer: sha256 of its file (of tokenizer.json in a folder)."""
        path = Path(self.spec)
        if path.is_file():
            return file_sha256(path)
        for candidate in ("tokenizer.json", "tokenizer.model", "vocab.json"):
            if (path / candidate).is_file():
                return file_sha256(path / candidate)
        return hashlib.sha256(repr(sorted(self.vocab().items())).encode()).hexdigest()

    @property
    def vocab_size(self) -> int:
        if self.kind == "tokenizers":
            return self.impl.get_vocab_size(with_added_tokens=True)
        if self.kind == "sentencepiece":
            return self.impl.vocab_size()
        return len(self.impl)

    def vocab(self) -> dict:
        if self.kind == "sentencepiece":
            return {self.impl.id_to_piece(i): i for i in range(self.impl.vocab_size())}
        return self.impl.get_vocab()

    @property
    def bos_id(self) -> int | None:
        if self.kind == "sentencepiece":
            return self.impl.bos_id() if self.impl.bos_id() >= 0 else None
        if self.kind == "transformers":
            return self.impl.bos_token_id
        return _first_token(self.impl, ("<s>", "<|begin_of_text|>", "<|endoftext|>", "[CLS]"))

    @property
    def eos_id(self) -> int | None:
        if self.kind == "sentencepiece":
            return self.impl.eos_id() if self.impl.eos_id() >= 0 else None
        if self.kind == "transformers":
            return self.impl.eos_token_id
        return _first_token(self.impl, ("</s>", "<|end_of_text|>", "<|endoftext|>", "[SEP]"))

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, no special tokens added; native threads where the library has them."""
        if self.kind == "tokenizers":
            return [e.ids for e in self.impl.encode_batch(texts, add_special_tokens=False)]
        if self.kind == "sentencepiece":
            return self.impl.encode(texts, num_threads=self.threads)
        return self.impl(texts, add_special_tokens=False)["input_ids"]

    def decode(self, ids: list[int]) -> str:
        if self.kind == "tokenizers":
            return self.impl.decode(ids, skip_special_tokens=False)
        if self.kind == "sentencepiece":
            return self.impl.decode(ids)
        return self.impl.decode(ids)


def _first_token(tok, names) -> int | None:
    for name in names:
        i = tok.token_to_id(name)
        if i is not None:
            return i
    return None


def _from_json(path: str):
    """A tokenizers.Tokenizer without the truncation or padding its file may carry (a model
    folder's tokenizer.json often truncates at 128 or 512 tokens)."""
    from tokenizers import Tokenizer as HFTokenizer

    tok = HFTokenizer.from_file(path)
    tok.no_truncation()
    tok.no_padding()
    return tok


EXPECTED = ("a tokenizer.json file, a SentencePiece .model file, a folder holding a tokenizer, "
            "or a Hugging Face id")


class TokenizerError(UsageError):
    """A tokenizer path or id that does not give a tokenizer."""


def looks_like_path(spec: str) -> bool:
    """Whether a tokenizer or model spec is meant as a path (not a Hugging Face id, which has
    at most one slash and no suffix)."""
    return spec.startswith((".", "~", os.sep, "/")) or spec.endswith((".json", ".model")) or spec.count("/") > 1


def _read_file(spec: str):
    """A tokenizer file by its suffix; another suffix is tried as tokenizer.json, then as .model."""
    kinds = {".json": ["tokenizers"], ".model": ["sentencepiece"]}.get(Path(spec).suffix,
                                                                        ["tokenizers", "sentencepiece"])
    reasons = []
    for kind in kinds:
        try:
            if kind == "tokenizers":
                return Tokenizer(spec, kind, _from_json(spec))
            import sentencepiece

            return Tokenizer(spec, kind, sentencepiece.SentencePieceProcessor(model_file=spec))
        except Exception as e:  # tokenizers raises a bare Exception, sentencepiece a RuntimeError
            what = "tokenizer.json" if kind == "tokenizers" else "SentencePiece .model"
            reasons.append(f"not a {what} ({' '.join(str(e).split())[:160]})")
    raise TokenizerError(f"tokenizer {spec}: {'; '.join(reasons)}; expected {EXPECTED}")


def load_tokenizer(spec: str | os.PathLike) -> Tokenizer:
    """A tokenizer from a tokenizer.json, a SentencePiece .model, or an HF id/folder.

    Anything else is one `TokenizerError` (a UsageError) naming the path and what was expected:
    a path that does not exist, a file that is not a tokenizer, a folder or id that
    transformers cannot load."""
    spec = os.fspath(spec)
    if not spec.strip():
        raise TokenizerError(f"tokenizer path is empty; expected {EXPECTED}")
    if os.path.isfile(spec):
        return _read_file(spec)
    if os.path.isdir(spec) and os.path.isfile(os.path.join(spec, "tokenizer.json")):
        try:
            return Tokenizer(spec, "tokenizers", _from_json(os.path.join(spec, "tokenizer.json")))
        except Exception as e:
            raise TokenizerError(f"tokenizer {spec}: its tokenizer.json cannot be read "
                                 f"({' '.join(str(e).split())[:160]})") from None
    if not os.path.isdir(spec) and looks_like_path(spec):
        raise TokenizerError(f"tokenizer {spec}: no such file or folder; expected {EXPECTED}")
    if missing(["transformers"]):
        raise TokenizerError(f"tokenizer {spec}: not a tokenizer.json or .model file; a folder or a Hugging Face id "
                             "needs the 'raters' extra (transformers not installed): pip install 'winnow[raters]'")
    from transformers import AutoTokenizer
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    what = "a folder that transformers' AutoTokenizer cannot load" if os.path.isdir(spec) else \
        "not a file or folder here, and not a Hugging Face id transformers can load" + (" offline" if offline else "")
    try:
        impl = AutoTokenizer.from_pretrained(spec, local_files_only=offline)
    except Exception as e:  # OSError, ValueError, HFValidationError, ...: all mean "not a tokenizer"
        raise TokenizerError(f"tokenizer {spec}: {what} ({' '.join(str(e).split())[:200]}); "
                             f"expected {EXPECTED}") from None
    return Tokenizer(spec, "transformers", impl)

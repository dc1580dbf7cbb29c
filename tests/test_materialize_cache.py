"""The fast BPE encoder kept in the user's cache folder (train/materialize/bpe.py): read back it
is the encoder built and proved from GPT-2's tokenizer.json, giving HF tokenizers' ids on real
text; a kept file that is damaged, stale (another winnow, tokenizers or code) or of another
tokenizer is never used but built again and replaced whole; a cache folder that cannot be
written is passed over. About 5 s (three builds of GPT-2's encoder)."""

from __future__ import annotations

import json

import numpy as np

from winnow.lake.tokenizer import load_tokenizer
from winnow.train.materialize.bpe import _cache_key, byte_level_bpe, cache_file, fast_encoder, read_cache

from .helpers import OWT, SHARED

GPT2 = str(SHARED / "tokenizers" / "gpt2-tokenizer.json")


def _texts() -> list[str]:
    with open(OWT, encoding="utf-8") as f:
        return [json.loads(line)["text"] for _, line in zip(range(50), f)]


def test_the_kept_encoder_is_the_proved_one_and_a_bad_file_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tok = load_tokenizer(GPT2)
    built, why = byte_level_bpe(tok)
    assert built is not None, why
    path = cache_file(tok)
    assert path.parent == tmp_path / "cache" / "winnow" and not path.exists()

    first, _ = fast_encoder(tok)  # built, proved, kept
    kept = path.read_bytes()
    assert first == built and read_cache(path, _cache_key(tok)) == built
    again, _ = fast_encoder(tok)  # read back
    texts = _texts()
    hf = tok.impl.encode_batch_fast(texts, add_special_tokens=False)
    assert again == built and all(np.array_equal(a, h.ids) for a, h in zip(again.encode(texts), hf))

    damaged = bytearray(kept)
    damaged[-100] ^= 1  # one bit of one token's bytes
    for bad in (bytes(damaged), kept[: len(kept) // 2], b"", kept.replace(b'"winnow": "', b'"winnow": "0.0.0-', 1)):
        path.write_bytes(bad)
        assert read_cache(path, _cache_key(tok)) is None
        assert fast_encoder(tok)[0] == built
        assert path.read_bytes() == kept  # replaced whole

    other = tmp_path / "other.json"  # another tokenizer: GPT-2's file with one more added token
    spec = json.loads(open(GPT2, encoding="utf-8").read())
    spec["added_tokens"].append({**spec["added_tokens"][0], "id": 50257, "content": "<|pad|>"})
    other.write_text(json.dumps(spec))
    tok2 = load_tokenizer(str(other))
    cache_file(tok2).write_bytes(kept)  # GPT-2's kept encoder under the other file's name
    assert read_cache(cache_file(tok2), _cache_key(tok2)) is None
    assert fast_encoder(tok2)[0].special == {"<|endoftext|>": 50256, "<|pad|>": 50257}


def test_a_cache_folder_that_cannot_be_written_is_passed_over(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    tok = load_tokenizer(GPT2)
    fast, why = fast_encoder(tok)
    assert fast is not None, why
    assert fast.encode(["hello world<|endoftext|>"])[0].tolist() == [31373, 995, 50256]

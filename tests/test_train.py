"""Training on real shards: the torchtitan dataloader (rank shares, document boundaries,
exact resume), the metarater-1.3b config, and the real torchtitan Trainer on the CPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import winnow
from winnow.train.launch import TrainReport
from winnow.train.shards import ShardError, open_shards

from .conftest import C4, GITHUB, OWT, SHARED, cli

SP = str(SHARED / "tokenizers" / "llama-style-sp32k.model")
GPT2 = str(SHARED / "tokenizers" / "gpt2-tokenizer.json")
SEQ = 256


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    lake = winnow.init(tmp_path_factory.mktemp("train") / "lake")
    winnow.ingest_files(lake, [str(OWT), str(C4), str(GITHUB)])
    winnow.select(lake, "long", "SELECT id FROM docs WHERE n_chars > 1500")
    return lake


@pytest.fixture(scope="module")
def shards(lake, tmp_path_factory):
    out = tmp_path_factory.mktemp("shards") / "long"
    winnow.materialize(lake, "long", out, tokenizer=SP, shard_tokens=150_000)
    return out


def reference_samples(path, which, seq_len):
    """torchtitan's packing written the plain way: per document, inputs doc[:-1], labels
    doc[1:], positions 0..n-2, laid end to end and cut into samples; positions restart at
    each sample for the document carried over."""
    s = open_shards(path)
    inputs, labels, positions = [], [], []
    for shard, _, doc in s.documents():
        if shard in which:
            doc = doc.astype(np.int64)
            inputs.extend(doc[:-1])
            labels.extend(doc[1:])
            positions.extend(range(len(doc) - 1))
    samples = []
    for j in range(len(inputs) // seq_len):
        window = slice(j * seq_len, (j + 1) * seq_len)
        pos = np.array(positions[window])
        first_new = next((i for i in range(1, seq_len) if pos[i] == 0), seq_len)
        pos[:first_new] -= pos[0]  # as torchtitan's _normalize_positions
        samples.append((np.array(inputs[window]), np.array(labels[window]), pos))
    return samples


def test_samples_match_torchtitans_packing_and_respect_document_boundaries(shards):
    from winnow.train.loader import ShardDataset

    m = json.loads((shards / "manifest.json").read_text())
    n = len(m["shards"])
    assert n >= 4
    ds = ShardDataset(shards, seq_len=SEQ, held_out=1, infinite=False)
    ref = reference_samples(shards, set(range(n - 1)), SEQ)
    got = list(ds)
    assert len(got) == len(ref) == ds.samples
    bos, eos = m["tokenizer"]["bos_id"], m["tokenizer"]["eos_id"]
    boundaries = 0
    for (x, y), (ri, rl, rp) in zip(got, ref):
        inp, lab, pos = x["input"].numpy(), y.numpy(), x["positions"].numpy()
        assert np.array_equal(inp, ri) and np.array_equal(lab, rl) and np.array_equal(pos, rp)
        assert pos[0] == 0 and pos.max() < SEQ
        starts = np.flatnonzero(pos == 0)[1:]  # documents starting inside the sample
        boundaries += len(starts)
        assert (inp[starts] == bos).all()  # a new document starts with BOS ...
        assert (lab[starts - 1] == eos).all()  # ... and the one before ends predicting EOS, never the next BOS
        inside = np.setdiff1d(np.arange(SEQ - 1), starts - 1)
        assert np.array_equal(lab[inside], inp[inside + 1])  # labels are the next input inside a document
        assert (np.diff(pos)[inside] == 1).all()
    assert boundaries > 100
    # the held-out shard is the validation split, and only it
    val = ShardDataset(shards, seq_len=SEQ, split="validation", held_out=1, infinite=False)
    vref = reference_samples(shards, {n - 1}, SEQ)
    assert [s[1].tolist() for s in val] == [r[1].tolist() for r in vref]


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_rank_shares_are_disjoint_and_complete(shards, world):
    from winnow.train.loader import ShardDataset

    ranks = [ShardDataset(shards, seq_len=SEQ, dp_rank=r, dp_world_size=world, held_out=1, infinite=False)
             for r in range(world)]
    samples = ranks[0].samples
    shares = [set(d.share(0).tolist()) for d in ranks]
    assert all(len(s) == samples // world for s in shares)  # every rank the same number of steps
    assert sum(len(s) for s in shares) == len(set().union(*shares))  # disjoint
    assert set().union(*shares) == set(range(samples // world * world))  # complete but for < world left out
    assert samples - samples // world * world < world
    # what each rank yields is its share's samples
    ref = reference_samples(shards, set(range(len(ranks[0].shards.tokens) - 1)), SEQ)
    for d in ranks:
        labels = [y.numpy() for _, y in d]
        assert len(labels) == samples // world
        assert all(np.array_equal(a, ref[j][1]) for a, j in zip(labels, d.share(0)))


@pytest.mark.parametrize("workers", [0, 2])
def test_the_dataloader_resumes_exactly_from_its_state(shards, workers):
    from winnow.train.loader import ShardDataLoader

    def loader():
        cfg = ShardDataLoader.Config(dataset_path=str(shards), split="validation", held_out=1, num_workers=workers)
        return cfg.build(dp_world_size=2, dp_rank=1, seq_len=SEQ, local_batch_size=4)

    dl = loader()
    per_epoch = dl.dataset.per_rank // 4
    it = iter(dl)
    for _ in range(per_epoch - 1):  # stop just before the epoch ends: the next batches cross into epoch 1
        next(it)
    state = dl.state_dict()
    want = [next(it) for _ in range(4)]
    again = loader()
    again.load_state_dict(state)
    got = [b for _, b in zip(range(4), again)]
    for (wx, wy), (gx, gy) in zip(want, got):
        assert torch.equal(wx["input"], gx["input"]) and torch.equal(wx["positions"], gx["positions"])
        assert torch.equal(wy, gy)


def test_the_loader_refuses_shards_of_another_tokenizer_and_a_missing_split(shards, lake, tmp_path):
    from winnow.train.loader import ShardDataLoader, ShardDataset, WinnowTokenizer

    gpt2 = WinnowTokenizer.Config(path=GPT2).build()
    with pytest.raises(ShardError, match="tokenizer mismatch"):
        ShardDataLoader.Config(dataset_path=str(shards)).build(dp_world_size=1, dp_rank=0, tokenizer=gpt2,
                                                                seq_len=SEQ, local_batch_size=1)
    one = tmp_path / "one"
    winnow.materialize(lake, "long", one, tokenizer=SP)
    with pytest.raises(ShardError, match="cannot hold out 1"):
        ShardDataset(one, seq_len=SEQ, held_out=1)


def test_metarater_1_3b_is_the_model_card():
    from winnow.train.config_registry import METARATER_PARAMS, metarater_1_3b

    cfg = metarater_1_3b()
    with torch.device("meta"):
        model = cfg.model_spec.model.build()
    assert sum(p.numel() for p in model.parameters()) == METARATER_PARAMS == 1_345_423_360
    spec = cfg.model_spec.model
    layer = spec.layers[0]
    assert len(spec.layers) == 24 and spec.dim == 2048 and spec.vocab_size == 32_000
    assert layer.attention.n_heads == 16 and layer.attention.n_kv_heads in (16, None)
    assert model.layers["0"].feed_forward.w1.weight.shape == (5504, 2048)
    assert layer.attention.rope.theta == 10_000 and cfg.training.seq_len == 1024
    assert not spec.enable_weight_tying
    assert all(m.bias is None for m in model.modules() if isinstance(m, torch.nn.Linear))
    opt = cfg.optimizer.param_groups[0].optimizer_kwargs
    assert (opt["lr"], opt["betas"], opt["eps"]) == (5e-5, (0.9, 0.95), 1e-8)
    assert cfg.training.global_batch_size * cfg.training.seq_len == 4_194_304


def test_the_launchers_flavor_table_matches_the_config_functions():
    from winnow.train import config_registry, launch

    assert set(launch.FLAVORS) == set(config_registry.FLAVORS)
    for name, (fn, vocab, seq_len) in launch.FLAVORS.items():
        assert getattr(config_registry, fn) is config_registry.FLAVORS[name]
        cfg = config_registry.FLAVORS[name]()
        assert (cfg.model_spec.model.vocab_size, cfg.training.seq_len) == (vocab, seq_len)


def losses(log: str) -> dict[int, float]:
    return TrainReport([], "", "").read(log).losses


def test_cpu_training_with_the_real_trainer_learns_and_resumes_exactly(lake, tmp_path):
    seeded = ["--debug.seed", "0", "--debug.deterministic", "--metrics.disable_color_printing"]
    common = ["--flavor", "tiny", "--tokenizer", SP, "--ngpu", "0"]
    straight = cli("train", lake.uri, "long", *common, "--steps", "8", "--out", tmp_path / "a", *seeded)
    a = losses(straight.stderr)
    assert sorted(a) == list(range(1, 9))
    assert a[8] < a[1] - 0.3, a  # it learns
    assert "validation loss" in straight.stdout and "checkpoints in" in straight.stdout
    # stopped after step 4 of the same 8-step schedule (as a crash would stop it), then run again
    cli("train", lake.uri, "long", *common, "--steps", "4", "--lr_scheduler.total_steps", "8",
        "--out", tmp_path / "b", *seeded)
    resumed = cli("train", lake.uri, "long", *common, "--steps", "8", "--out", tmp_path / "b", *seeded)
    b = losses(resumed.stderr)
    assert "Training starts at step 5" in resumed.stderr
    assert sorted(b) == [5, 6, 7, 8]
    # the same weights, optimizer state and next batches as the run that never stopped
    assert all(abs(b[s] - a[s]) < 1e-4 for s in b), (a, b)


def test_train_refuses_a_vocabulary_larger_than_the_model(lake, tmp_path):
    out = tmp_path / "gpt2"
    winnow.materialize(lake, "long", out, tokenizer=GPT2, shard_tokens=150_000)
    proc = cli("train", lake.uri, out, "--flavor", "tiny", "--ngpu", "0", "--dry-run", check=False)
    assert proc.returncode == 2
    assert "50,257 tokens, more than the 32,000 of flavor tiny" in proc.stderr
    nothing = cli("train", lake.uri, tmp_path / "nope", "--flavor", "tiny", "--tokenizer", SP, "--dry-run", check=False)
    assert nothing.returncode == 2 and "neither a shard folder" in nothing.stderr

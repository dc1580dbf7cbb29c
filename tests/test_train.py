"""Training on real shards: the torchtitan dataloader (rank shares, document boundaries,
exact resume), the metarater-1.3b config, and the real torchtitan Trainer on the CPU."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import torch

import winnow
from winnow.train.llm.launch import TrainResult
from winnow.train.materialize.shards import ShardError, ShardUsageError, open_shards

from .helpers import C4, GITHUB, OWT, SHARED, cli, fails

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
    from winnow.train.llm.loader import ShardDataset

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
    from winnow.train.llm.loader import ShardDataset

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
    from winnow.train.llm.loader import ShardDataLoader

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
    from winnow.train.llm.loader import ShardDataLoader, ShardDataset, WinnowTokenizer

    gpt2 = WinnowTokenizer.Config(path=GPT2).build()
    with pytest.raises(ShardError, match="tokenizer mismatch"):
        ShardDataLoader.Config(dataset_path=str(shards)).build(dp_world_size=1, dp_rank=0, tokenizer=gpt2,
                                                                seq_len=SEQ, local_batch_size=1)
    one = tmp_path / "one"
    winnow.materialize(lake, "long", one, tokenizer=SP)
    with pytest.raises(ShardError, match="cannot hold out 1"):
        ShardDataset(one, seq_len=SEQ, held_out=1)


def test_metarater_1_3b_is_the_model_card():
    from winnow.train.llm.config_registry import METARATER_PARAMS, metarater_1_3b

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
    from winnow.train.llm import config_registry, launch

    assert set(launch.FLAVORS) == set(config_registry.FLAVORS)
    for name, (fn, vocab, seq_len, steps) in launch.FLAVORS.items():
        assert getattr(config_registry, fn) is config_registry.FLAVORS[name]
        cfg = config_registry.FLAVORS[name]()
        assert (cfg.model_spec.model.vocab_size, cfg.training.seq_len, cfg.training.steps) == (vocab, seq_len, steps)


def losses(log: str) -> dict[int, float]:
    return TrainResult([], "", "").read(log).losses


def test_cpu_training_with_the_real_trainer_learns_and_resumes_exactly(lake, tmp_path):
    seeded = ["--debug.seed", "0", "--debug.deterministic", "--metrics.disable_color_printing"]
    common = ["--flavor", "tiny", "--tokenizer", SP, "--ngpu", "0"]
    straight = cli("train", lake.uri, "long", *common, "--steps", "10", "--lr_scheduler.total_steps", "6",
                   "--out", tmp_path / "a", *seeded)
    a = losses(straight.stderr)
    assert sorted(a) == list(range(1, 11))
    assert a[10] < a[1] - 0.3, a  # it learns
    assert "validation loss" in straight.stdout and "checkpoints in" in straight.stdout
    # a 6-step run, then extended to 10 steps: the extension keeps the run's 6-step schedule
    # (recorded in run.json), so it is the straight run above, which never stopped
    cli("train", lake.uri, "long", *common, "--steps", "6", "--out", tmp_path / "b", *seeded)
    assert json.loads((tmp_path / "b" / "run.json").read_text()) == {"flavor": "tiny", "total_steps": 6}
    resumed = cli("train", lake.uri, "long", *common, "--steps", "10", "--out", tmp_path / "b", *seeded)
    assert "--lr_scheduler.total_steps 6" in resumed.stderr.splitlines()[0]  # the printed command
    b = losses(resumed.stderr)
    assert "Training starts at step 7" in resumed.stderr
    assert sorted(b) == [7, 8, 9, 10]
    # the same weights, optimizer state, schedule and next batches as the run that never stopped
    assert all(abs(b[s] - a[s]) < 1e-4 for s in b), (a, b)


def test_train_refuses_a_vocabulary_larger_than_the_model(lake, tmp_path):
    out = tmp_path / "gpt2"
    winnow.materialize(lake, "long", out, tokenizer=GPT2, shard_tokens=150_000)
    proc = cli("train", lake.uri, out, "--flavor", "tiny", "--ngpu", "0", "--dry-run", check=False)
    assert proc.returncode == 2
    assert "50,257 tokens, more than the 32,000 of flavor tiny" in proc.stderr
    nothing = cli("train", lake.uri, tmp_path / "nope", "--flavor", "tiny", "--tokenizer", SP, "--dry-run", check=False)
    assert nothing.returncode == 2 and "neither a shard folder" in nothing.stderr


def test_train_checks_the_tokenizer_against_the_shards_before_torchrun(lake, shards, tmp_path):
    from winnow.train.llm import launch

    run = tmp_path / "run"
    error = fails("train", lake.uri, shards, "--tokenizer", GPT2, "--ngpu", "0", "--dry-run", "--out", run, code=2)
    assert "tokenizer mismatch" in error
    assert "llama-style-sp32k.model" in error and "vocabulary 32,000" in error  # what the shards were made with
    assert "gpt2-tokenizer.json" in error and "vocabulary 50,257" in error  # what was given
    assert not run.exists()
    # a run folder whose shards (materialized from a selection by an earlier run) have another tokenizer
    shutil.copytree(shards, run / "shards")
    with pytest.raises(ShardUsageError, match="tokenizer mismatch: the shards were made with llama-style-sp32k"):
        launch.prepare_shards(lake.uri, "long", run, GPT2, SEQ)
    # a shard folder whose manifest names a tokenizer that is gone
    moved = tmp_path / "moved"
    shutil.copytree(shards, moved)
    m = json.loads((moved / "manifest.json").read_text())
    (moved / "manifest.json").write_text(json.dumps({**m, "tokenizer_path": str(tmp_path / "gone.model")}))
    with pytest.raises(ShardUsageError, match="gone.model \\(from the manifest\\) is gone: pass --tokenizer"):
        launch.prepare_shards(lake.uri, str(moved), run, None, SEQ)


def test_a_resumed_run_keeps_the_length_of_its_schedule(shards, tmp_path):
    from winnow.train.llm import launch

    def option(cmd, key):
        return [cmd[i + 1] for i, a in enumerate(cmd) if a == key]

    run = tmp_path / "run"
    cmd = launch.command("tiny", shards, SP, run, 4, 0)
    assert option(cmd, "--training.steps") == ["4"] and option(cmd, "--lr_scheduler.total_steps") == ["4"]
    assert option(launch.command("tiny", shards, SP, run, None, 0), "--lr_scheduler.total_steps") == ["20"]
    launch.record_run(run, cmd)
    # no checkpoint yet: a new run, a new schedule
    assert option(launch.command("tiny", shards, SP, run, 10, 0), "--lr_scheduler.total_steps") == ["10"]
    (run / "checkpoint" / "step-4").mkdir(parents=True)  # as torchtitan leaves it
    longer = launch.command("tiny", shards, SP, run, 10, 0)
    assert option(longer, "--training.steps") == ["10"] and option(longer, "--lr_scheduler.total_steps") == ["4"]
    replanned = launch.command("tiny", shards, SP, run, 10, 0, extra=["--lr_scheduler.total_steps", "10"])
    assert option(replanned, "--lr_scheduler.total_steps") == ["10"]  # said explicitly: the user's
    with pytest.raises(ShardUsageError, match="holds a checkpoint of flavor tiny, not metarater-1.3b"):
        launch.command("metarater-1.3b", shards, SP, run, 10, 0)
    for bad, message in (({"steps": 0}, "--steps must be > 0"), ({"ngpu": -1}, "--ngpu must be >= 0"),
                         ({"extra": ["--lr_scheduler.total_steps", "x"]}, "--lr_scheduler.total_steps 'x'")):
        kwargs = {"steps": 4, "ngpu": 0, **bad}
        with pytest.raises(winnow.UsageError, match=re.escape(message)):
            launch.command("tiny", shards, SP, tmp_path / "other", kwargs["steps"], kwargs["ngpu"],
                           extra=kwargs.get("extra"))


def test_the_learning_rate_is_held_past_the_end_of_the_schedule():
    """torchtitan's cosine rises again past total_steps; a run extended past its schedule
    trains on at the schedule's last learning rate."""
    from winnow.train.llm.config_registry import tiny

    cfg = tiny()
    cfg.lr_scheduler.total_steps = 4
    optimizers = cfg.optimizer.build(model_parts=[torch.nn.Linear(2, 2)])
    schedulers = cfg.lr_scheduler.build(optimizers=optimizers, training_steps=10)
    lrs = []
    for _ in range(10):
        lrs.append(optimizers.optimizers[0].param_groups[0]["lr"])
        optimizers.step()
        schedulers.step()
    peak = cfg.optimizer.param_groups[0].optimizer_kwargs["lr"]
    assert lrs[:4] == pytest.approx([peak / 2, peak, peak, peak * 0.55])  # warmup 2, cosine to 10%
    assert lrs[4:] == pytest.approx([peak * 0.1] * 6)


def test_loader_workers_give_the_batches_of_the_main_process_across_epochs(shards):
    from winnow.train.llm.loader import ShardDataLoader, ShardDataset

    per_rank = ShardDataset(shards, seq_len=SEQ, split="validation", held_out=1).per_rank
    batch = next(b for b in (3, 5, 7, 11) if per_rank % b)  # an epoch ends inside a batch

    def labels(workers):
        cfg = ShardDataLoader.Config(dataset_path=str(shards), split="validation", held_out=1, num_workers=workers)
        dl = cfg.build(dp_world_size=1, dp_rank=0, seq_len=SEQ, local_batch_size=batch)
        return [y for _, (_, y) in zip(range(2 * per_rank // batch + 2), dl)]  # into the third epoch

    main, two = labels(0), labels(2)
    assert len(main) == len(two) and all(torch.equal(a, b) for a, b in zip(main, two))
    # each sample once per epoch
    first = torch.cat(main)[:per_rank]
    assert len({tuple(x.tolist()) for x in first}) == per_rank


def test_a_failed_training_run_exits_with_an_error(lake, shards, tmp_path):
    proc = cli("train", lake.uri, shards, "--tokenizer", SP, "--ngpu", "0", "--out", tmp_path / "bad",
               "--training.no_such_option", "1", check=False)
    assert proc.returncode == 1, proc
    last = proc.stderr.strip().splitlines()[-1]
    # the run's own reason, not only its exit status
    assert last.startswith("error: training exited with status 1: Unrecognized options: --training.no_such_option"), last
    assert last.endswith(f"the log is {tmp_path / 'bad' / 'train.log'}")


def test_a_damaged_shard_is_refused_before_torchrun_in_one_line(lake, shards, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(shards, damaged)
    with open(damaged / "shard-00001.bin", "r+b") as f:
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 1]))
    run = tmp_path / "run"
    error = fails("train", lake.uri, damaged, "--ngpu", "0", "--steps", "2", "--out", run, code=1)
    assert error.startswith(f"error: {damaged / 'shard-00001.bin'}: checksum mismatch") and "materialize it again" in error
    assert not run.exists()  # no torchrun: it would have written the run folder and its train.log


def test_the_last_error_line_of_a_training_log_is_kept():
    log = """[titan] 2026-12-07 04:40:16,305 - root - WARNING - Error running lspci: [Errno 2] No such file: 'lspci'
[rank0]:     raise ShardError(f"{path}: checksum mismatch")
[rank0]: winnow.train.materialize.shards.ShardError: s/shard-00001.bin: checksum mismatch: materialize it again
torch.distributed.elastic.multiprocessing.errors.ChildFailedError: 
  traceback : Traceback (most recent call last):
  winnow.train.materialize.shards.ShardError: s/shard-00002.bin: checksum mismatch: materialize it again
============================================================"""
    assert TrainResult([], "", "").read(log).error == "ShardError: s/shard-00002.bin: checksum mismatch: materialize it again"
    assert TrainResult([], "", "").read("step: 1 loss: 2.0\nerror: out of memory\n").error == "out of memory"
    assert TrainResult([], "", "").read("step: 1 loss: 2.0\n").error is None

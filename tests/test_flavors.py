"""The proxy flavors (proxy-20m, proxy-60m, proxy-150m): each builds on the meta device with the
parameter count its docstring and the module's table state, within 15% of its nominal size,
with the documented recipe; and proxy-20m trains two steps of the real torchtitan Trainer on
the CPU through `winnow train`."""

from __future__ import annotations

import math

import pytest
import torch

import winnow

from .helpers import OWT, SHARED, cli

SP = str(SHARED / "tokenizers" / "llama-style-sp32k.model")

# flavor -> (nominal size, dim, layers, heads, peak lr, warmup steps, token budget, validation every)
PROXIES = {
    "proxy-20m": (20e6, 256, 4, 4, 1e-3, 100, 400_000_000, 100),
    "proxy-60m": (60e6, 512, 8, 8, 1e-3, 200, 1_200_000_000, 250),
    "proxy-150m": (150e6, 768, 14, 12, 6e-4, 400, 3_000_000_000, 500),
}


@pytest.mark.parametrize("name", PROXIES)
def test_each_proxy_flavor_has_the_documented_parameter_count(name):
    from winnow.train.llm import config_registry
    from winnow.train.llm.config_registry import FLAVORS, PROXY_PARAMS, ffn_width, llama_params

    nominal, dim, layers, heads, *_ = PROXIES[name]
    fn = FLAVORS[name]
    cfg = fn()
    with torch.device("meta"):  # shapes only: nothing is allocated
        model = cfg.model_spec.model.build()
    count = sum(p.numel() for p in model.parameters())
    assert count == PROXY_PARAMS[name] == llama_params(dim=dim, n_layers=layers, vocab_size=32_000)
    assert abs(count - nominal) / nominal < 0.15, (name, count)
    assert f"{count:,} parameters" in fn.__doc__  # the function's docstring says it
    row = next(line for line in config_registry.__doc__.splitlines() if line.strip().startswith(name + " "))
    assert f"{count:,}" in row and f"{2 * 32_000 * dim:,}" in row  # and the module's table, embeddings apart
    # the llama shape of metarater-1.3b, smaller
    spec = cfg.model_spec.model
    assert (spec.dim, len(spec.layers), spec.vocab_size, cfg.training.seq_len) == (dim, layers, 32_000, 1024)
    assert spec.layers[0].attention.n_heads == heads and spec.layers[0].attention.n_kv_heads in (heads, None)
    assert model.layers["0"].feed_forward.w1.weight.shape == (ffn_width(dim), dim)
    assert model.tok_embeddings.weight.shape == model.lm_head.weight.shape == (32_000, dim)
    assert not spec.enable_weight_tying
    assert all(m.bias is None for m in model.modules() if isinstance(m, torch.nn.Linear))


@pytest.mark.parametrize("name", PROXIES)
def test_each_proxy_flavor_has_the_documented_recipe(name):
    from winnow.train.llm.config_registry import FLAVORS, PROXY_GLOBAL_BATCH

    _, _, _, _, lr, warmup, tokens, val_every = PROXIES[name]
    cfg = FLAVORS[name]()
    opt = cfg.optimizer.param_groups[0].optimizer_kwargs
    assert (opt["lr"], opt["betas"], opt["eps"], opt["weight_decay"]) == (lr, (0.9, 0.95), 1e-8, 0.1)
    sched = cfg.lr_scheduler
    assert (sched.warmup_steps, sched.decay_type, sched.min_lr_factor) == (warmup, "cosine", 0.1)
    step_tokens = cfg.training.global_batch_size * cfg.training.seq_len
    assert cfg.training.global_batch_size == PROXY_GLOBAL_BATCH and step_tokens == 262_144
    assert cfg.training.steps == math.ceil(tokens / step_tokens)  # the token budget, rounded up to a step
    assert warmup < cfg.training.steps // 10 and cfg.training.max_norm == 1.0
    assert cfg.validator.enable and cfg.validator.freq == val_every and cfg.validator.steps == 20
    assert 15 <= cfg.training.steps // val_every <= 25  # enough points for a validation curve
    doc = FLAVORS[name].__doc__
    assert f"{cfg.training.steps:,} steps" in doc and f"lr {lr:.0e}".replace("e-0", "e-") in doc


def test_the_proxy_flavors_grow_in_size_and_budget_together():
    from winnow.train.llm.config_registry import FLAVORS, PROXY_PARAMS

    sizes = [PROXY_PARAMS[n] for n in PROXIES]
    steps = [FLAVORS[n]().training.steps for n in PROXIES]
    assert sizes == sorted(sizes) and steps == sorted(steps)
    for n, s in zip(PROXIES, steps):  # ~20 tokens per parameter (Chinchilla)
        assert 18 <= s * 262_144 / PROXY_PARAMS[n] <= 22, n


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("flavors")
    lake = winnow.init(root / "lake")
    winnow.ingest_files(lake, [str(OWT)])
    winnow.select(lake, "long", "SELECT id FROM docs WHERE n_chars > 3000")
    out = root / "shards"
    winnow.materialize(lake, "long", out, tokenizer=SP, seq_len=1024, shard_tokens=60_000)
    return lake, out


def test_proxy_20m_trains_two_steps_on_the_cpu(shards, tmp_path):
    # One sequence of 1,024 per step (the flavor's 256-sequence batch would be 256 micro-batches
    # on a CPU) and one validation batch: ~65 s on 2 busy cores, most of it torchrun and
    # torchtitan starting, as for `tiny`; the flavor's own seq_len 1,024 costs no more than 256.
    lake, out = shards
    run = cli("train", lake.uri, out, "--flavor", "proxy-20m", "--ngpu", "0", "--steps", "2",
              "--out", tmp_path / "run", "--training.local_batch_size", "1", "--training.global_batch_size", "1",
              "--validator.steps", "1", "--metrics.log_freq", "1", "--debug.seed", "0",
              "--metrics.disable_color_printing")
    assert "--config proxy_20m" in run.stderr.splitlines()[0]  # the printed torchrun command
    assert "sequence length 1024" in run.stderr
    assert "trained proxy-20m" in run.stdout and "steps 1-2" in run.stdout and "validation loss" in run.stdout
    assert (tmp_path / "run" / "checkpoint" / "step-2").is_dir()

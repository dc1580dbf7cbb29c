"""torchtitan Trainer configs for training on winnow shards: one function per flavor.

torchtitan loads them by module path, so a winnow run is a plain torchtitan run:

    torchrun --nproc_per_node 8 -m winnow.train.llm.titan \\
        --module winnow.train.llm.config_registry --config metarater_1_3b \\
        --dataloader.dataset_path shards/ --validator.dataloader.dataset_path shards/ \\
        --hf_assets_path tokenizer.model

(`winnow train` writes that command for you; `winnow.train.llm.titan` is `torchtitan.train`
after the shims of `winnow.train.llm.compat`, which this module installs too.)

`metarater_1_3b` is the Meta-rater model card's 1.3B llama-style model: hidden 2,048,
24 layers, 16 heads, 16 KV heads, SwiGLU width 5,504 (8/3 · 2,048 rounded up to a multiple
of 128), RoPE base 10,000, context 1,024, vocabulary 32,000, untied input and output
embeddings, no biases: 1,345,423,360 parameters. Adam β = (0.9, 0.95), ε = 1e-8, learning
rate 5e-5, global batch 4,194,304 tokens (4,096 sequences of 1,024), 30B tokens = 7,153
steps. What the card leaves out is set here, explicitly (see DEFAULTS_NOT_IN_THE_CARD).

The proxy flavors, for comparing selections with small runs (`winnow compare`; Meta-rater's
method trains many such models). Same shape as `metarater_1_3b` (llama-style, seq 1,024,
vocabulary 32,000, untied embeddings, n_kv_heads = n_heads); parameters counted exactly,
embeddings included (`llama_params`, checked on the meta device by tests/test_flavors.py):

    flavor      dim  layers heads  SwiGLU  parameters   of which embeddings  peak lr  warmup  steps   tokens
    proxy-20m   256    4      4      768   19,794,176   16,384,000           1e-3      100    1,526   0.4B
    proxy-60m   512    8      8    1,408   58,466,816   32,768,000           1e-3      200    4,578   1.2B
    proxy-150m  768   14     12    2,048  148,264,704   49,152,000           6e-4      400   11,445   3.0B

All three: global batch 256 × 1,024 = 262,144 tokens per step, AdamW β = (0.9, 0.95),
ε = 1e-8, weight decay 0.1, gradient clipping 1.0, cosine decay to 10% of the peak (held
there past the schedule's end), a token budget of ~20 tokens per parameter (Chinchilla),
see PROXY_HYPERPARAMETERS for where each value comes from.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from winnow.train.llm import compat

compat.install()  # before torchtitan is imported: what an older torch lacks (winnow.train.llm.compat)

from torchtitan.components.checkpoint import CheckpointManager
from torchtitan.components.loss import ChunkedLossWrapper, CrossEntropyLoss
from torchtitan.components.metrics import MetricsProcessor
from torchtitan.components.optimizer import LRSchedulersContainer, default_adamw
from torchtitan.components.validate import Validator
from torchtitan.config import ParallelismConfig, TrainingConfig
from torchtitan.distributed.activation_checkpoint import SelectiveAC
from torchtitan.distributed.pipeline_parallel import pipeline_llm
from torchtitan.models.common import ComplexRoPE, Embedding, Linear, RMSNorm
from torchtitan.models.llama3 import (
    _EMBEDDING_INIT,
    _NORM_INIT,
    Llama3StateDictAdapter,
    _build_llama3_layers,
    _output_linear_init,
    parallelize_llama,
)
from torchtitan.models.llama3.model import Llama3Model
from torchtitan.protocols.model_spec import ModelSpec
from torchtitan.trainer import Trainer

from winnow.train.llm.loader import ShardDataLoader, WinnowTokenizer

METARATER_PARAMS = 1_345_423_360

# What the Meta-rater card does not say, and what winnow uses for it.
DEFAULTS_NOT_IN_THE_CARD = {
    "weight_decay": 0.1,  # AdamW, the usual llama-style value
    "warmup_steps": 100,  # ~1.4% of 7,153 steps
    "decay": "cosine to 10% of the peak learning rate, held there past the schedule's end",
    "max_grad_norm": 1.0,
    "precision": "bf16 parameters and activations under FSDP, fp32 gradient reduction and master weights",
    "local_batch_size": 16,  # sequences per GPU per micro-batch; gradient accumulation makes up the rest
    "steps": 7153,  # 30B tokens / 4,194,304 tokens per step, rounded up
    "validation": "every 500 steps, 20 batches of the held-out last shard",
    "checkpoint": "every 500 steps, full state (model, optimizer, scheduler, dataloader)",
    "init": "torchtitan's llama3 initialization (depth-scaled output projections)",
}


@dataclass(kw_only=True, slots=True)
class HeldLRSchedule(LRSchedulersContainer.Config):
    """torchtitan's warmup + decay schedule over `total_steps` (default: training.steps), held
    at its last value after that: torchtitan's cosine would rise again past its end. So a run
    extended past its schedule (`winnow train` keeps a resumed run's total_steps) trains on
    at the final learning rate."""

    def build(self, *, optimizers, training_steps):
        container = LRSchedulersContainer.Config.build(self, optimizers=optimizers, training_steps=training_steps)
        total = self.total_steps if self.total_steps is not None else training_steps
        for scheduler in container.schedulers:
            scheduler.lr_lambdas = [functools.partial(_held, fn, total) for fn in scheduler.lr_lambdas]
        return container


def _held(fn, total: int, step: int) -> float:
    return fn(min(step, total))


def ffn_width(dim: int, multiple_of: int = 128) -> int:
    """SwiGLU hidden width: 8/3 · dim rounded up to a multiple (5,504 for 2,048)."""
    return multiple_of * math.ceil(8 * dim / 3 / multiple_of)


def llama(flavor: str, *, dim: int, n_layers: int, n_heads: int, n_kv_heads: int, vocab_size: int,
          max_seq_len: int, rope_theta: float = 10_000.0, attn_backend: str = "flex") -> ModelSpec:
    """A llama-style decoder (RMSNorm, SwiGLU, RoPE, untied embeddings, no biases)."""
    model = Llama3Model.Config(
        dim=dim,
        vocab_size=vocab_size,
        enable_weight_tying=False,
        tok_embeddings=Embedding.Config(num_embeddings=vocab_size, embedding_dim=dim, param_init=_EMBEDDING_INIT),
        norm=RMSNorm.Config(normalized_shape=dim, param_init=_NORM_INIT),
        lm_head=Linear.Config(in_features=dim, out_features=vocab_size, param_init=_output_linear_init(dim)),
        layers=_build_llama3_layers(
            n_layers=n_layers, dim=dim, n_heads=n_heads, n_kv_heads=n_kv_heads, hidden_dim=ffn_width(dim),
            rope=ComplexRoPE.Config(dim=dim // n_heads, max_seq_len=max_seq_len, theta=rope_theta, scaling="none"),
            fuse_qkv=True, attn_backend=attn_backend),
    )
    return ModelSpec(name="llama3", flavor=flavor, model=model, parallelize_fn=parallelize_llama,
                     pipelining_fn=pipeline_llm, post_optimizer_build_fn=None,
                     state_dict_adapter=Llama3StateDictAdapter)


def _trainer(spec: ModelSpec, *, lr: float, warmup: int, steps: int, seq_len: int, local_batch: int,
             global_batch: int, val_every: int, val_batches: int, ckpt_every: int, log_every: int,
             weight_decay: float = 0.1, min_lr_factor: float = 0.1) -> Trainer.Config:
    loss = CrossEntropyLoss.Config(global_vocab_size=spec.model.vocab_size)
    return Trainer.Config(
        model_spec=spec,
        hf_assets_path="",
        tokenizer=WinnowTokenizer.Config(),
        loss=ChunkedLossWrapper.Config(loss_fn=loss) if compat.CHUNKED_LOSS else loss,  # see compat.CHUNKED_LOSS
        optimizer=default_adamw(lr=lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=weight_decay),
        lr_scheduler=HeldLRSchedule(warmup_steps=warmup, decay_type="cosine", min_lr_factor=min_lr_factor),
        training=TrainingConfig(local_batch_size=local_batch, global_batch_size=global_batch, seq_len=seq_len,
                                steps=steps, max_norm=1.0),
        dataloader=ShardDataLoader.Config(split="train", held_out=1),
        validator=Validator.Config(enable=True, freq=val_every, steps=val_batches,
                                   dataloader=ShardDataLoader.Config(split="validation", held_out=1,
                                                                     infinite=False)),
        metrics=MetricsProcessor.Config(log_freq=log_every),
        parallelism=ParallelismConfig(),
        checkpoint=CheckpointManager.Config(enable=True, interval=ckpt_every, last_save_model_only=False,
                                            initial_load_model_only=False),
        activation_checkpoint=SelectiveAC.Config(),
        dump_folder="./outputs",
    )


def metarater_1_3b() -> Trainer.Config:
    """The Meta-rater 1.3B model and optimizer, 30B tokens at 4,194,304 tokens per step."""
    seq_len = 1024
    spec = llama("metarater-1.3b", dim=2048, n_layers=24, n_heads=16, n_kv_heads=16, vocab_size=32_000,
                 max_seq_len=seq_len, rope_theta=10_000.0)
    return _trainer(spec, lr=5e-5, warmup=DEFAULTS_NOT_IN_THE_CARD["warmup_steps"],
                    steps=DEFAULTS_NOT_IN_THE_CARD["steps"], seq_len=seq_len,
                    local_batch=DEFAULTS_NOT_IN_THE_CARD["local_batch_size"],
                    global_batch=4_194_304 // seq_len, val_every=500, val_batches=20, ckpt_every=500,
                    log_every=10, weight_decay=DEFAULTS_NOT_IN_THE_CARD["weight_decay"])


def tiny() -> Trainer.Config:
    """A 2-layer, 128-wide model of the same shape, for tests and CPU smoke runs (32k vocabulary)."""
    seq_len = 256
    spec = llama("tiny", dim=128, n_layers=2, n_heads=4, n_kv_heads=4, vocab_size=32_000, max_seq_len=seq_len)
    return _trainer(spec, lr=3e-3, warmup=2, steps=20, seq_len=seq_len, local_batch=4, global_batch=-1,
                    val_every=10, val_batches=2, ckpt_every=10, log_every=1)


FLAVORS = {"tiny": tiny, "metarater-1.3b": metarater_1_3b}


def llama_params(*, dim: int, n_layers: int, vocab_size: int) -> int:
    """The exact parameter count of `llama(...)` with n_kv_heads = n_heads: untied input and
    output embeddings (2·V·d), the final norm (d), and per layer attention (4·d²), SwiGLU
    (3·d·ffn_width(d)) and two norms (2·d); no biases. Returns an int."""
    return 2 * vocab_size * dim + dim + n_layers * (4 * dim * dim + 3 * dim * ffn_width(dim) + 2 * dim)


# flavor -> its exact parameter count, embeddings included (tests/test_flavors.py builds each
# model on the meta device and counts)
PROXY_PARAMS = {"proxy-20m": 19_794_176, "proxy-60m": 58_466_816, "proxy-150m": 148_264_704}

# Where the proxy flavors' values come from. Meta-rater's public repository and model cards
# (opendatalab/Meta-rater README.md, the meta-rater-1b-* cards) say only that the weights were
# learned from 256 proxy models and a regression of validation loss on the weights; the
# proxies' size, token budget and optimizer are not in them, so the values below are chosen:
PROXY_HYPERPARAMETERS = {
    "shape": "metarater_1_3b's (llama-style, seq 1,024, vocabulary 32,000, untied), smaller: the proxies "
             "rank data for that model, so they share its tokenizer, context and architecture",
    "peak_lr": "Pythia's for its sizes (EleutherAI/pythia models/70M/pythia-70m.yml: 1e-3, "
               "models/160M/pythia-160m.yml: 6e-4): 1e-3 up to 60M, 6e-4 at 150M",
    "min_lr": "10% of the peak, as Pythia's min_lr and metarater_1_3b here",
    "schedule": "linear warmup, cosine decay over the run, held at its end (HeldLRSchedule)",
    "warmup_steps": "100 / 200 / 400 (6.6% / 4.4% / 3.5% of the steps): Pythia's 1% is 15 steps at 20M, "
                    "too short for a 1e-3 peak",
    "global_batch": "256 sequences × 1,024 = 262,144 tokens for all three (Pythia: 2M tokens, but over "
                    "143k steps; a 0.4B-token proxy run at 2M tokens would be 191 steps); one batch for every "
                    "size keeps compare's token axes aligned",
    "weight_decay": "0.1 (Pythia, metarater_1_3b here)",
    "betas_eps": "(0.9, 0.95), 1e-8 (the Meta-rater card, Pythia)",
    "max_grad_norm": "1.0 (Pythia)",
    "tokens": "~20 tokens per parameter (Chinchilla, Hoffmann et al. 2022), rounded: 0.4B / 1.2B / 3B",
    "steps": "ceil(tokens / 262,144): 1,526 / 4,578 / 11,445",
    "validation": "every 100 / 250 / 500 steps (~15-23 points per curve), 20 batches",
    "local_batch_size": "32 sequences per GPU per micro-batch (8 GPUs: no accumulation; 1 GPU: 8 micro-batches)",
}

PROXY_GLOBAL_BATCH = 256  # sequences of 1,024 tokens: 262,144 tokens per step


def _proxy(flavor: str, *, dim: int, n_layers: int, n_heads: int, lr: float, warmup: int, tokens: int,
           val_every: int, ckpt_every: int) -> Trainer.Config:
    """A proxy flavor: the llama shape at seq 1,024 and vocabulary 32,000, trained for
    ceil(tokens / 262,144) steps with the shared proxy recipe (PROXY_HYPERPARAMETERS)."""
    seq_len = 1024
    spec = llama(flavor, dim=dim, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_heads, vocab_size=32_000,
                 max_seq_len=seq_len)
    steps = math.ceil(tokens / (PROXY_GLOBAL_BATCH * seq_len))
    return _trainer(spec, lr=lr, warmup=warmup, steps=steps, seq_len=seq_len, local_batch=32,
                    global_batch=PROXY_GLOBAL_BATCH, val_every=val_every, val_batches=20, ckpt_every=ckpt_every,
                    log_every=10, weight_decay=0.1, min_lr_factor=0.1)


def proxy_20m() -> Trainer.Config:
    """19,794,176 parameters (16,384,000 of them embeddings): dim 256, 4 layers, 4 heads, SwiGLU
    768; lr 1e-3, 100 warmup steps, 0.4B tokens = 1,526 steps of 262,144, validation every 100."""
    return _proxy("proxy-20m", dim=256, n_layers=4, n_heads=4, lr=1e-3, warmup=100, tokens=400_000_000,
                  val_every=100, ckpt_every=500)


def proxy_60m() -> Trainer.Config:
    """58,466,816 parameters (32,768,000 of them embeddings): dim 512, 8 layers, 8 heads, SwiGLU
    1,408; lr 1e-3, 200 warmup steps, 1.2B tokens = 4,578 steps of 262,144, validation every 250."""
    return _proxy("proxy-60m", dim=512, n_layers=8, n_heads=8, lr=1e-3, warmup=200, tokens=1_200_000_000,
                  val_every=250, ckpt_every=1000)


def proxy_150m() -> Trainer.Config:
    """148,264,704 parameters (49,152,000 of them embeddings): dim 768, 14 layers, 12 heads, SwiGLU
    2,048; lr 6e-4, 400 warmup steps, 3B tokens = 11,445 steps of 262,144, validation every 500."""
    return _proxy("proxy-150m", dim=768, n_layers=14, n_heads=12, lr=6e-4, warmup=400, tokens=3_000_000_000,
                  val_every=500, ckpt_every=1000)


FLAVORS.update({"proxy-20m": proxy_20m, "proxy-60m": proxy_60m, "proxy-150m": proxy_150m})

"""torchtitan Trainer configs for training on winnow shards: one function per flavor.

torchtitan loads them by module path, so a winnow run is a plain torchtitan run:

    torchrun --nproc_per_node 8 -m torchtitan.train \\
        --module winnow.train.config_registry --config metarater_1_3b \\
        --dataloader.dataset_path shards/ --validator.dataloader.dataset_path shards/ \\
        --hf_assets_path tokenizer.model

(`winnow train` writes that command for you.)

`metarater_1_3b` is the Meta-rater model card's 1.3B llama-style model: hidden 2,048,
24 layers, 16 heads, 16 KV heads, SwiGLU width 5,504 (8/3 · 2,048 rounded up to a multiple
of 128), RoPE base 10,000, context 1,024, vocabulary 32,000, untied input and output
embeddings, no biases: 1,345,423,360 parameters. Adam β = (0.9, 0.95), ε = 1e-8, learning
rate 5e-5, global batch 4,194,304 tokens (4,096 sequences of 1,024), 30B tokens = 7,153
steps. What the card leaves out is set here, explicitly (see DEFAULTS_NOT_IN_THE_CARD).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

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

from .loader import ShardDataLoader, WinnowTokenizer

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
    return Trainer.Config(
        model_spec=spec,
        hf_assets_path="",
        tokenizer=WinnowTokenizer.Config(),
        loss=ChunkedLossWrapper.Config(loss_fn=CrossEntropyLoss.Config(global_vocab_size=spec.model.vocab_size)),
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

"""CPU smoke runs of the real torchtitan Trainer; refuses to run where a GPU is visible.

torchtitan 0.3.0 does not train on a CPU as shipped, for two reasons, and this module is
the whole adaptation:

1. It picks its device when `torchtitan.tools.utils` is imported
   (`_get_available_device_type() or "cuda"`): with no accelerator it still says "cuda".
   Here that import sees device type "cpu" and a device module that is `torch.cpu` plus
   the memory queries torchtitan's metrics make (answered with this process's RSS and
   the machine's RAM).
2. FlexAttention has no CPU backward ("FlexAttention does not support backward on CPU").
   Here every FlexAttention in the model becomes `CpuFlexAttention`: the Trainer builds the
   same BlockMask from the loader's positions, and its mask_mod (causal and same-document)
   is evaluated densely and handed to `scaled_dot_product_attention`, which has a CPU
   backward. Same mask, same math, O(seq_len²) memory: fine for the tiny flavor.

Everything else is torchtitan's: the Trainer, model, loss, optimizer, scheduler,
checkpointing and validation, driven by the same config functions as a GPU run.

    python -m winnow.train.llm.cpu --module winnow.train.llm.config_registry --config tiny \\
        --dataloader.dataset_path shards/ --validator.dataloader.dataset_path shards/ \\
        --hf_assets_path tokenizer.model
"""

from __future__ import annotations

import os
import resource
import sys
import types

import torch
import torch._utils

if "torchtitan.tools.utils" in sys.modules:
    raise ImportError("winnow.train.llm.cpu must be imported before torchtitan (torchtitan picks its device at import)")

from winnow.train.llm import compat  # noqa: E402  (before torchtitan: what an older torch lacks)

compat.install()


def _cpu_device_module() -> types.SimpleNamespace:
    def memory_stats(device=None) -> dict:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return {"active_bytes.all.peak": peak, "reserved_bytes.all.peak": peak,
                "num_alloc_retries": 0, "num_ooms": 0}

    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return types.SimpleNamespace(
        **{name: getattr(torch.cpu, name) for name in ("device_count", "is_available",
                                                      "set_device", "synchronize", "Stream", "Event")},
        current_device=lambda: 0,  # an index, as c10d's barrier(device_ids=...) wants
        get_device_name=lambda device=None: "cpu",
        get_device_properties=lambda device=None: types.SimpleNamespace(total_memory=ram, name="cpu"),
        memory_stats=memory_stats,
        reset_peak_memory_stats=lambda device=None: None,
        empty_cache=lambda: None,
        manual_seed=torch.manual_seed,
        manual_seed_all=torch.manual_seed,
    )


_detect, _module = torch._utils._get_available_device_type, torch._utils._get_device_module
torch._utils._get_available_device_type = lambda: "cpu"
torch._utils._get_device_module = lambda device_type=None: _cpu_device_module()
try:
    import torchtitan.tools.utils  # noqa: E402  (reads the two functions above, once)
finally:
    torch._utils._get_available_device_type, torch._utils._get_device_module = _detect, _module

from dataclasses import dataclass  # noqa: E402

import torch.nn.functional as F  # noqa: E402
from torch.nn.attention.flex_attention import BlockMask  # noqa: E402
from torchtitan.models.common.attention import FlexAttention  # noqa: E402

assert torchtitan.tools.utils.device_type == "cpu"


class CpuFlexAttention(FlexAttention):
    """FlexAttention's interface and mask, computed by SDPA on a dense boolean mask."""

    @dataclass(kw_only=True, slots=True)
    class Config(FlexAttention.Config):
        pass

    def forward(self, q_BLNH, k_BLNH, v_BLNH, *, attention_masks: BlockMask, score_mod=None, scale=None,
                enable_gqa: bool = False, out_transform=None, **kwargs):
        if score_mod is not None or out_transform is not None:
            raise NotImplementedError("CpuFlexAttention: score_mod / out_transform are not used by llama models")
        B, L = q_BLNH.shape[0], q_BLNH.shape[1]
        b = torch.arange(B).view(B, 1, 1)
        qi = torch.arange(L).view(1, L, 1)
        ki = torch.arange(L).view(1, 1, L)
        mask = attention_masks.mask_mod(b, torch.zeros_like(b), qi, ki).unsqueeze(1)  # B, 1, L, L
        out = F.scaled_dot_product_attention(q_BLNH.transpose(1, 2), k_BLNH.transpose(1, 2), v_BLNH.transpose(1, 2),
                                             attn_mask=mask, scale=scale, enable_gqa=enable_gqa)
        return out.transpose(1, 2)


def adapt(config) -> None:
    """Make a Trainer.Config run on a CPU: CPU attention, float32, no CUDA graphs, no compile."""
    model = config.model_spec.model
    swapped = 0
    for _, cfg, parent, attr in model.traverse(FlexAttention.Config):
        new = CpuFlexAttention.Config(block_size=cfg.block_size, kernel_options=dict(cfg.kernel_options))
        if parent is None:
            raise ValueError("the model itself is a FlexAttention config")
        if isinstance(parent, list):
            parent[attr] = new
        else:
            setattr(parent, attr, new)
        swapped += 1
    if not swapped:
        raise ValueError("no FlexAttention in the model: nothing to adapt for the CPU")
    config.training.disable_cuda_graphs = True
    config.training.dtype = "float32"
    config.training.mixed_precision_param = "float32"
    config.compile.enable = False


def main(argv: list[str] | None = None) -> None:
    if _detect() not in (None, "cpu"):
        raise SystemExit(f"winnow.train.llm.cpu: a {_detect()} device is visible; train with torchtitan.train instead")
    from torchtitan.config import ConfigManager
    from torchtitan.tools.logging import init_logger, logger

    init_logger()
    config = ConfigManager().parse_args(argv)
    adapt(config)
    logger.info("winnow.train.llm.cpu: CPU smoke run (attention via SDPA on the flex mask, float32)")
    trainer = config.build()
    try:
        trainer.train()
    finally:
        trainer.close()
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()

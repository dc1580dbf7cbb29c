"""What torchtitan 0.3.0 takes from a newer torch than the one installed, given back where it
can be done honestly: `install()` runs before torchtitan is first imported, in every process
that imports it (`winnow.train.llm.cpu`, `winnow.train.llm.titan`, `config_registry`).

Each shim is installed only when torch lacks the name, and says which torchtitan code uses it
and which torch release has it. On torch 2.14.1 (what winnow is tested on) `install()`
changes nothing; `missing()` lists what it would add.

- `torch.distributed.set_timeout(timeout, group=None)` (torch 2.14's public function, not in
  2.13.0; torchtitan `distributed/utils.py` `set_pg_timeouts`, called by the Trainer after its
  first step): on older torch the same operation, `ProcessGroup.set_timeout`, which torch 2.14's
  function calls too and torch 2.11 already has (it sets every backend's default timeout).
- `torch.distributed.fsdp.DataParallelMeshDims` (in torch 2.13.0, not 2.11.0; imported at the
  top of torchtitan `distributed/fsdp.py` and `distributed/full_dtensor.py`, so torchtitan does
  not import without it): the name only. An older `fully_shard` takes no `dp_mesh_dims`, so FSDP over a
  full SPMD mesh (spmd_backend `spmd_types` or `full_dtensor` with more than one
  data-parallel rank) cannot be given back: making one raises `UnsupportedTorchError`, which
  names the torch needed and the backend that avoids it (`partial_dtensor`: on two CPU
  ranks it gets as far as torch 2.14.1 does, to gloo's missing PREMUL_SUM; not tried on
  GPUs). With one data-parallel rank torchtitan makes none, and nothing is lost.
- `create_block_mask(..., separate_full_blocks=...)` (a keyword of torch 2.13.0, not 2.11.0;
  torchtitan `models/common/decoder.py` passes it for every flex-attention mask): over torch 2.11's
  function, which always separates the full blocks (the keyword's default, True); False
  (torchtitan's batch-invariant mode) is built from the same torch 2.11 steps.

One difference is not a missing name and has no shim: torchtitan's `ChunkedLossWrapper`
reshards the FSDP unit of `[norm, lm_head]` after its per-chunk backwards, and torch 2.11's
FSDP does not gather the final norm's weight again for the decoder's backward, which then
reads freed memory (a segmentation fault on the CPU, even on one rank); torch 2.13.0's FSDP
does (a CPU run there gives torch 2.14.1's losses). `CHUNKED_LOSS` is False below 2.13, and
the flavors use torchtitan's plain `CrossEntropyLoss`: the same loss (the chunks' sum, over
the same global token count), with the whole batch's logits in memory at once.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import inspect
import types
from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.distributed.fsdp as fsdp
import torch.nn.attention.flex_attention as flex

NEEDS = "torch>=2.13"  # where fully_shard takes dp_mesh_dims (2.13.0 does, 2.11.0 does not; 2.12 not seen)

# torchtitan's ChunkedLossWrapper under FSDP: runs on 2.13.0 and 2.14.1, frees the norm's
# weight on 2.11.0; 2.12 was not tried, so it gets the plain loss
CHUNKED_LOSS = torch.torch_version.TorchVersion(torch.__version__) >= (2, 13)


class UnsupportedTorchError(NotImplementedError):
    """A torchtitan feature the installed torch cannot provide, even with the shims."""


def set_timeout(timeout: datetime.timedelta, group: dist.ProcessGroup | None = None) -> None:
    """torch 2.14's `torch.distributed.set_timeout`: the default timeout of every later
    operation on `group` (the default group when None), on each of its backends."""
    if group is None:
        group = dist.distributed_c10d._get_default_group()
    if dist.distributed_c10d._rank_not_in_group(group):
        raise ValueError("Invalid process group specified")
    group.set_timeout(timeout)


@dataclasses.dataclass(frozen=True)
class DataParallelMeshDims:
    """Stands in for torch 2.14's `torch.distributed.fsdp.DataParallelMeshDims` (the
    data-parallel axes of a full SPMD mesh, for `fully_shard(dp_mesh_dims=...)`), which the
    installed torch's `fully_shard` cannot take: making one is refused."""

    shard: str | tuple[str, ...] | None = None
    replicate: str | tuple[str, ...] | None = None

    def __post_init__(self):
        raise UnsupportedTorchError(
            f"FSDP over a full SPMD mesh (DataParallelMeshDims(shard={self.shard!r}, replicate={self.replicate!r})) "
            f"needs {NEEDS}; torch {torch.__version__} is installed: use it with "
            "--parallelism.spmd_backend partial_dtensor, or install a newer torch")


def _create_block_mask(original):
    """torch 2.14's `create_block_mask`, which takes `separate_full_blocks`, over an older one
    that always separates the full blocks (what `separate_full_blocks=True`, torch 2.14's
    default, does); False is built from the same steps with the full blocks kept with the
    partial ones, as torch 2.14 does."""

    @functools.wraps(original)
    def create_block_mask(mask_mod, B, H, Q_LEN, KV_LEN, device=None, BLOCK_SIZE=flex._DEFAULT_SPARSE_BLOCK_SIZE,
                          _compile=False, separate_full_blocks: bool = True):
        if separate_full_blocks:
            return original(mask_mod, B, H, Q_LEN, KV_LEN, device, BLOCK_SIZE, _compile)
        if _compile:  # as torch does: the same call, compiled
            return torch.compile(create_block_mask)(mask_mod, B, H, Q_LEN, KV_LEN, device, BLOCK_SIZE, False, False)
        if device is None:
            device = torch.accelerator.current_accelerator() or "cpu"
        q_block, kv_block = (BLOCK_SIZE, BLOCK_SIZE) if isinstance(BLOCK_SIZE, int) else BLOCK_SIZE
        mask = flex.create_mask(mask_mod, B or 1, H or 1, Q_LEN, KV_LEN, device)
        blocks = flex._convert_mask_to_block_mask(mask, Q_BLOCK_SIZE=q_block, KV_BLOCK_SIZE=kv_block,
                                                  separate_full_blocks=False)
        return flex._create_sparse_block_from_block_mask(blocks, mask_mod, (Q_LEN, KV_LEN), q_block, kv_block)

    return create_block_mask


def _lacks_keyword(fn, keyword: str) -> bool:
    return keyword not in inspect.signature(fn).parameters


@dataclasses.dataclass(frozen=True)
class Shim:
    """`space.attr` replaced by `make(old)` (old: the present value, or None) when `needed()`."""

    space: types.ModuleType
    attr: str
    make: Callable
    needed: Callable[[], bool]

    @property
    def name(self) -> str:
        return f"{self.space.__name__}.{self.attr}"


SHIMS = [
    Shim(dist, "set_timeout", lambda old: set_timeout, lambda: not hasattr(dist, "set_timeout")),
    Shim(fsdp, "DataParallelMeshDims", lambda old: DataParallelMeshDims,
         lambda: not hasattr(fsdp, "DataParallelMeshDims")),
    # torchtitan models/common/decoder.py `_create_flex_attention_mask` (every flex-attention
    # model: the llama flavors here), through models/common/attention.py `create_attention_mask`
    Shim(flex, "create_block_mask", _create_block_mask,
         lambda: _lacks_keyword(flex.create_block_mask, "separate_full_blocks")),
]


def missing() -> list[str]:
    """The names of SHIMS that the installed torch lacks (or has without what torchtitan passes)."""
    return [shim.name for shim in SHIMS if shim.needed()]


def install() -> list[str]:
    """Put in each needed shim, once; returns the names replaced (none on torch 2.14)."""
    added = []
    for shim in SHIMS:
        if shim.needed():
            setattr(shim.space, shim.attr, shim.make(getattr(shim.space, shim.attr, None)))
            added.append(shim.name)
    return added

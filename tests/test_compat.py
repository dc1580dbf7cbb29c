"""winnow.train.llm.compat: on this torch (2.14) it changes nothing; with an API hidden, its shim
does what torch 2.14's does (set_timeout on a real 1-rank gloo group, create_block_mask's
`separate_full_blocks` against torch's own), and `winnow.train.llm.titan` gets torchtitan
imported where the names torchtitan imports are missing. bench/torch_compat.py runs training
on a real torch 2.11."""

from __future__ import annotations

import datetime
import socket
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.distributed.fsdp as fsdp
import torch.nn.attention.flex_attention as flex

from winnow.train.llm import compat

from .helpers import ROOT


@pytest.mark.skipif(torch.torch_version.TorchVersion(torch.__version__) < (2, 14),
                    reason="on torch < 2.14 the shims are installed: .ci/extras-lowest runs on 2.13")
def test_on_torch_2_14_nothing_is_replaced():
    real = {shim.name: getattr(shim.space, shim.attr) for shim in compat.SHIMS}
    assert compat.missing() == [] and compat.install() == []
    assert {shim.name: getattr(shim.space, shim.attr) for shim in compat.SHIMS} == real
    assert dist.set_timeout is not compat.set_timeout and fsdp.DataParallelMeshDims is not compat.DataParallelMeshDims
    assert compat.CHUNKED_LOSS
    from winnow.train.llm import config_registry
    from torchtitan.components.loss import ChunkedLossWrapper

    assert isinstance(config_registry.tiny().loss, ChunkedLossWrapper.Config)


def test_the_plain_loss_where_fsdp_would_free_the_chunked_losss_norm(monkeypatch):
    from winnow.train.llm import config_registry
    from torchtitan.components.loss import ChunkedLossWrapper, CrossEntropyLoss

    monkeypatch.setattr(compat, "CHUNKED_LOSS", False)
    loss = config_registry.proxy_20m().loss
    assert isinstance(loss, CrossEntropyLoss.Config) and not isinstance(loss, ChunkedLossWrapper.Config)
    assert loss.global_vocab_size == 32_000


@pytest.fixture
def gloo():
    """A real 1-rank gloo process group on 127.0.0.1 (and its backend)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1,
                            timeout=datetime.timedelta(minutes=30))
    try:
        yield dist.group.WORLD, dist.group.WORLD._get_backend(torch.device("cpu"))
    finally:
        dist.destroy_process_group()


def test_set_timeout_sets_the_groups_timeout_where_torch_lacks_it(gloo, monkeypatch):
    pg, backend = gloo
    real = dist.set_timeout
    real(datetime.timedelta(seconds=11))  # torch 2.14's own, for reference
    assert backend.options._timeout == datetime.timedelta(seconds=11)
    monkeypatch.delattr(dist, "set_timeout")  # as on torch 2.11
    assert compat.missing() == ["torch.distributed.set_timeout"]
    assert compat.install() == ["torch.distributed.set_timeout"] and dist.set_timeout is compat.set_timeout
    dist.set_timeout(datetime.timedelta(seconds=7))  # the default group, as torchtitan's last call
    assert backend.options._timeout == datetime.timedelta(seconds=7)
    dist.set_timeout(datetime.timedelta(seconds=5), pg)
    assert backend.options._timeout == datetime.timedelta(seconds=5)
    assert compat.install() == []  # once


def test_data_parallel_mesh_dims_is_refused_in_one_line_where_fully_shard_cannot_take_it(monkeypatch):
    monkeypatch.delattr(fsdp, "DataParallelMeshDims")
    assert compat.install() == ["torch.distributed.fsdp.DataParallelMeshDims"]
    from torch.distributed.fsdp import DataParallelMeshDims  # as torchtitan's distributed/fsdp.py

    with pytest.raises(compat.UnsupportedTorchError, match="--parallelism.spmd_backend partial_dtensor"):
        DataParallelMeshDims(shard="dp_shard")


def _document_causal(docs: torch.Tensor):
    def mask_mod(b, h, q, kv):
        return (q >= kv) & (docs[b, q] == docs[b, kv])
    return mask_mod


@pytest.mark.parametrize("separate", [True, False])
def test_create_block_mask_takes_separate_full_blocks_as_torch_2_14_does(monkeypatch, separate):
    real = flex.create_block_mask

    def older(mask_mod, B, H, Q_LEN, KV_LEN, device=None, BLOCK_SIZE=128, _compile=False):  # torch 2.11's signature
        return real(mask_mod, B, H, Q_LEN, KV_LEN, device, BLOCK_SIZE, _compile)  # and its one behaviour

    monkeypatch.setattr(flex, "create_block_mask", older)
    assert compat.install() == ["torch.nn.attention.flex_attention.create_block_mask"]
    docs = torch.tensor([[0] * 100 + [1] * 200 + [2] * 212, [0] * 512])  # two samples, packed documents
    args = (_document_causal(docs), 2, None, 512, 512, "cpu", 128)
    got, want = flex.create_block_mask(*args, separate_full_blocks=separate), real(*args, separate_full_blocks=separate)
    assert torch.equal(got.to_dense(), want.to_dense())
    assert torch.equal(got.kv_num_blocks, want.kv_num_blocks) and torch.equal(got.kv_indices, want.kv_indices)
    assert (got.full_kv_num_blocks is None) == (want.full_kv_num_blocks is None) == (not separate)
    if separate:
        assert torch.equal(got.full_kv_num_blocks, want.full_kv_num_blocks)
        assert int(got.full_kv_num_blocks.sum()) > 0  # there were full blocks to keep apart


def test_the_gpu_entry_point_imports_torchtitan_where_its_torch_names_are_missing():
    """torch 2.11 lacks names that torchtitan 0.3.0 imports at the top of distributed/fsdp.py
    (`torchtitan.train` fails there with an ImportError): hidden here, `winnow.train.llm.titan`
    (what `winnow train` launches on GPUs) still runs torchtitan's entry point to its parser."""
    hide = ("import sys, runpy, torch.distributed as d, torch.distributed.fsdp as f; "
            "[delattr(m, n) for m, n in ((f, 'DataParallelMeshDims'), (d, 'set_timeout')) if hasattr(m, n)]; "
            "sys.argv = ['x', '--module', 'winnow.train.llm.config_registry', '--config', 'tiny', '--help']; "
            "runpy.run_module('winnow.train.llm.titan', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--training.steps" in proc.stdout


def test_the_refusal_is_the_error_line_winnow_train_ends_with():
    from winnow.train.llm.launch import TrainResult

    line = ("[rank0]: winnow.train.llm.compat.UnsupportedTorchError: FSDP over a full SPMD mesh "
            "(DataParallelMeshDims(shard='dp_shard', replicate=None)) needs torch>=2.14; torch 2.11.0+cu130 is installed")
    result = TrainResult([], "out", "shards").read("[titan] step:  1  loss: 10.9\n" + line + "\n")
    assert result.error.startswith("UnsupportedTorchError: FSDP over a full SPMD mesh") and "torch>=2.14" in result.error

"""`winnow train`: from a selection (or a shard folder) to a torchrun + torchtitan run.

The run is torchtitan's own entry point (`torchtitan.train`) with winnow's config functions
(`winnow.train.config_registry`) and shard dataloader; with no GPU it is the CPU smoke
path (`winnow.train.cpu`). The command is printed before it starts, so it can be copied
into a Slurm script (see the README), and the child's log is passed through while the
losses are collected for the closing summary. Running the same command again resumes
from the last checkpoint in the run folder (torchtitan loads it; the dataloader state in
it makes the resume exact).
"""

from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .shards import ShardError, read_manifest

# flavor -> (config function in winnow.train.config_registry, vocabulary, sequence length);
# written out so the launcher need not import torchtitan (~7 s); a test keeps it equal to
# what the config functions return
FLAVORS = {"tiny": ("tiny", 32_000, 256), "metarater-1.3b": ("metarater_1_3b", 32_000, 1024)}

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STEP = re.compile(r"(?<!validate )step:\s*(\d+)\s+loss:\s*([0-9.naif+-]+)")
_VAL = re.compile(r"validate step:\s*(\d+)\s+loss:\s*([0-9.naif+-]+)")
_TPS = re.compile(r"tps:\s*([0-9,]+)")


@dataclass
class TrainReport:
    command: list[str]
    out: str
    shards: str
    returncode: int = 0
    losses: dict[int, float] = field(default_factory=dict)
    validation: dict[int, float] = field(default_factory=dict)
    tps: list[int] = field(default_factory=list)

    def read(self, log: str) -> TrainReport:
        """Read a whole torchtitan log (what `run` collects line by line)."""
        for line in log.splitlines():
            self.read_line(line)
        return self

    def read_line(self, line: str) -> None:
        line = _ANSI.sub("", line)
        if m := _VAL.search(line):
            self.validation[int(m.group(1))] = float(m.group(2))
        elif m := _STEP.search(line):
            self.losses[int(m.group(1))] = float(m.group(2))
            if t := _TPS.search(line):
                self.tps.append(int(t.group(1).replace(",", "")))


def shard_tokens_for(chars: int) -> int:
    """Shard size for a selection of `chars` characters: about ten shards (at ~4 characters
    per token), at least 65,536 and at most 2^28 tokens, so that one can be held out."""
    return max(1 << 16, min(1 << 28, math.ceil(chars / 4 / 10)))


def prepare_shards(uri: str, source: str, out: Path, tokenizer: str | None, seq_len: int,
                   storage_options: dict | None = None) -> tuple[Path, str]:
    """The shard folder to train on and its tokenizer: `source` itself when it is a shard
    folder, else the selection `source` materialized into `out/shards`."""
    if (Path(source) / "manifest.json").is_file():
        manifest = read_manifest(source)
        tok = tokenizer or manifest.get("tokenizer_path")
        if not tok:
            raise ShardError(f"{source}: the manifest does not say where its tokenizer is: pass --tokenizer")
        return Path(source), tok
    if tokenizer is None:
        raise ShardError(f"{source}: not a shard folder, so it is taken as a selection; materializing it needs --tokenizer")
    import pyarrow.compute as pc

    from winnow.lake import Lake
    from winnow.sql.selections import documents, get

    from .materialize import materialize

    lake = Lake.open(uri, storage_options)
    sel = get(lake, source, missing_ok=True)
    if sel is None:
        raise ShardError(f"{source}: neither a shard folder (no manifest.json) nor a selection in {uri}")
    chars = int(pc.sum(documents(lake, sel, ["n_chars"])["n_chars"]).as_py() or 0)
    shards = out / "shards"
    materialize(lake, source, shards, tokenizer=tokenizer, seq_len=seq_len, shard_tokens=shard_tokens_for(chars))
    return shards, tokenizer


def command(flavor: str, shards: Path, tokenizer: str, out: Path, steps: int | None, ngpu: int,
            nnodes: int = 1, rdzv_endpoint: str | None = None, extra: list[str] | None = None) -> list[str]:
    """The torchrun command line of a run (ngpu 0: one CPU process, the smoke path)."""
    if flavor not in FLAVORS:
        raise ShardError(f"flavor {flavor!r}: use one of {', '.join(FLAVORS)}")
    fn, vocab, _ = FLAVORS[flavor]
    manifest = read_manifest(shards)
    if manifest["tokenizer"]["vocab_size"] > vocab:
        raise ShardError(f"{shards}: tokenizer {manifest['tokenizer']['name']} has {manifest['tokenizer']['vocab_size']:,} "
                         f"tokens, more than the {vocab:,} of flavor {flavor}")
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(max(ngpu, 1))]
    if nnodes > 1:
        if not rdzv_endpoint:
            raise ShardError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (the first node)")
        launcher += ["--nnodes", str(nnodes), "--rdzv_backend", "c10d", "--rdzv_endpoint", rdzv_endpoint]
    else:
        launcher += ["--standalone"]
    entry = ["-m", "torchtitan.train"] if ngpu > 0 else ["-m", "winnow.train.cpu"]
    args = ["--module", "winnow.train.config_registry", "--config", fn,
            "--dataloader.dataset_path", str(shards), "--validator.dataloader.dataset_path", str(shards),
            "--tokenizer.path", tokenizer, "--dump_folder", str(out)]
    if steps is not None:
        args += ["--training.steps", str(steps)]
    return launcher + entry + args + list(extra or [])


def run(cmd: list[str], out: Path, shards: Path, echo=None) -> TrainReport:
    """Run a training command, passing its log through `echo` and collecting the losses."""
    report = TrainReport(cmd, str(out), str(shards))
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(out / "train.log", "a") as log, subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1) as proc:
        log.write("$ " + shlex.join(cmd) + "\n")
        for line in proc.stdout:
            log.write(line)
            report.read_line(line)
            if echo:
                echo(line.rstrip("\n"))
        report.returncode = proc.wait()
    return report

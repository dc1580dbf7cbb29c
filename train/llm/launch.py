"""`winnow train`: from a selection (or a shard folder) to a torchrun + torchtitan run.

The run is torchtitan's own entry point (`torchtitan.train`, started by `winnow.train.llm.titan`
after the shims of `winnow.train.llm.compat`) with winnow's config functions
(`winnow.train.llm.config_registry`) and shard dataloader; with no GPU it is the CPU smoke
path (`winnow.train.llm.cpu`). The command is printed before it starts, so it can be copied
into a Slurm script (see docs/train.md), and the child's log is passed through while the
losses are collected for the closing summary. Running the same command again resumes
from the last checkpoint in the run folder (torchtitan loads it; the dataloader state in
it makes the resume exact).

Before torchrun starts, the shards are checked against the tokenizer (by sha256, both named
in the message), the flavor's vocabulary, their manifest and files and their checksums
(`open_shards`, ~4 GB/s: a damaged shard is one error line, not a traceback per rank; each
rank verifies the data it reads again). When the run fails, its result keeps the log's last
error line (`TrainResult.error`), which the command line ends with. The run folder records the
run's flavor and learning-rate schedule length (`run.json`, `total_steps`): a resumed run,
even with a larger `--steps`, keeps the schedule it started with (past its end the learning
rate stays at the schedule's last value); `--lr_scheduler.total_steps N` sets it explicitly.

With `--validation VAL` (a selection, materialized with the training shards' tokenizer and
sequence length, or a shard folder), the run validates on VAL instead of the held-out last
shard, and trains on every shard. VAL must share no document with the training data: the
ids are compared (a selection's evaluated ids, a shard folder's `shard-*.ids.txt`) before
anything is materialized, and an overlap is refused in one line, naming a shared id.
torchtitan's Validator (torchtitan `components/validate.py`, 0.3.0) builds its dataloader
(`validator.dataloader`) afresh at each validation, at step 1 and every `validator.freq`
steps, and reads `validator.steps` batches: so every validation of every run on VAL reads
the same first batches of VAL, and their losses compare.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from winnow.lake import display
from winnow.lake.errors import check, positive
from winnow.lake.extras import need
from winnow.lake.processes import guarded
from winnow.lake.tokenizer import load_tokenizer

from winnow.train.llm import FLAVORS
from winnow.train.materialize.shards import (FORMAT, ShardError, ShardUsageError, describe_tokenizer, open_shards,
                                             read_manifest)

RUN_RECORD = "run.json"  # in the run folder: flavor and total_steps of the run's schedule

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STEP = re.compile(r"(?<!validate )step:\s*(\d+)\s+loss:\s*([0-9.naif+-]+)")
_VAL = re.compile(r"validate step:\s*(\d+)\s+loss:\s*([0-9.naif+-]+)")
_TPS = re.compile(r"tps:\s*([0-9,]+)")
# a line that says why a process failed: an exception's last line (`pkg.ShardError: ...`,
# torchrun's `[rank0]:` prefix allowed) or a winnow `error: ...` line; not an empty message
_ERROR = re.compile(r"^(?:\[rank\d+\]:)?\s*(?:(?:[A-Za-z_]\w*\.)*([A-Z]\w*(?:Error|Exception))|error): (\S.*)$")


@display.shown
@dataclass
class TrainResult:
    command: list[str]
    out: str
    shards: str
    returncode: int = 0
    losses: dict[int, float] = field(default_factory=dict)
    validation: dict[int, float] = field(default_factory=dict)
    tps: list[int] = field(default_factory=list)
    error: str | None = None  # the log's last error line (an exception's or `error: ...`), if any
    _box: bool = field(default=False, repr=False)  # the last line opened a box (tyro's option errors)

    def read(self, log: str) -> TrainResult:
        """Read a whole torchtitan log (what `run` collects line by line)."""
        for line in log.splitlines():
            self.read_line(line)
        return self

    def read_line(self, line: str) -> None:
        line = _ANSI.sub("", line).rstrip("\n")
        box, self._box = self._box, line.startswith("╭─")
        if m := _ERROR.match(line):
            self.error = f"{m.group(1)}: {m.group(2)}" if m.group(1) else m.group(2)
        elif box and line.startswith("│ "):  # the first line of an option-parsing error box
            self.error = line.strip("│ ")
        elif m := _VAL.search(line):
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
                   storage_options: dict | None = None, folder: str = "shards") -> tuple[Path, str]:
    """The shard folder to train on and its tokenizer: `source` itself when it is a shard
    folder, else the selection `source` materialized into `out/<folder>`."""
    if (Path(source) / "manifest.json").is_file():
        manifest = read_manifest(source)
        if manifest["format"] != FORMAT:
            raise ShardUsageError(f"{source}: shards in {manifest['format']}'s format are for another trainer; "
                                  "winnow train reads winnow's own (materialize --format tokens)")
        tok = tokenizer or manifest.get("tokenizer_path")
        if not tok:
            raise ShardUsageError(f"{source}: the manifest does not say where its tokenizer is: pass --tokenizer")
        if not tokenizer and os.path.isabs(tok) and not os.path.exists(tok):
            raise ShardUsageError(f"{source}: the shards' tokenizer {tok} (from the manifest) is gone: pass --tokenizer")
        return Path(source), tok
    if tokenizer is None:
        raise ShardUsageError(f"{source}: not a shard folder, so it is taken as a selection; materializing it "
                              "needs --tokenizer")
    import pyarrow.compute as pc

    from winnow.lake import Lake
    from winnow.sql.selections import documents, get

    from winnow.train.materialize.job import materialize

    lake = Lake.open(uri, storage_options)
    sel = get(lake, source, missing_ok=True)
    if sel is None:
        raise ShardUsageError(f"{source}: neither a shard folder (no manifest.json) nor a selection in {uri}")
    shards = out / folder
    if (shards / "manifest.json").is_file():  # materialized by an earlier run: same tokenizer?
        check_tokenizer(shards, read_manifest(shards), tokenizer)
    chars = int(pc.sum(documents(lake, sel, ["n_chars"])["n_chars"]).as_py() or 0)
    materialize(lake, source, shards, tokenizer=tokenizer, seq_len=seq_len, shard_tokens=shard_tokens_for(chars))
    return shards, tokenizer


def source_ids(uri: str, source: str, storage_options: dict | None = None) -> list[str]:
    """The document ids of a training source: a shard folder's (its `ids.txt` files) or a
    selection's (evaluated at its pinned version)."""
    if (Path(source) / "manifest.json").is_file():
        shards = open_shards(source, verify=False)
        return [i for s in range(len(shards.tokens)) for i in shards.ids(s)]
    from winnow.lake import Lake
    from winnow.sql.selections import evaluate, get

    lake = Lake.open(uri, storage_options)
    sel = get(lake, source, missing_ok=True)
    if sel is None:
        raise ShardUsageError(f"{source}: neither a shard folder (no manifest.json) nor a selection in {uri}")
    return evaluate(lake, sel)["id"].to_pylist()


def check_disjoint(uri: str, source: str, validation: str, storage_options: dict | None = None) -> int:
    """The number of validation documents, after refusing a validation set that shares a
    document with the training source (both a selection or a shard folder), naming one."""
    train = set(source_ids(uri, source, storage_options))
    val = source_ids(uri, validation, storage_options)
    shared = [i for i in val if i in train]
    if shared:
        raise ShardUsageError(
            f"--validation {validation}: {len(shared):,} of its {len(val):,} documents are in the training data "
            f"{source} (e.g. {min(shared)!r}): leave them out (winnow select create ... --exclude {Path(validation).name})")
    return len(val)


def prepare_validation(uri: str, validation: str, out: Path, tokenizer: str, seq_len: int, world: int = 1,
                       storage_options: dict | None = None) -> Path:
    """The shard folder to validate on: `validation` itself when it is a shard folder made
    with `tokenizer`, else the selection `validation` materialized with it into
    `out/validation`; refused when it holds less than one sample of `seq_len` per rank."""
    shards, _ = prepare_shards(uri, validation, out, tokenizer, seq_len, storage_options, folder="validation")
    manifest = read_manifest(shards)
    check_tokenizer(shards, manifest, tokenizer)
    pairs = manifest["tokens"] - manifest["documents"]  # a document of n tokens gives n - 1 (input, label) pairs
    if pairs < seq_len * world:
        raise ShardUsageError(f"--validation {validation}: {pairs:,} tokens to predict, fewer than one sample of "
                              f"{seq_len} for each of {world} rank(s): choose a larger validation set")
    return shards


def check_tokenizer(shards: Path, manifest: dict, tokenizer: str) -> None:
    """Refuse a tokenizer other than the one the shards were made with, naming both."""
    tok = load_tokenizer(tokenizer)
    made = manifest["tokenizer"]
    if tok.sha256 != made["sha256"]:
        raise ShardUsageError(
            f"{shards}: tokenizer mismatch: the shards were made with "
            f"{describe_tokenizer(made.get('name'), made['vocab_size'], made['sha256'], manifest.get('tokenizer_path'))}"
            f", not with {describe_tokenizer(tok.name, tok.vocab_size, tok.sha256, tok.spec)}")


def _extra(extra: list[str], key: str) -> str | None:
    """The value of torchtitan option `key` in the extra arguments (the last one given)."""
    value = None
    for i, arg in enumerate(extra):
        if arg == key and i + 1 < len(extra):
            value = extra[i + 1]
        elif arg.startswith(key + "="):
            value = arg.split("=", 1)[1]
    return value


def _int_option(value: str | None, option: str) -> int | None:
    if value is None:
        return None
    check(value.lstrip("-").isdigit(), f"{option} {value!r}: not an integer")
    return positive(int(value), option)


def read_run(out: Path) -> dict | None:
    """The run folder's record (flavor, total_steps) when the folder holds a checkpoint to resume."""
    path = Path(out) / RUN_RECORD
    if not path.is_file() or not any((Path(out) / "checkpoint").glob("step-*")):
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ShardError(f"{path}: not readable JSON ({e}); remove it to start the schedule afresh") from e
    return record if isinstance(record, dict) else None


def total_steps(out: Path, flavor: str, steps: int | None, extra: list[str]) -> tuple[int, bool]:
    """The length of the run's learning-rate schedule, and whether `extra` sets it: the
    explicit `--lr_scheduler.total_steps`, else the one recorded when the run started (when
    there is a checkpoint to resume), else the training steps."""
    explicit = _int_option(_extra(extra, "--lr_scheduler.total_steps"), "--lr_scheduler.total_steps")
    if explicit is not None:
        return explicit, True
    record = read_run(out)
    if record and isinstance(record.get("total_steps"), int):
        return record["total_steps"], False
    training = _int_option(_extra(extra, "--training.steps"), "--training.steps")
    return training or steps or FLAVORS[flavor][3], False


def check_options(flavor: str, steps: int | None, ngpu: int | None, nnodes: int = 1,
                  rdzv_endpoint: str | None = None) -> None:
    """Refuse a bad option of `winnow train` (before anything is materialized or started)."""
    need("train", "winnow train", ["torch", "torchtitan"])
    check(flavor in FLAVORS, f"--flavor {flavor!r}: use one of {', '.join(FLAVORS)}")
    positive(steps, "--steps")
    positive(ngpu, "--ngpu", allow_zero=True)
    positive(nnodes, "--nnodes")
    check(nnodes == 1 or bool(rdzv_endpoint), "--nnodes > 1 needs --rdzv-endpoint HOST:PORT (the first node)")


def command(flavor: str, shards: Path, tokenizer: str, out: Path, steps: int | None, ngpu: int,
            nnodes: int = 1, rdzv_endpoint: str | None = None, extra: list[str] | None = None,
            validation: Path | None = None) -> list[str]:
    """The torchrun command line of a run (ngpu 0: one CPU process, the smoke path), after
    checking the options, the shards (manifest and files, not the data) and the tokenizer.
    `validation`: a shard folder to validate on (every shard of it); the run then trains on
    every shard of `shards`, none held out."""
    check_options(flavor, steps, ngpu, nnodes, rdzv_endpoint)
    extra = list(extra or [])
    fn, vocab, _, _ = FLAVORS[flavor]
    record = read_run(out)
    if record and record.get("flavor") not in (None, flavor):
        raise ShardUsageError(f"{out}: the run folder holds a checkpoint of flavor {record['flavor']}, not {flavor}: "
                              "resume it with that flavor, or use another --out")
    manifest = read_manifest(shards)
    if manifest["tokenizer"]["vocab_size"] > vocab:
        raise ShardUsageError(f"{shards}: tokenizer {manifest['tokenizer']['name']} has "
                              f"{manifest['tokenizer']['vocab_size']:,} tokens, more than the {vocab:,} of flavor {flavor}")
    check_tokenizer(shards, manifest, tokenizer)
    # every shard's files are there, match the manifest and their checksums (~4 GB/s): a
    # damaged shard is refused here in one line, not in a traceback of each rank
    open_shards(shards)
    if validation is not None:
        check_tokenizer(validation, read_manifest(validation), tokenizer)
        open_shards(validation)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(max(ngpu, 1))]
    if nnodes > 1:
        launcher += ["--nnodes", str(nnodes), "--rdzv_backend", "c10d", "--rdzv_endpoint", rdzv_endpoint]
    else:
        launcher += ["--standalone"]
    entry = ["-m", "winnow.train.llm.titan"] if ngpu > 0 else ["-m", "winnow.train.llm.cpu"]
    args = ["--module", "winnow.train.llm.config_registry", "--config", fn,
            "--dataloader.dataset_path", str(shards), "--validator.dataloader.dataset_path", str(validation or shards),
            "--tokenizer.path", tokenizer, "--dump_folder", str(out)]
    if validation is not None:  # a separate validation set: train on every shard, validate on all of it
        args += ["--dataloader.held_out", "0", "--validator.dataloader.split", "all"]
    if steps is not None:
        args += ["--training.steps", str(steps)]
    total, explicit = total_steps(out, flavor, steps, extra)
    if not explicit:
        args += ["--lr_scheduler.total_steps", str(total)]
    return launcher + entry + args + extra


def record_run(out: Path, cmd: list[str]) -> None:
    """Write the run folder's record of a command: its flavor and schedule length."""
    out.mkdir(parents=True, exist_ok=True)
    total = _extra(cmd, "--lr_scheduler.total_steps")
    config = _extra(cmd, "--config")
    flavor = next((name for name, spec in FLAVORS.items() if spec[0] == config), config)
    if total is not None:
        (out / RUN_RECORD).write_text(json.dumps({"flavor": flavor, "total_steps": int(total)}) + "\n")


def run(cmd: list[str], out: Path, shards: Path, echo=None) -> TrainResult:
    """Run a training command, passing its log through `echo` and collecting the losses; the
    run folder records the flavor and schedule length (`run.json`) for a later resume."""
    report = TrainResult(cmd, str(out), str(shards))
    record_run(out, cmd)
    with guarded():  # torchrun and its ranks end with this process, however it ends (from the API too)
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

"""`winnow compare`: proxy runs of several selections, side by side, on one validation set.

Every selection is materialized with the same tokenizer and sequence length and trained for
the same token budget: `steps = tokens // tokens_per_step` steps of the flavor's batch, which
read the first `steps * tokens_per_step` tokens of the selection in its order (the first
epoch of the shard loader reads the samples in shard order, train/llm/loader.py). A selection
that holds fewer tokens is refused, before any run starts and with nothing left written,
naming it and how many tokens it lacks. Each run has the identical flavor config and seed
(`--debug.seed`) and validates on the one validation selection (`winnow train --validation`),
every `freq` steps and at the last one (torchtitan validates at step 1 and at multiples of
`validator.freq`, components/validate.py `should_validate`; `freq` divides `steps`).

Each finished run is one row of the catalog's `runs` table (lake/schema.py RUNS): its keys,
the training and validation loss curves as (tokens, loss) points, read from torchtitan's log
lines `step: N loss: X` and `validate step: N loss: X` (launch.TrainResult), and its tokens/s.
A run whose key is already in `runs` (selection, its SQL and pinned lake version, flavor,
config hash, tokens, seed, validation selection and version) is reused, not trained again.

The comparison: per selection the final validation loss, the tokens it needed to reach the
FIRST selection's final validation loss (linear interpolation between the two points of its
validation curve around the first crossing; None when never reached), and the ratio
first's tokens / its tokens (the "x-faster convergence" of Meta-rater and QuRating). It is
written as compare.json, curves.png (matplotlib) and curves.html (an inline SVG, nothing
fetched) into the output folder.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from winnow.lake import Lake, atomic, catalog, display
from winnow.lake.errors import UsageError, WinnowError, check, positive
from winnow.lake.extras import need
from winnow.lake.tokenizer import load_tokenizer
from winnow.lake.version import WINNOW_VERSION
from winnow.sql.sandbox import lake_folder
from winnow.sql.selections import Selection, check_seed, get

from winnow.train.llm import launch
from winnow.train.materialize.shards import read_manifest

RUNS_FOLDER = "runs"  # LAKE/runs/RUN_ID: the default home of a local lake's compare runs
COMPARE_FOLDER = "compare"  # LAKE/compare/NAME: the default output folder
CURVE_POINTS = 10  # validations aimed at per run (besides step 1)


class CompareError(WinnowError):
    """A comparison whose training failed (one clear line)."""


class CompareUsageError(CompareError, UsageError):
    """A comparison asked for with bad options: a selection, a budget it cannot reach."""


@dataclass
class Run:
    """One selection's run: its `runs` row, whether it was reused, and how it compares."""

    selection: str
    row: dict
    reused: bool
    final_loss: float = float("nan")
    tokens_to_target: float | None = None  # tokens to reach the first selection's final validation loss
    speedup: float | None = None  # first's tokens / tokens_to_target


@display.shown
@dataclass
class CompareResult:
    name: str
    out: str
    flavor: str
    tokens: int
    validation: str
    target: float  # the first selection's final validation loss
    runs: list[Run] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def table(self) -> list[str]:
        """The comparison as lines of text, one per selection under a header."""
        width = max(len("selection"), *(len(r.selection) for r in self.runs))
        lines = [f"{'selection':<{width}}  {'final val loss':>14}  {'tokens to ' + format(self.target, '.4f'):>18}"
                 f"  {'x-faster':>8}  run"]
        for r in self.runs:
            reach = "not reached" if r.tokens_to_target is None else f"{r.tokens_to_target:,.0f}"
            ratio = "-" if r.speedup is None else f"{r.speedup:.2f}x"
            lines.append(f"{r.selection:<{width}}  {r.final_loss:>14.4f}  {reach:>18}  {ratio:>8}  "
                         + ("reused " if r.reused else "trained ") + r.row["run_folder"])
        return lines


# -- the arithmetic of a comparison -------------------------------------------------------

def tokens_to_reach(curve: list[dict], target: float) -> float | None:
    """Tokens at which a loss curve (points {tokens, loss}, in token order) first reaches
    `target`: the first point at or below it, linearly interpolated from the point before;
    the first point's tokens when it already is; None when no point reaches it."""
    prev = None
    for point in curve:
        t, loss = point["tokens"], point["loss"]
        if loss <= target:
            if prev is None or prev["loss"] == loss:
                return float(t)
            return prev["tokens"] + (prev["loss"] - target) / (prev["loss"] - loss) * (t - prev["tokens"])
        prev = point
    return None


def rank(runs: list[Run]) -> float:
    """Fill in each run's final loss, tokens to the first run's final validation loss, and
    speedup; returns that target loss."""
    for r in runs:
        r.final_loss = r.row["validation_loss"][-1]["loss"]
    target = runs[0].final_loss
    base = tokens_to_reach(runs[0].row["validation_loss"], target)
    for r in runs:
        r.tokens_to_target = tokens_to_reach(r.row["validation_loss"], target)
        r.speedup = base / r.tokens_to_target if r.tokens_to_target and base else None
    return target


# -- the plan: steps, validation frequency, config hash -------------------------------------

def schedule(tokens: int, tokens_per_step: int) -> tuple[int, int]:
    """(steps, validation frequency) for a budget: steps = tokens // tokens_per_step, and a
    frequency that divides steps, the largest at most steps / CURVE_POINTS; when that leaves
    more than 5 * CURVE_POINTS validations (steps with few divisors), steps is rounded down
    to a multiple of steps // CURVE_POINTS instead."""
    steps = tokens // tokens_per_step
    aim = max(1, steps // CURVE_POINTS)
    freq = next(d for d in range(aim, 0, -1) if steps % d == 0)
    if steps // freq > 5 * CURVE_POINTS:
        freq, steps = aim, steps - steps % aim
    return steps, freq


def flavor_config(flavor: str, ranks: int) -> tuple[int, int, str]:
    """(tokens per step, sequence length, digest of the flavor's torchtitan config) for a run on
    `ranks` ranks. The digest is sha256 of the config's repr, memory addresses removed."""
    from winnow.train.llm import config_registry  # torchtitan: imported only here

    cfg = getattr(config_registry, launch.FLAVORS[flavor][0])()
    training = cfg.training
    batch = training.global_batch_size if training.global_batch_size > 0 else training.local_batch_size * ranks
    text = re.sub(r" at 0x[0-9a-f]+", "", repr(cfg))
    return batch * training.seq_len, training.seq_len, hashlib.sha256(text.encode()).hexdigest()


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


# -- the comparison -----------------------------------------------------------------------

def compare(lake: Lake, selections: list[str], *, flavor: str, tokens: int, validation: str, tokenizer: str,
            seed: int = 0, ngpu: int | None = 0, out: str | Path | None = None, runs: str | Path | None = None,
            name: str | None = None, extra: list[str] | None = None, echo=None) -> CompareResult:
    """Train (or reuse) one run per selection and compare them; returns a `CompareResult`
    whose files (compare.json, curves.png, curves.html) are in `out` (default
    LAKE/compare/NAME). Run folders go under `runs` (default LAKE/runs). `ngpu`: None for every
    visible GPU, 0 for the CPU smoke path. `extra`: torchtitan
    options for every run (part of the config hash). Bad input raises a UsageError before
    anything is written."""
    # every check before anything is written
    need("train", "winnow compare")
    if ngpu is None:  # every visible GPU
        import torch  # imported when asked, once the extra is known to be there

        ngpu = torch.cuda.device_count()
    check(launch.FLAVORS.get(flavor) is not None, f"--flavor {flavor!r}: use one of {', '.join(launch.FLAVORS)}")
    positive(tokens, "--tokens")
    check_ngpu(ngpu)
    seed = check_seed(seed, "--seed")
    check(len(selections) >= 2, "compare needs two selections or more")
    check(len(set(selections)) == len(selections), f"a selection is named twice: {', '.join(selections)}")
    check(validation not in selections, f"--validation {validation}: it is also a selection to train on")
    sels = [_selection(lake, s) for s in selections]
    val = _selection(lake, validation, "--validation")
    folder = lake_folder(lake)
    check(folder is not None or (out is not None and runs is not None),
          f"the lake {lake.uri} is not on the local disk: give --out DIR and --runs DIR")
    name = name or "-".join([*selections, flavor, str(tokens)])
    check(re.fullmatch(r"[A-Za-z0-9_.-]+", name) is not None, f"--name {name!r}: use letters, digits, '_', '.', '-'")
    out = Path(out) if out is not None else Path(folder) / COMPARE_FOLDER / name
    runs_dir = Path(runs) if runs is not None else Path(folder) / RUNS_FOLDER
    tok = load_tokenizer(tokenizer)
    ranks = max(ngpu, 1)
    tokens_per_step, seq_len, config_digest = flavor_config(flavor, ranks)
    check(tokens >= tokens_per_step, f"--tokens {tokens:,}: less than one step of {flavor} "
                                     f"({tokens_per_step:,} tokens on {ranks} rank(s))")
    steps, freq = schedule(tokens, tokens_per_step)
    extra = list(extra or [])
    config_hash = _digest({"config": config_digest, "tokenizer": tok.sha256, "ranks": ranks, "steps": steps,
                           "freq": freq, "extra": extra})[:16]
    keys = {s.name: _key(s, val, flavor, config_hash, tokens, seed) for s in sels}
    done = {r["run_id"]: r for r in catalog.runs(lake).to_pylist()}
    todo = [s for s in sels if keys[s.name]["run_id"] not in done]

    shards = _prepare(lake, todo, val, keys, runs_dir, tokenizer, seq_len, steps * tokens_per_step, tokens, ranks)
    val_shards = None
    if todo:
        val_shards = launch.prepare_validation(
            lake.uri, validation, runs_dir / "validation" / f"{validation}-v{val.lake_version}-{tok.sha256[:12]}",
            tokenizer, seq_len, ranks, lake.storage_options)
    result = []
    for s in sels:
        key = keys[s.name]
        if key["run_id"] in done:
            result.append(Run(s.name, done[key["run_id"]], reused=True))
            continue
        run_folder = runs_dir / key["run_id"]
        row = _train(flavor, shards[s.name], tokenizer, run_folder, steps, freq, tokens_per_step, ngpu, seed, extra,
                     val_shards, echo)
        row.update({k: v for k, v in key.items() if k != "sql"}, created_at=datetime.now(timezone.utc),
                   run_folder=str(run_folder), winnow_version=WINNOW_VERSION)
        catalog.record_run(lake, row)
        result.append(Run(s.name, row, reused=False))
    report = CompareResult(name, str(out), flavor, tokens, validation, rank(result), result)
    report.files = write_outputs(report, out)
    return report


def check_ngpu(ngpu: int) -> None:
    """Refuse a negative --ngpu, or more GPUs than this machine shows (every run is on it)."""
    positive(ngpu, "--ngpu", allow_zero=True)
    if ngpu > 0:
        import torch  # imported when asked: only a GPU run needs it here

        visible = torch.cuda.device_count()
        check(ngpu <= visible, f"--ngpu {ngpu}: this machine shows {visible} GPU(s) (0: the CPU smoke path)")


def _selection(lake: Lake, name: str, option: str = "selection") -> Selection:
    sel = get(lake, name, missing_ok=True)
    check(sel is not None, f"{option} {name!r}: no selection of that name in {lake.uri}")
    return sel


def _key(sel: Selection, val: Selection, flavor: str, config_hash: str, tokens: int, seed: int) -> dict:
    """The fields that identify a run, and its run_id (a digest of them and of the selections'
    SQL, seed and exclusions, so that a redefined selection is trained afresh)."""
    key = {"selection": sel.name, "lake_version": sel.lake_version, "flavor": flavor, "config_hash": config_hash,
           "tokens": tokens, "seed": seed, "validation": val.name, "validation_version": val.lake_version}
    defs = [(s.sql, s.seed, list(s.exclude)) for s in (sel, val)]
    return {**key, "run_id": f"{sel.name[:40]}-{_digest([key, defs])[:12]}"}


def _prepare(lake: Lake, todo: list[Selection], val: Selection, keys: dict, runs_dir: Path, tokenizer: str,
             seq_len: int, needed: int, tokens: int, ranks: int) -> dict[str, Path]:
    """The shard folder of every selection to train, materialized in its run folder, after
    refusing a validation set that overlaps one; a selection that holds fewer than `needed`
    tokens to train on is refused, naming it and its shortfall, and every folder this call
    made is removed first."""
    for s in todo:
        launch.check_disjoint(lake.uri, s.name, val.name, lake.storage_options)
    made = [p for p in (runs_dir, *(runs_dir / keys[s.name]["run_id"] for s in todo)) if not p.exists()]
    shards, short = {}, []
    try:
        for s in todo:
            shards[s.name], _ = launch.prepare_shards(lake.uri, s.name, runs_dir / keys[s.name]["run_id"], tokenizer,
                                                      seq_len, lake.storage_options)
            manifest = read_manifest(shards[s.name])
            have = manifest["tokens"] - manifest["documents"]  # (input, label) pairs
            if have < needed:
                short.append(f"{s.name} holds {have:,} tokens to train on, {needed - have:,} short")
        if short:
            raise CompareUsageError(f"--tokens {tokens:,} ({needed:,} trained on {ranks} rank(s)) cannot be reached: "
                                    + "; ".join(short))
    except BaseException:
        for p in reversed(made):
            shutil.rmtree(p, ignore_errors=True)
        raise
    return shards


def _train(flavor: str, shards: Path, tokenizer: str, run_folder: Path, steps: int, freq: int,
           tokens_per_step: int, ngpu: int, seed: int, extra: list[str], val_shards: Path, echo) -> dict:
    """Run one training and return its `runs` fields read from the run's whole log: steps,
    curves and tokens/s."""
    args = ["--validator.freq", str(freq), "--debug.seed", str(seed), "--metrics.disable_color_printing", *extra]
    cmd = launch.command(flavor, shards, tokenizer, run_folder, steps, ngpu, extra=args, validation=val_shards)
    if echo:
        echo("$ " + " ".join(cmd))
    done = launch.run(cmd, run_folder, shards, echo=echo)
    if done.returncode != 0:
        why = f": {done.error}" if done.error else ""
        raise CompareError(f"training {shards.parent.name} exited with status {done.returncode}{why}; "
                           f"the log is {run_folder / 'train.log'}")
    log = launch.TrainResult(cmd, str(run_folder), str(shards)).read((run_folder / "train.log").read_text())
    if steps not in log.validation:
        raise CompareError(f"training {shards.parent.name}: no validation loss at its last step {steps}; "
                           f"see {run_folder / 'train.log'}")

    def curve(losses: dict[int, float]) -> list[dict]:
        return [{"tokens": s * tokens_per_step, "loss": losses[s]} for s in sorted(losses) if s <= steps]

    tps = log.tps
    return {"steps": steps, "tokens_per_step": tokens_per_step, "train_loss": curve(log.losses),
            "validation_loss": curve(log.validation),
            "tokens_per_second": sum(tps) / len(tps) * max(ngpu, 1) if tps else None}


# -- outputs ------------------------------------------------------------------------------

def write_outputs(report: CompareResult, out: Path) -> list[str]:
    """Write compare.json, curves.png and curves.html into `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    summary = {"name": report.name, "flavor": report.flavor, "tokens": report.tokens, "validation": report.validation,
               "target": report.target,
               "runs": [{"selection": r.selection, "run_id": r.row["run_id"], "final_validation_loss": r.final_loss,
                         "tokens_to_target": r.tokens_to_target, "speedup": r.speedup, "reused": r.reused,
                         "validation_loss": r.row["validation_loss"], "train_loss": r.row["train_loss"],
                         "tokens_per_second": r.row["tokens_per_second"], "run_folder": r.row["run_folder"]}
                        for r in report.runs]}
    paths = [out / "compare.json", out / "curves.png", out / "curves.html"]
    with atomic.file(paths[0], "w") as f:  # each whole or not at all
        f.write(json.dumps(summary, indent=1) + "\n")
    with atomic.file(paths[1], "wb") as f:
        _png(report, f)
    with atomic.file(paths[2], "w") as f:
        f.write(_html(report))
    return [str(p) for p in paths]


COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _title(report: CompareResult) -> str:
    return f"{report.flavor}, {report.tokens:,} tokens: validation loss on {report.validation}"


def _png(report: CompareResult, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for i, r in enumerate(report.runs):
        pts = r.row["validation_loss"]
        ax.plot([p["tokens"] for p in pts], [p["loss"] for p in pts], marker="o", ms=3,
                color=COLORS[i % len(COLORS)], label=r.selection)
    ax.axhline(report.target, color="#999999", lw=0.8, ls="--")
    ax.set_xlabel("tokens trained")
    ax.set_ylabel("validation loss")
    ax.set_title(_title(report), fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def _html(report: CompareResult, width: int = 640, height: int = 360, pad: int = 50) -> str:
    """A self-contained page: the validation curves as an inline SVG, and the table."""
    pts = [p for r in report.runs for p in r.row["validation_loss"]]
    x0, x1 = 0, max(p["tokens"] for p in pts) or 1
    y0, y1 = min(p["loss"] for p in pts), max(p["loss"] for p in pts)
    y1 = y1 if y1 > y0 else y0 + 1

    def xy(p) -> str:
        x = pad + (p["tokens"] - x0) / (x1 - x0) * (width - 2 * pad)
        y = height - pad - (p["loss"] - y0) / (y1 - y0) * (height - 2 * pad)
        return f"{x:.1f},{y:.1f}"

    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           'font-size="11">',
           f'<rect x="{pad}" y="{pad}" width="{width - 2 * pad}" height="{height - 2 * pad}" fill="none" '
           'stroke="#888"/>',
           f'<text x="{pad}" y="{height - pad + 15}">0</text>',
           f'<text x="{width - pad}" y="{height - pad + 15}" text-anchor="end">{x1:,} tokens</text>',
           f'<text x="{pad - 4}" y="{height - pad}" text-anchor="end">{y0:.3f}</text>',
           f'<text x="{pad - 4}" y="{pad + 4}" text-anchor="end">{y1:.3f}</text>']
    for i, r in enumerate(report.runs):
        color = COLORS[i % len(COLORS)]
        line = " ".join(xy(p) for p in r.row["validation_loss"])
        svg.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{line}"/>')
        svg.append(f'<text x="{width - pad - 4}" y="{pad + 14 + 14 * i}" text-anchor="end" fill="{color}">'
                   f'{html.escape(r.selection)}</text>')
    svg.append("</svg>")
    rows = "".join(
        f"<tr><td>{html.escape(r.selection)}</td><td>{r.final_loss:.4f}</td>"
        f"<td>{'not reached' if r.tokens_to_target is None else format(r.tokens_to_target, ',.0f')}</td>"
        f"<td>{'-' if r.speedup is None else format(r.speedup, '.2f') + 'x'}</td></tr>" for r in report.runs)
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + html.escape(report.name)
            + "</title></head><body>\n<h3>" + html.escape(_title(report)) + "</h3>\n" + "\n".join(svg)
            + "\n<table border=\"1\" cellpadding=\"4\"><tr><th>selection</th><th>final validation loss</th>"
            f"<th>tokens to {report.target:.4f}</th><th>x-faster</th></tr>{rows}</table>\n</body></html>\n")

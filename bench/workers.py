"""Workers: what one local worker costs to start, and what small jobs cost on 1 and 2 workers.

    python bench/workers.py [--runs 3] [--docs 20000] [--only start|jobs] [--scorer gopher] [--before VENV] [--pyc]

1. Start cost: the CPU-seconds of each local worker process (spawn -> ready -> one tiny unit
   -> ended) of `winnow ingest` (the local runner's parsing processes), `winnow score LAKE
   gopher` (the local engine's pool, the scoring worker's set-up) and `winnow materialize`
   (the tokenizing workers), each with --workers 2 on a lake of two fragments of 50
   documents, so that the work is negligible beside the start. Each command's process tree
   is sampled every 10 ms (bench/measure.py's way: the last CPU time seen per process, a
   lower bound by at most one interval); a worker is a process started by multiprocessing's
   spawn (`--multiprocessing-fork` in its command line) or forked by its fork server (which
   is not a worker: it is counted apart, once per command). Median per worker over the runs.
2. Jobs: `winnow ingest` of --docs documents (bench/corpus.py, 8 shards) into a new lake,
   then `winnow score LAKE gopher` (--scorer: a heuristic scorer) on it, with the local engine on 1
   and 2 workers and the Ray engine on 2 actors (a local cluster started by each command,
   127.0.0.1 only): the command's wall seconds, and the job's own as the command reports
   them (without the interpreter's start, and Ray's cluster start). Median over the runs,
   each run a new lake.

--before VENV runs every command also with another environment's `winnow` (a checkout of
main, say), interleaved, so both see the same load. --pyc runs the commands with bytecode
caches, as after a pip install (PYTHONDONTWRITEBYTECODE, which the test machines set, makes
every process, each worker included, compile winnow's modules from source again).
"""

from __future__ import annotations

import sys  # noqa: I001  (first: bench/select.py must not shadow the stdlib `select` that subprocess imports)
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

import argparse  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import psutil  # noqa: E402

from corpus import DATA, build_corpus  # noqa: E402
from measure import commands_env  # noqa: E402

CACHE = HERE / ".cache"
GPT2 = str(DATA.parent / "tokenizers" / "gpt2-tokenizer.json")
RUNS = (("local", 1), ("local", 2), ("ray", 2))
FORKSERVER = "from multiprocessing.forkserver import main"


def sampled(cmd: list[str], env: dict, interval: float = 0.01) -> dict:
    """Run `cmd`; its wall seconds and the CPU seconds of each spawned worker in its tree."""
    t0 = time.perf_counter()
    out = tempfile.TemporaryFile()
    proc = psutil.Popen(cmd, env=env, cwd="/", stdout=out, stderr=subprocess.STDOUT)
    cpu: dict[int, float] = {}
    kinds: dict[int, str] = {}
    while proc.poll() is None:
        try:
            tree = proc.children(recursive=True)
        except psutil.Error:
            tree = []
        for p in tree:
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    cpu[p.pid] = t.user + t.system
                if p.pid not in kinds:
                    kinds[p.pid] = _kind(p)
            except psutil.Error:
                pass
        time.sleep(interval)
    wall = time.perf_counter() - t0
    out.seek(0)
    text = out.read().decode(errors="replace")
    out.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{text[-2000:]}")
    job = re.search(r"(?:· | in )([0-9.]+) s\b", text)  # the job's own seconds, as the command reports them
    return {"wall": wall, "job": float(job.group(1)) if job else float("nan"),
            "workers": [cpu[p] for p, k in kinds.items() if k == "worker" and p in cpu],
            "server": sum(cpu[p] for p, k in kinds.items() if k == "server" and p in cpu)}


def _kind(p: psutil.Process) -> str:
    """"worker": spawned by multiprocessing, or forked by its fork server (it has the server's
    command line); "server": the fork server; else "other"."""
    line = " ".join(p.cmdline())
    if "--multiprocessing-fork" in line:
        return "worker"
    if FORKSERVER in line:
        return "worker" if line == " ".join(p.parent().cmdline()) else "server"
    return "other"


def winnow(venv: Path, *args: str) -> list[str]:
    return [str(venv / "bin" / "winnow"), *args]


def run(cmd, env) -> None:
    subprocess.run(cmd, env=env, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)


def start_cost(venvs: dict, runs: int, env: dict, tmp: Path) -> None:
    shards = build_corpus(CACHE / "corpus-100-2", n_docs=100, n_shards=2, seed=0, quiet=True)
    per: dict = {}
    servers: dict = {}
    for r in range(runs):
        for label, venv in venvs.items():
            lake = str(tmp / f"start-{label}-{r}")
            run(winnow(venv, "init", lake), env)
            ingest = sampled(winnow(venv, "ingest", lake, *map(str, shards), "--workers", "2"), env)
            per.setdefault(("ingest", label), []).extend(ingest["workers"])
            servers.setdefault(("ingest", label), []).append(ingest["server"])
            lake2 = str(tmp / f"start2-{label}-{r}")  # two fragments: one ingest per shard
            run(winnow(venv, "init", lake2), env)
            for s in shards:
                run(winnow(venv, "ingest", lake2, str(s), "--workers", "1"), env)
            score = sampled(winnow(venv, "score", lake2, "gopher", "--workers", "2"), env)
            per.setdefault(("score gopher", label), []).extend(score["workers"])
            servers.setdefault(("score gopher", label), []).append(score["server"])
            run(winnow(venv, "select", "create", lake2, "all", "-q", "SELECT id FROM docs"), env)
            out = str(tmp / f"shards-{label}-{r}")
            mat = sampled(winnow(venv, "materialize", lake2, "all", "--out", out, "--tokenizer", GPT2,
                                 "--workers", "2"), env)
            per.setdefault(("materialize", label), []).extend(mat["workers"])
            servers.setdefault(("materialize", label), []).append(mat["server"])
    print(f"{'worker of':<14} {'env':<7} {'workers':>8} {'CPU s per worker (median, min-max)':>36} "
          f"{'fork server CPU s per command':>30}")
    for (kind, label), cpus in per.items():
        shown = (f"{statistics.median(cpus):.3f} ({min(cpus):.3f}-{max(cpus):.3f})" if cpus
                 else "none (ran in the command's process)")
        print(f"{kind:<14} {label:<7} {len(cpus):>8} {shown:>36} {statistics.median(servers[kind, label]):>30.2f}")


def jobs(venvs: dict, runs: int, n_docs: int, scorer: str, env: dict, tmp: Path) -> None:
    corpus = CACHE / f"corpus-{n_docs}-0"
    shards = [str(s) for s in build_corpus(corpus, n_docs=n_docs, n_shards=8, seed=0, quiet=True)]
    walls: dict = {}
    for r in range(runs):
        for label, venv in venvs.items():
            for engine, workers in RUNS:
                lake = str(tmp / f"job-{label}-{engine}-{workers}-{r}")
                run(winnow(venv, "init", lake), env)
                options = ["--engine", engine, "--workers", str(workers)]
                for kind, cmd in (("ingest", winnow(venv, "ingest", lake, *shards, *options)),
                                  (f"score {scorer}", winnow(venv, "score", lake, scorer, *options))):
                    m = sampled(cmd, env, 0.1)
                    walls.setdefault((kind, label, engine, workers), []).append((m["wall"], m["job"]))
                shutil.rmtree(lake)
    print(f"{'job':<15} {'env':<7} {'engine':<6} {'workers':>7} {'command wall s (median, min-max)':>34} "
          f"{'job s (as reported)':>20}")
    for (kind, label, engine, workers), w in walls.items():
        command, job = [x for x, _ in w], [y for _, y in w]
        print(f"{kind:<15} {label:<7} {engine:<6} {workers:>7} {statistics.median(command):>20.2f} "
              f"({min(command):.2f}-{max(command):.2f}) {statistics.median(job):>20.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--only", choices=["start", "jobs"])
    ap.add_argument("--scorer", default="gopher", help="the heuristic scorer of the jobs")
    ap.add_argument("--before", type=Path, help="another environment (its bin/winnow) to compare with")
    ap.add_argument("--pyc", action="store_true", help="run with bytecode caches (in a temporary folder)")
    args = ap.parse_args()
    with commands_env(args.pyc, "workers") as env:
        here = Path(sys.prefix)
        venvs = {"after": here} if args.before is None else {"before": args.before, "after": here}
        CACHE.mkdir(exist_ok=True)
        flag = " (PYTHONDONTWRITEBYTECODE set)" if env.get("PYTHONDONTWRITEBYTECODE") else ""
        print(f"{os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; bytecode caches: "
              f"{'all' if args.pyc else 'as found'}{flag}")
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            if args.only in (None, "start"):
                start_cost(venvs, args.runs, env, Path(tmp))
            if args.only in (None, "jobs"):
                jobs(venvs, args.runs, args.docs, args.scorer, env, Path(tmp))
        print(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

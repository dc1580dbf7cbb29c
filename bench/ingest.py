"""Ingestion benchmark: winnow vs datatrove on the same corpus, cores and python, beside the
parse limit.

    python bench/ingest.py [--docs 1000000] [--shards 8] [--workers 2] [--seed 0] [--reps 1]
                           [--only winnow|datatrove|partitioned|limit] [--keep]

Builds (or reuses) a corpus of paragraphs resampled from ../shared/data under
bench/.cache/corpus-<docs>-<seed>/, then measures, each as a subprocess on the same input, in
turn (alternating, `--reps` rounds, so that both sides meet the same load):
  winnow:    winnow init <tmp>/lake; winnow ingest <tmp>/lake <corpus> --workers N  (ingest timed)
  datatrove: bench/peers/datatrove_ingest.py (JsonlReader -> ParquetWriter, N workers)
  limit:     the single-pass parse limit: N processes that read the same files line by line
             and parse each line with orjson, nothing else (what any ingest of them must do)
  partitioned: bench/ingest_partitioned.py (winnow's partitioned runner, Ray's, on the local
             engine's N processes: why the local engine keeps ingest/local.py); only with --only
and prints seconds, docs/s, MB/s (input MB / s), CPU seconds and peak RSS of the process
tree (CPU time helps when other jobs share the cores) and the load average, then the
ratios: winnow/datatrove docs/s on wall time and per CPU-second (goal >= 3.5), winnow against
the parse limit (goal: within 2x, a ratio >= 0.5), and peak RSS (goal <= 2048 MB).
"""

import os
import sys

# python puts bench/ first on sys.path; bench/select.py would then shadow the stdlib module.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE] + [_HERE]

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import psutil  # noqa: E402

HERE = Path(_HERE)
from corpus import build_corpus, describe  # noqa: E402
from measure import measure  # noqa: E402

BIN = Path(sys.executable).parent


def warm(paths) -> None:
    """Read the corpus once so both systems start from the same (warm) page cache."""
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass


def run_winnow(corpus: Path, tmp: Path, workers: int) -> dict:
    winnow = str(BIN / "winnow")
    lake = str(tmp / "lake")
    subprocess.run([winnow, "init", lake], check=True, capture_output=True)
    shards = [str(p) for p in sorted(corpus.glob("shard-*.jsonl"))]  # not the corpus's manifest.json
    r = measure([winnow, "ingest", lake, *shards, "--workers", str(workers), "--no-progress"])
    m = re.search(r"written ([\d,]+)", r["stdout"].splitlines()[-1] if r["stdout"].strip() else "")
    r["documents"] = int(m.group(1).replace(",", "")) if m else None
    return r


def run_datatrove(corpus: Path, tmp: Path, workers: int) -> dict:
    peer = HERE / "peers" / "datatrove_ingest.py"
    r = measure([sys.executable, str(peer), str(corpus), str(tmp / "datatrove"), "--workers", str(workers)])
    r["documents"] = json.loads(r["stdout"].strip().splitlines()[-1])["documents"]
    return r


def run_partitioned(corpus: Path, tmp: Path, workers: int) -> dict:
    shards = [str(p) for p in sorted(corpus.glob("shard-*.jsonl"))]
    r = measure([sys.executable, str(HERE / "ingest_partitioned.py"), str(tmp / "partitioned"), *shards,
                 "--workers", str(workers)])
    r["documents"] = json.loads(r["stdout"].strip().splitlines()[-1])["documents"]
    return r


def parse_file(path: str) -> int:
    """Documents in one JSON lines file, each line parsed by orjson (the parse limit's unit)."""
    import orjson

    n = 0
    with open(path, "rb") as f:
        for line in f:
            orjson.loads(line)
            n += 1
    return n


def parse_child(workers: int, shards: list[str]) -> None:
    """The parse limit, in its own process: `workers` processes parse the files; prints JSON."""
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        docs = sum(pool.map(parse_file, shards, chunksize=1))
    print(json.dumps({"documents": docs}))


def run_limit(corpus: Path, tmp: Path, workers: int) -> dict:
    shards = [str(p) for p in sorted(corpus.glob("shard-*.jsonl"))]
    r = measure([sys.executable, __file__, "--parse-child", str(workers), *shards])
    r["documents"] = json.loads(r["stdout"].strip().splitlines()[-1])["documents"]
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description="winnow vs datatrove ingestion benchmark")
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reps", type=int, default=1, help="rounds of the systems in turn")
    ap.add_argument("--only", choices=["winnow", "datatrove", "partitioned", "limit"])
    ap.add_argument("--keep", action="store_true", help="keep the temporary outputs")
    ap.add_argument("--parse-child", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.parse_child:
        parse_child(int(a.parse_child[0]), a.parse_child[1:])
        return

    corpus = HERE / ".cache" / f"corpus-{a.docs}-{a.seed}"
    if a.shards != 8:
        corpus = corpus.with_name(corpus.name + f"-{a.shards}")
    shards = build_corpus(corpus, a.docs, a.shards, a.seed)
    info = describe(corpus)
    mb = info["bytes"] / 1e6

    vm = psutil.virtual_memory().total / 2**30
    print(f"machine: {os.cpu_count()} cores, {vm:.1f} GiB RAM, {platform.platform()}, "
          f"python {platform.python_version()}, {datetime.datetime.now():%Y-%m-%d %H:%M}, "
          f"1-min load average {os.getloadavg()[0]:.2f} before the runs")
    print(f"input:   {a.docs:,} documents, {a.shards} jsonl shards, {mb:,.1f} MB "
          f"({info['bytes'] / a.docs / 1e3:.2f} KB/doc), {info['how']}; workers={a.workers}")

    print(f"command: python bench/ingest.py {' '.join(sys.argv[1:])}")
    systems = {"winnow": run_winnow, "datatrove": run_datatrove, "limit": run_limit}
    if a.only:
        systems = {a.only: {**systems, "partitioned": run_partitioned}[a.only]}
    tmp = Path(tempfile.mkdtemp(prefix="winnow-bench-"))
    rounds = []
    try:
        for rep in range(a.reps):
            results = {}
            for name, fn in systems.items():
                warm(shards)
                out = tmp / f"{name}-{rep}"
                out.mkdir()
                r = results[name] = fn(corpus, out, a.workers)
                shutil.rmtree(out, ignore_errors=True)
                docs = r["documents"]
                note = "" if docs == a.docs else f"  [documents: {docs}, expected {a.docs}]"
                print(f"round {rep + 1}  {name:11s} {r['seconds']:7.1f} s  {a.docs / r['seconds']:9,.0f} docs/s  "
                      f"{mb / r['seconds']:7.1f} MB/s  cpu {r['cpu_seconds']:6.1f} s "
                      f"({a.docs / max(r['cpu_seconds'], 1e-9):8,.0f} docs per CPU-s)  "
                      f"peak RSS {r['peak_rss'] / 2**20:7,.0f} MB  load {os.getloadavg()[0]:5.2f}{note}", flush=True)
            rounds.append(results)
            _ratios(results)
    finally:
        if a.keep:
            print(f"outputs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _ratios(results: dict) -> None:
    """One round's ratios: against datatrove, against the parse limit, and memory."""
    def ratio(a: str, b: str) -> str:
        wall = results[b]["seconds"] / results[a]["seconds"]
        cpu = results[b]["cpu_seconds"] / max(results[a]["cpu_seconds"], 1e-9)
        return f"{wall:.2f} on wall time, {cpu:.2f} per CPU-second"

    if "partitioned" in results and "winnow" in results:
        print(f"  ratio winnow (ingest/local.py) / partitioned runner on the local engine, docs/s: "
              f"{ratio('winnow', 'partitioned')}")
    if "datatrove" in results and "winnow" in results:
        print(f"  ratio winnow/datatrove docs/s: {ratio('winnow', 'datatrove')} (goal >= 3.5)")
    if "limit" in results and "winnow" in results:
        print(f"  ratio winnow/parse limit docs/s: {ratio('winnow', 'limit')} (goal >= 0.5: within 2x)")
    if "winnow" in results:
        print(f"  winnow peak RSS: {results['winnow']['peak_rss'] / 2**20:,.0f} MB (goal <= 2048)")

if __name__ == "__main__":
    main()

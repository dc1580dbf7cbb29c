"""Materialization benchmark: winnow on one worker, on N local worker processes and on N Ray
actors, against datatrove's DocumentTokenizer on N workers: the same cores, the same
selected documents, the same GPT-2 tokenizer.json.

    python bench/materialize.py [--docs 50000] [--workers N] [--reps 1] [--no-ray] [--no-one] [--baseline BIN]

A corpus of --docs documents (bench/corpus.py: paragraphs of ../shared/data resampled,
fixed seed) is ingested, and a top-k selection of about half its tokens made (cached under
bench/.cache). The selected documents are exported as jsonl for datatrove (untimed), in
4 files per worker (datatrove runs one task per file). Every run is a fresh process
measured by bench/measure.py: wall seconds, CPU seconds of its process tree, peak RSS
(summed over its processes). winnow runs as `winnow materialize` (shuffled, BOS+EOS per
document); on Ray, a child process starts a local cluster of N CPUs first and times the
job apart from the cluster's start-up (printed too). All winnow runs must write the same
shards: their manifests' checksums are compared. N defaults to this machine's cores.
`--baseline BIN`: another `winnow` executable (an older checkout's, say) run too, on N local
workers, in each repetition beside this one; its shards must be the same bytes.

The physical limit is printed beside them: the tokenizer's raw encode rate on the same
texts (the fast encoder winnow uses, train/materialize/bpe.py, one core, in this process,
the texts already in memory), and what it gives on N cores. Each run's CPU-seconds are
split into encoding (its tokens at that raw rate) and the rest: process start-up, reading,
packing, writing (the rest is what a small job loses to start-up).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import date  # noqa: E402

import psutil  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from corpus import DATA, build_corpus  # noqa: E402
from measure import measure  # noqa: E402

CACHE = HERE / ".cache"
PY = sys.executable
WINNOW = str(Path(PY).parent / "winnow")
GPT2 = str(DATA.parent / "tokenizers" / "gpt2-tokenizer.json")


def prepare(n_docs: int, workers: int) -> tuple[Path, Path, int]:
    """(the lake, the folder of the selection's jsonl for datatrove, documents selected)."""
    import winnow

    corpus = CACHE / f"corpus-{n_docs}-0"
    build_corpus(corpus, n_docs=n_docs, n_shards=4, seed=0)
    root = CACHE / f"materialize-{n_docs}"
    lake_path = root / "lake"
    if not (root / "done").exists():
        shutil.rmtree(root, ignore_errors=True)
        lake = winnow.init(lake_path)
        winnow.ingest_files(lake, [str(corpus)])
        half = winnow.query(lake, "SELECT sum(n_bytes) // 8 AS t FROM docs")["t"][0].as_py()
        winnow.select(lake, "half", "WITH c AS (SELECT id, n_bytes // 4 AS n_tokens, n_chars AS score FROM docs) "
                                    f"SELECT id FROM top_k(c, {half})")
        (root / "done").touch()
    selected = winnow.select_rows(lake_path, "half").num_rows
    jsonl = root / f"jsonl-{workers}w"
    if not (jsonl / "manifest.json").exists():
        shutil.rmtree(jsonl, ignore_errors=True)
        winnow.materialize(lake_path, "half", jsonl, format="jsonl", shard_docs=math.ceil(selected / (4 * workers)))
    return lake_path, jsonl, selected


def ray_child(lake_path: str, out: str, workers: int) -> None:
    """Runs in its own process: a local Ray cluster of `workers` CPUs, then the job; prints JSON."""
    import winnow
    from winnow.lake.engine import engine

    t0 = time.perf_counter()
    engine("ray", workers=workers)
    started = time.perf_counter() - t0
    r = winnow.materialize(lake_path, "half", out, tokenizer=GPT2, engine="ray", workers=workers)
    print(json.dumps({"cluster_seconds": started, "job_seconds": r.seconds}))


def raw_rate(lake_path: Path) -> tuple[int, float]:
    """(tokens, CPU-seconds) of the fast encoder on the selection's texts, in this process."""
    import winnow
    from winnow.lake.tokenizer import load_tokenizer
    from winnow.train.materialize.bpe import byte_level_bpe

    ids = winnow.select_rows(lake_path, "half")["id"]
    docs = winnow.Lake(str(lake_path)).docs()
    texts = docs.to_table(columns=["text"], filter=pc.field("id").isin(ids))["text"].to_pylist()
    fast, why = byte_level_bpe(load_tokenizer(GPT2))
    assert fast is not None, why
    t0 = time.process_time()
    tokens = sum(len(t) + 2 for t in fast.encode(texts))  # with BOS and EOS, as the shards count them
    return tokens, time.process_time() - t0


def _winnow(label: str, cmd: list[str], out: Path) -> dict:
    m = measure(cmd)
    m["load"] = os.getloadavg()[0]
    manifest = json.loads((out / "manifest.json").read_text())
    m.update(label=label, tokens=manifest["tokens"], checksums=[s["xxh3_128"] for s in manifest["shards"]])
    shutil.rmtree(out)
    return m


def run(n_docs: int, workers: int, reps: int, ray: bool, one: bool, baseline: str | None = None) -> None:
    lake, jsonl, selected = prepare(n_docs, workers)
    print(f"selection: {selected:,} of {n_docs:,} documents (bench/corpus.py, paragraphs resampled from "
          f"../shared/data); GPT-2 tokenizer.json; {workers} worker(s) where a run has several")
    base = [WINNOW, "materialize", str(lake), "half", "--tokenizer", GPT2, "--no-progress"]
    for rep in range(reps):
        limit_tokens, limit_cpu = raw_rate(lake)  # in each repetition: the load changes
        limit = limit_tokens / limit_cpu
        print(f"physical limit: the fast encoder's raw rate on these texts, {limit_tokens:,} tokens in "
              f"{limit_cpu:.2f} CPU-s = {limit:,.0f} tokens per CPU-second; on {workers} cores "
              f"{limit * workers:,.0f} tokens/s ({limit_tokens / (limit * workers):.2f} s) "
              f"(load {os.getloadavg()[0]:.2f})")
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            tmp = Path(tmp)
            runs = [_winnow(f"winnow, {workers} local worker processes",
                            [*base, "--out", str(tmp / "wn"), "--workers", str(workers)], tmp / "wn")]
            if baseline:
                runs.append(_winnow(f"baseline {baseline}, {workers} local worker processes",
                                    [baseline, *base[1:], "--out", str(tmp / "wb"), "--workers", str(workers)],
                                    tmp / "wb"))
            if one:
                runs.append(_winnow("winnow, 1 worker (this process)",
                                    [*base, "--out", str(tmp / "w1"), "--workers", "1"], tmp / "w1"))
            if ray:
                r = _winnow(f"winnow, {workers} Ray actors (job only)",
                            [PY, __file__, "--ray-child", str(lake), str(tmp / "wr"), str(workers)], tmp / "wr")
                times = json.loads(r["stdout"].strip().splitlines()[-1])
                r["seconds"] = times["job_seconds"]
                r["note"] = f"local cluster start-up {times['cluster_seconds']:.1f} s apart"
                runs.append(r)
            d = measure([PY, str(HERE / "peers" / "datatrove_tokenize.py"), str(jsonl), str(tmp / "dt"), GPT2,
                         "--workers", str(workers)])
            d.update(label=f"datatrove DocumentTokenizer, {workers} workers", load=os.getloadavg()[0],
                     tokens=json.loads(d["stdout"].strip().splitlines()[-1])["tokens"])
        assert all(r["checksums"] == runs[0]["checksums"] for r in runs), "winnow's runs wrote different shards"
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"-- repetition {rep + 1} of {reps} (load averages before it ended: {load}); winnow's "
              f"{len(runs)} runs wrote the same {len(runs[0]['checksums'])} shard(s), byte for byte")
        dt_rate, dt_cpu = d["tokens"] / d["seconds"], d["tokens"] / max(d["cpu_seconds"], 1e-9)
        for r in [*runs, d]:
            rate, cpu = r["tokens"] / r["seconds"], r["tokens"] / max(r["cpu_seconds"], 1e-9)
            ratio = ("" if r is d else
                     f" · {rate / dt_rate:.2f}x datatrove's tokens/s, {cpu / dt_cpu:.2f}x per CPU-second")
            note = f" ({r['note']})" if r.get("note") else ""
            encoding = r["tokens"] / limit
            split = ("" if r is d else f"; CPU {r['cpu_seconds']:.1f} s = encoding {encoding:.1f} (at the raw rate) "
                     f"+ the rest {r['cpu_seconds'] - encoding:.1f} (start-up, reading, writing)")
            print(f"{r['label']}: {r['tokens']:,} tokens in {r['seconds']:.1f} s = {rate:,.0f} tokens/s; "
                  f"{cpu:,.0f} tokens per CPU-second; peak RSS {r['peak_rss'] / 2**20:,.0f} MB; load "
                  f"{r['load']:.2f}{note}{split}{ratio}")
    print("goal: >= 5x datatrove's tokens/s on the same cores, under the same load (winnow writes BOS+EOS per "
          "document, datatrove EOS)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--no-one", action="store_true", help="leave out the one-worker run")
    ap.add_argument("--baseline", help="another winnow executable, run beside this one (its shards must match)")
    ap.add_argument("--ray-child", nargs=3)
    a = ap.parse_args()
    if a.ray_child:
        ray_child(a.ray_child[0], a.ray_child[1], int(a.ray_child[2]))
        return
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
          f"{platform.machine()}, {date.today()}; load averages {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"command: python bench/materialize.py {' '.join(sys.argv[1:])}")
    run(a.docs, a.workers, a.reps, not a.no_ray, not a.no_one, a.baseline)


if __name__ == "__main__":
    main()

"""Selection benchmark: re-selecting with new weights, and materializing a selection.

    python bench/select.py [--rows 5000000] [--reps 7] [--mat-docs 50000] [--only reselect|materialize] [--quick]

1. Re-selection. A lake of --rows documents (short texts: sentences resampled from
   ../shared/data; 10 SYNTHETIC score columns q0..q9 ~ N(0, 1) and a SYNTHETIC n_tokens
   ~ U[50, 2000), fixed seed) is built once under bench/.cache. Each repetition draws new
   weights and runs a weighted top-k under a token budget (5% of the lake's tokens) in
   a `winnow sql` session (winnow.sql.Session: DuckDB over the lake), in a fresh process
   measured for peak RSS: over the stored columns, over their zscore() (the lake version's
   statistics, cached in the catalog: arithmetic on constants), and over the window macro
   zscore_window() (the mean and deviation of the query's rows); each twice, alternating: a
   session without its column cache (--no-cache, winnow before it) and with it (--quick: the
   first two only, no peer). The peer re-selects the datatrove way: its Gopher quality and
   repetition, C4 and FineWeb filters run again over the text. They run at
   ~100 docs/s here, so they are timed on a sample of real documents from ../shared/data
   and scaled per document to --rows (said in the output).
2. Materialization: bench/materialize.py, run with --mat-docs documents: winnow on one
   worker, on all cores locally and on Ray, against datatrove's DocumentTokenizer on the
   same cores with the same GPT-2 tokenizer.json. Tokens/s, per CPU-second, peak RSS.
"""

from __future__ import annotations

import sys  # noqa: I001  (first: this file's folder must not shadow the stdlib `select` module)
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from datetime import date

import numpy as np
import psutil

from corpus import DATA, build_corpus  # noqa: E402
from measure import measure  # noqa: E402

CACHE = HERE / ".cache"
PY = sys.executable
N_SCORES = 10
BUDGET_SHARE = 0.05


def build_score_lake(rows: int) -> Path:
    """A lake of `rows` short real-text documents with 10 synthetic score columns."""
    import pyarrow as pa
    import pyarrow.compute as pc

    import winnow
    from winnow.lake.columns import add_columns

    root = CACHE / f"select-{rows}"
    if (root / "done").exists():
        return root / "lake"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    t0 = time.perf_counter()
    lake = winnow.init(root / "lake")
    add_columns(lake, [pa.field("n_tokens", pa.int32())] + [pa.field(f"q{j}", pa.float32()) for j in range(N_SCORES)])
    sentences = [s for line in open(DATA / "openwebtext-1000.jsonl")
                 for s in json.loads(line)["text"].split(". ") if 20 < len(s) < 300]
    rng = np.random.default_rng(0)
    step = 500_000
    for start in range(0, rows, step):
        n = min(step, rows - start)
        text = pa.array([sentences[i] for i in rng.integers(0, len(sentences), n)])
        ids = pa.array([f"syn-{i:09d}" for i in range(start, start + n)])
        cols = {
            "id": ids, "text": text, "source": pa.array(["synthetic"] * n), "url": pa.nulls(n, pa.string()),
            "meta": pa.nulls(n, pa.string()), "n_chars": pc.utf8_length(text).cast(pa.int64()),
            "n_bytes": pc.binary_length(text.cast(pa.binary())).cast(pa.int64()), "content_hash": ids,
            "ingest_id": pa.array(["bench"] * n), "input_row": pa.array(np.arange(start, start + n)),
            "n_tokens": pa.array(rng.integers(50, 2000, n).astype(np.int32)),
        }
        for j in range(N_SCORES):
            cols[f"q{j}"] = pa.array(rng.standard_normal(n).astype(np.float32))
        lake.append("docs", pa.table(cols, schema=lake.docs().schema))
    (root / "done").write_text(f"{time.perf_counter() - t0:.1f}")
    return root / "lake"


def reselect_child(lake_path: str, reps: int, kind: str, cache: bool = True) -> None:
    """Runs in its own process: repeated weighted top-k with fresh weights; prints JSON.
    Without `cache` the session keeps no column in memory (winnow before the ColumnCache)."""
    import resource

    import winnow
    from winnow.sql import Session, stats

    lake = winnow.open(lake_path)
    session = Session(lake)
    if not cache:
        session.cache = None
    con = session
    total = con.sql("SELECT sum(n_tokens) FROM docs").fetchall()[0][0]
    budget = int(total * BUDGET_SHARE)
    rng = np.random.default_rng(123)
    out = {"budget": budget, "total_tokens": int(total), "seconds": [], "cpu_seconds": []}
    if kind == "zscore":  # the statistics' one pass, timed apart (cached in the catalog after the first run)
        t0 = time.perf_counter()
        stats.compute(lake, session.version, [f"q{j}" for j in range(N_SCORES)])
        out["stats_seconds"] = time.perf_counter() - t0
    term = {"plain": "q{j}", "zscore": "zscore(q{j})", "window": "zscore_window(q{j})"}[kind]
    for rep in range(reps):
        w = rng.dirichlet(np.ones(N_SCORES))
        expr = " + ".join(f"{w[j]:.6f} * {term.format(j=j)}" for j in range(N_SCORES))
        sql = (f"WITH c AS (SELECT id, n_tokens, {expr} AS score FROM docs) "
               f"SELECT count(*) AS docs, sum(n_tokens) AS tokens FROM top_k(c, {budget})")
        t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        docs, tokens = con.sql(sql).fetchall()[0]
        out["seconds"].append(time.perf_counter() - t0)
        c1 = resource.getrusage(resource.RUSAGE_SELF)
        out["cpu_seconds"].append(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime)
        out["docs"], out["tokens"] = docs, int(tokens)
    print(json.dumps(out))


def reselect(rows: int, reps: int, sample_docs: int, quick: bool = False) -> None:
    t0 = time.perf_counter()
    lake = build_score_lake(rows)
    print(f"lake: {rows:,} documents, {N_SCORES} synthetic score columns + synthetic n_tokens "
          f"(ready in {time.perf_counter() - t0:.1f} s) at {lake}")
    medians = {}
    kinds = (("plain", "the stored columns"),
             ("zscore", "their zscore() (the lake version's constants, cached in column_stats)"),
             ("window", "their zscore_window() (over the query's rows: the window macro)"))
    for kind, what in kinds[:2] if quick else kinds:
        for cache in (False, True):  # before (every query decodes the columns from Lance) and now, alternating
            m = measure([PY, __file__, "--child", str(lake), "--reps", str(reps), "--kind", kind]
                        + ([] if cache else ["--no-cache"]))
            r = json.loads(m["stdout"].strip().splitlines()[-1])
            label = "session column cache" if cache else "no column cache (before)"
            medians[kind, cache] = statistics.median(r["seconds"])
            print(f"winnow, {label}: weighted top-k of {r['budget']:,} tokens ({BUDGET_SHARE:.0%}) over {what}, "
                  f"{reps} new weight vectors in one `winnow sql` session: median {medians[kind, cache]:.3f} s wall, "
                  f"{statistics.median(r['cpu_seconds']):.3f} CPU-s (first {r['seconds'][0]:.2f} s), "
                  f"selects {r['docs']:,} docs; peak RSS {m['peak_rss'] / 2**20:,.0f} MB (whole process)")
            if "stats_seconds" in r:
                print(f"  the 10 columns' statistics, one pass, once per lake version: {r['stats_seconds']:.3f} s")
        print(f"  {kind}: no cache / cache = {medians[kind, False] / medians[kind, True]:.2f}x "
              f"(load average {', '.join(f'{x:.2f}' for x in os.getloadavg())})")
    medians = {kind: medians[kind, True] for kind, _ in kinds if (kind, True) in medians}
    if quick:
        return
    plain, z = medians["plain"], medians["zscore"]
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "sample.jsonl"
        lines = []
        for name in ("openwebtext-1000.jsonl", "c4-sample-449.jsonl", "github-sample-50.jsonl"):
            lines += open(DATA / name).read().splitlines()
        sample.write_text("\n".join(lines[:sample_docs]) + "\n")
        peer = json.loads(measure([PY, str(HERE / "peers" / "datatrove_filters.py"), str(sample)])["stdout"].splitlines()[-1])
    scaled = rows / peer["docs_per_s"]
    print(f"datatrove: its 4 quality filters re-run over the text: {peer['docs_per_s']:,.0f} docs/s on "
          f"{peer['documents']:,} real documents of ../shared/data (timed on that sample, scaled per document): "
          f"{scaled:,.0f} s for {rows:,} documents")
    print(f"ratio datatrove/winnow re-selection time: {scaled / plain:,.0f}x (stored columns), "
          f"{scaled / z:,.0f}x (zscore()); goal: winnow <= 0.5 s median (both), <= 1024 MB peak RSS")


def materialize_bench(n_docs: int) -> None:
    """Materialization: bench/materialize.py (winnow on 1 worker, on all cores locally and on
    Ray, against datatrove's DocumentTokenizer on the same cores)."""
    from materialize import run

    run(n_docs, os.cpu_count() or 1, reps=1, ray=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--sample-docs", type=int, default=1000)
    ap.add_argument("--mat-docs", type=int, default=50_000)
    ap.add_argument("--only", choices=["reselect", "materialize"])
    ap.add_argument("--child")
    ap.add_argument("--kind", default="plain")
    ap.add_argument("--no-cache", action="store_true", help="(child) a session without its column cache")
    ap.add_argument("--quick", action="store_true", help="re-selection: stored columns and zscore() only, no peer")
    a = ap.parse_args()
    if a.child:
        reselect_child(a.child, a.reps, a.kind, cache=not a.no_cache)
        return
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
          f"{platform.machine()}, {date.today()}")
    if a.only in (None, "reselect"):
        reselect(a.rows, a.reps, a.sample_docs, a.quick)
    if a.only in (None, "materialize"):
        materialize_bench(a.mat_docs)


if __name__ == "__main__":
    main()

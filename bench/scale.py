"""Scale: per-row costs on the engines, the engines' own overhead, the commit cost as the
fragment count grows, and an extrapolation to SlimPajama-627B as Meta-rater rated it.

    python bench/scale.py [--docs 20000] [--only engine|commit|jobs|extrapolate] [--nodes 16 --cores 64]

1. Engine overhead: `Engine.map` of a no-op over 2,000 units on `local` (2 processes) and
   `ray` (2 actors, a local cluster on 127.0.0.1): the start-up, and the time per unit.
2. Commit cost: a Lance dataset of F fragments (F = 100, 1,000, 10,000; 10 rows each) and,
   on it: one more fragment appended (LanceOperation.Append), a column added to every
   fragment in one Merge (LanceOperation.Merge listing all F), opening the latest version
   and counting rows. Median of 3 each.
3. Column writes: one 65,536-row batch of one float32 column committed on lakes of 262k,
   1M and 4M rows, by a merge on ids (merge_insert, rewrite_columns: what scoring did) and
   by a DataReplacement of one fragment's column file (what it does now).
4. Jobs: a corpus of --docs documents (bench/corpus.py: paragraphs of ../shared/data
   resampled, fixed seed) ingested, scored by each heuristic scorer and materialized with
   the GPT-2 tokenizer.json, on `local` with 1 and 2 workers and on `ray` with 2 workers:
   seconds and µs per row (per worker-second), each in a fresh process.
5. A large lake (`--only lake` or one stage: `--only lake-ingest` ...; `--lake-docs`, default
   10,000,000): short documents (bench/corpus.py, paragraphs=(2, 2): ~0.6 KB, seed 0, about
   1.7% exact duplicates) built under bench/.cache/scale-N/ and kept there, then each stage
   that grows with the lake rather than per row, each a `winnow` command measured apart
   (wall seconds, peak RSS of its process tree, the lake's size on disk after it):
   `ingest` (lake-wide exact dedup, the key index built at its end), `second` (10,000 new
   documents, seed 1, 2, ... one more per run, into the large lake: keys looked up in the
   index; and, for comparison, another 10,000 with every key read, as before the index),
   `import` (Meta-rater's 25 score columns, random normal values with seed 0, by
   `import-scores`), `select` (top 5% by a weighted sum of the 25 z-scored columns: the first
   selection computes the column statistics, a re-selection with new weights reads them),
   `minhash` (the scorer's signatures of every document), `cluster` (`dedup --method
   minhash` from the stored signatures), `materialize` (the 5% selection into GPT-2 token
   shards), `score` (per-row work, linear and parallel: the rps and gopher scorers; run at
   `--lake-docs 1000000` and extrapolated). Stages run in this order; each needs those
   before it (`cluster` needs `minhash`, `materialize` needs `select`). `--only
   lake-extrapolate` scales each stage's last figure linearly to 590M documents, labelled.
6. Extrapolation, labelled as such: 590M documents (SlimPajama-627B, ~1,063 tokens each)
   through each stage on N nodes of C cores at the per-core rates measured in 4 (linear
   scaling assumed: the units are independent and each commit is one manifest write), and
   the GPU-hours of Meta-rater's four ModernBERT-base raters from FLOPs (2 × parameters ×
   tokens per forward pass) at an ASSUMED 35% MFU on an H100 (989 TFLOP/s bf16 dense) —
   no GPU has measured it (docs/benchmarks.md, Raters) — and, measured, at the CPU rate of
   bench/raters.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import date  # noqa: E402

import psutil  # noqa: E402

import winnow  # noqa: E402,F401  (first: it sets LANCE_LOG before Lance loads)

from corpus import DATA, build_corpus  # noqa: E402
from measure import measure, median_time  # noqa: E402

CACHE = HERE / ".cache"
WINNOW = str(Path(sys.executable).parent / "winnow")
PY = sys.executable
GPT2 = str(DATA.parent / "tokenizers" / "gpt2-tokenizer.json")
HEURISTICS = ("gopher", "rps", "c4", "fineweb", "lang")
SLIMPAJAMA_DOCS = 590_000_000
SLIMPAJAMA_TOKENS = 627e9
MODERNBERT_PARAMS = 149.6e6  # docs/benchmarks.md, Raters: the ModernBERT-base-sized classifier
H100_BF16 = 989e12
ASSUMED_MFU = 0.35
RATER_CPU_TOKENS_PER_S = 315  # docs/benchmarks.md, Raters: measured, 2 CPU threads, max_length 512


def noop(_state, unit):
    return unit


def engine_overhead(units: int = 2000) -> None:
    from winnow.lake.engine import engine

    for name in ("local", "ray"):
        t0 = time.perf_counter()
        e = engine(name, workers=2)
        started = time.perf_counter() - t0
        list(e.map(noop, list(range(8))))  # workers up
        t0 = time.perf_counter()
        n = sum(1 for _ in e.map(noop, list(range(units))))
        per = (time.perf_counter() - t0) / n
        print(f"engine {name}: start {started:.1f} s; {n:,} no-op units on 2 workers: {per * 1e3:.2f} ms per unit")


def commit_cost(counts=(100, 1000, 10000)) -> None:
    import lance
    import pyarrow as pa
    from lance import LanceOperation
    from lance.fragment import write_fragments

    for n in counts:
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            uri = f"{tmp}/t.lance"
            schema = pa.schema([("id", pa.int64()), ("x", pa.float32())])
            lance.write_dataset(pa.table({"id": pa.array([], pa.int64()), "x": pa.array([], pa.float32())}), uri)
            t0 = time.perf_counter()
            table = pa.table({"id": pa.array(range(10 * n), pa.int64()), "x": pa.array([1.0] * (10 * n), pa.float32())})
            frags = write_fragments(table, uri, schema=schema, max_rows_per_file=10)
            ds = lance.LanceDataset.commit(uri, LanceOperation.Append(frags), read_version=1)
            built = time.perf_counter() - t0
            assert len(ds.get_fragments()) == n
            one = pa.table({"id": pa.array([-1], pa.int64()), "x": pa.array([0.0], pa.float32())})

            def append():
                f = write_fragments(one, uri, schema=schema)
                lance.LanceDataset.commit(uri, LanceOperation.Append(f), read_version=lance.dataset(uri).version)

            append_s = median_time(append)
            ds = lance.dataset(uri)
            t0 = time.perf_counter()
            merged = []
            new_schema = None
            for fragment in ds.get_fragments():
                meta, new_schema = fragment.merge_columns(lambda b: pa.record_batch([pa.compute.multiply(b["x"], 2)],
                                                                                      names=["y"]), columns=["x"])
                merged.append(meta)
            write_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            lance.LanceDataset.commit(uri, LanceOperation.Merge(merged, new_schema), read_version=ds.version)
            merge_s = time.perf_counter() - t0
            open_s = median_time(lambda: lance.dataset(uri).count_rows())
            print(f"commit cost, {n:,} fragments (built in {built:.1f} s): append one fragment {append_s * 1e3:.0f} ms; "
                  f"a column over all fragments: {write_s / n * 1e3:.1f} ms per fragment to write, one Merge commit "
                  f"{merge_s * 1e3:.0f} ms; open + count_rows {open_s * 1e3:.0f} ms")


def column_write_cost(sizes=(262_144, 1_048_576, 4_194_304), batch: int = 65_536) -> None:
    """One batch of one float32 column committed as the lake grows: the merge by id that
    scoring used before (merge_insert, rewrite_columns) against the DataReplacement of one
    fragment's column file it uses now (lake/fragments.py)."""
    import uuid

    import lance
    import numpy as np
    import pyarrow as pa
    from lance import LanceOperation
    from lance.file import LanceFileWriter
    from lance.fragment import DataFile

    for n in sizes:
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            uri = f"{tmp}/docs.lance"
            ids = pa.array([f"doc-{i:09d}" for i in range(n)])
            lance.write_dataset(pa.table({"id": ids, "text": pa.array(["x" * 100] * n)}), uri, max_rows_per_file=batch)
            lance.dataset(uri).add_columns([pa.field("a", pa.float32()), pa.field("b", pa.float32())])
            values = pa.array(np.random.default_rng(0).random(batch, dtype=np.float32))
            merge, replace = [], []
            for rep in range(2):
                t0 = time.perf_counter()
                lance.dataset(uri).merge_insert("id").when_matched_update_all().write_mode("rewrite_columns").execute(
                    pa.table({"id": ids.slice(batch * (rep + 1), batch), "a": values}))
                merge.append(time.perf_counter() - t0)
                ds = lance.dataset(uri)
                t0 = time.perf_counter()
                name = f"{uuid.uuid4()}.lance"
                with LanceFileWriter(f"{uri}/data/{name}", version=ds.data_storage_version) as w:
                    w.write_batch(pa.table({"b": values}))
                group = LanceOperation.DataReplacementGroup(rep + 1, DataFile.create(ds, name))
                lance.LanceDataset.commit(ds, LanceOperation.DataReplacement([group]), read_version=ds.version)
                replace.append(time.perf_counter() - t0)
            print(f"column write, lake of {n:,} rows: one {batch:,}-row batch by merge_insert "
                  f"{merge[0]:.3f} / {merge[1]:.3f} s; DataReplacement of one fragment's file "
                  f"{replace[0]:.3f} / {replace[1]:.3f} s")


# -- jobs -------------------------------------------------------------------------------------

def job_child(kind: str, lake_path: str, engine: str, workers: int, extra: str) -> None:
    """Runs in its own process: one job on one engine; prints JSON {seconds, rows}."""
    import winnow

    lake = winnow.open(lake_path)
    options = {"workers": workers, "engine": engine}
    t0 = time.perf_counter()
    if kind == "ingest":
        winnow.ingest_files(lake, [extra], **options)
        rows = winnow.info(lake).documents
    elif kind == "score":
        winnow.score(lake, extra, **options)
        rows = winnow.info(lake).documents
    else:
        report = winnow.materialize(lake, "all", extra, tokenizer=GPT2, **options)
        rows = getattr(report, "documents", None) or winnow.info(lake).documents
    print(json.dumps({"seconds": time.perf_counter() - t0, "rows": rows}))


RUNS = (("local", 1), ("local", 2), ("ray", 2))


def jobs(n_docs: int) -> dict:
    """µs per row per worker of each stage, by engine; returns the best per-core rates."""
    import winnow

    corpus = CACHE / f"corpus-{n_docs}-0"
    build_corpus(corpus, n_docs=n_docs, n_shards=8, seed=0)
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        base = None
        for engine, workers in RUNS:
            lake_path = f"{tmp}/{engine}-{workers}"
            winnow.init(lake_path)
            r = _child("ingest", lake_path, engine, workers, str(corpus))
            _report("ingest", engine, workers, r, rates)
            base = base or lake_path
        for scorer in HEURISTICS:
            for engine, workers in RUNS:
                lake_path = f"{tmp}/{engine}-{workers}"
                r = _child("score", lake_path, engine, workers, scorer)
                _report(f"score {scorer}", engine, workers, r, rates)
        winnow.select(base, "all", "SELECT id FROM docs")
        for engine, workers in RUNS:
            out = f"{tmp}/shards-{engine}-{workers}"
            r = _child("materialize", base, engine, workers, out)
            _report("materialize", engine, workers, r, rates)
            shutil.rmtree(out, ignore_errors=True)
    return rates


def _child(kind, lake_path, engine, workers, extra) -> dict:
    m = measure([PY, __file__, "--child", kind, lake_path, engine, str(workers), extra])
    return json.loads(m["stdout"].strip().splitlines()[-1])


def _report(stage: str, engine: str, workers: int, r: dict, rates: dict) -> None:
    per_row = r["seconds"] * workers / r["rows"]  # worker-seconds per row
    print(f"{stage:<18} {engine:<5} {workers} worker(s): {r['rows']:,} rows in {r['seconds']:.1f} s = "
          f"{r['rows'] / r['seconds']:,.0f} rows/s, {per_row * 1e6:,.0f} µs per row per worker")
    rates[stage] = min(rates.get(stage, float("inf")), per_row)


# -- a large lake -------------------------------------------------------------------------------

METARATER = ("prrc_professionalism", "prrc_readability", "prrc_reasoning", "prrc_cleanliness",
             "qurating_writing_style", "qurating_required_expertise", "qurating_facts_and_trivia",
             "qurating_educational_value", "fineweb_edu", "wanjuan_advertisement", "wanjuan_fluency",
             "dsir_books", "dsir_wiki", "dsir_math", "rps_doc_word_count", "rps_doc_num_sentences",
             "rps_doc_mean_word_length", "rps_doc_unigram_entropy", "rps_doc_frac_unique_words",
             "rps_doc_frac_no_alph_words", "rps_doc_frac_chars_top_2gram", "rps_doc_frac_chars_top_3gram",
             "rps_lines_uppercase_letter_fraction", "rps_lines_numerical_chars_fraction",
             "rps_lines_ending_with_terminal_punctution_mark")
LAKE_STAGES = ("ingest", "second", "import", "select", "minhash", "cluster", "materialize", "score")
SELECT_SHARE = 0.05


class LargeLake:
    """The large lake's folder, its results (results.json: one entry per stage run) and its stages."""

    def __init__(self, n_docs: int):
        self.n = n_docs
        self.root = CACHE / f"scale-{n_docs}"
        self.lake = self.root / "lake"
        self.results_file = self.root / "results.json"
        self.root.mkdir(parents=True, exist_ok=True)

    def results(self) -> list:
        return json.loads(self.results_file.read_text()) if self.results_file.exists() else []

    def run(self, stage: str, label: str, cmd: list[str], env: dict | None = None, **extra) -> dict:
        """Measure one command; print and keep its figures."""
        load = os.getloadavg()[0]
        m = measure(cmd, env={**os.environ, **(env or {})})
        disk = sum(f.stat().st_size for f in self.lake.rglob("*") if f.is_file()) if self.lake.exists() else 0
        r = {"stage": stage, "label": label, "seconds": round(m["seconds"], 2),
             "cpu_seconds": round(m["cpu_seconds"], 1), "peak_rss_mb": round(m["peak_rss"] / 2**20),
             "lake_disk_mb": round(disk / 2**20), "load_before": round(load, 1),
             "load_after": round(os.getloadavg()[0], 1), "at": time.strftime("%Y-%m-%d %H:%M:%S"),
             "last_line": (m["stdout"].strip().splitlines() or [""])[-1][-300:], **extra}
        print(f"{stage:<12} {label}: {r['seconds']:,.1f} s wall, {r['cpu_seconds']:,.0f} CPU s, peak RSS "
              f"{r['peak_rss_mb']:,} MB, lake {r['lake_disk_mb']:,} MB on disk, load {load:.1f} -> "
              f"{r['load_after']:.1f}\n             {r['last_line']}", flush=True)
        self.results_file.write_text(json.dumps(self.results() + [r], indent=1))
        return r

    def corpus(self, name: str, n_docs: int, seed: int, first_id: int, shards: int) -> list[str]:
        return [str(p) for p in build_corpus(self.root / name, n_docs=n_docs, n_shards=shards, seed=seed,
                                             paragraphs=(2, 2), first_id=first_id)]

    def ingest(self) -> None:
        shards = self.corpus("corpus", self.n, 0, 0, 16)
        if self.lake.exists():
            shutil.rmtree(self.lake)
        subprocess.run([WINNOW, "init", str(self.lake)], check=True, capture_output=True)
        self.run("ingest", f"{self.n:,} documents (seed 0) into an empty lake, 2 workers",
                 [WINNOW, "ingest", str(self.lake), *shards, "--workers", "2", "--no-progress"])

    def second(self) -> None:
        import winnow
        from winnow.ingest import keyindex

        done = sum(1 for r in self.results() if r["stage"] == "second")
        if max(keyindex.lag(winnow.open(self.lake).docs()).values()) >= keyindex.unindexed_limit():
            code = ("import winnow; from winnow.ingest import keyindex; "
                    f"keyindex.update(winnow.open({str(self.lake)!r}))")
            self.run("index", "the key index built on a lake made before it (what its next ingest does first)",
                     [PY, "-c", code])
        old = {"WINNOW_KEY_INDEX_ROWS": str(10**15)}  # no index is ever that far behind: keys read
        for k, (how, env) in enumerate((("keys looked up in the key index", {}),
                                        ("every key read (as before the index)", old))):
            seed = 1 + done + k
            shards = self.corpus(f"new-{seed}", 10_000, seed, 100_000_000 * seed, 2)
            lake = winnow.open(self.lake)
            rows, lag = lake.docs().count_rows(), keyindex.lag(lake.docs())
            self.run("second", f"10,000 new documents (seed {seed}) into {rows:,}, {how}",
                     [WINNOW, "ingest", str(self.lake), *shards, "--workers", "2", "--no-progress"], env,
                     lake_rows=rows, index_lag=lag)

    def import_scores(self) -> None:
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq
        import winnow

        path = self.root / "metarater-scores.parquet"
        ids = winnow.open(self.lake).docs().to_table(columns=["id"])["id"]
        rng = np.random.default_rng(0)
        columns = {"id": ids, **{c: pa.array(rng.standard_normal(len(ids), dtype=np.float32)) for c in METARATER}}
        pq.write_table(pa.table(columns), path)
        del ids, columns
        self.run("import", "Meta-rater's 25 score columns (random normal, seed 0) for every document",
                 [WINNOW, "import-scores", str(self.lake), str(path), "--replace"])

    def _selection(self, name: str, seed: int) -> str:
        import numpy as np

        weights = np.random.default_rng(seed).dirichlet(np.ones(len(METARATER)))
        terms = " + ".join(f"{w:.4f} * zscore({c})" for w, c in zip(weights, METARATER))
        n = int(SELECT_SHARE * self.n)
        return f"WITH c AS (SELECT id, {terms} AS score FROM docs) SELECT id FROM c ORDER BY score DESC, id LIMIT {n}"

    def select(self) -> None:
        for k, what in enumerate(("first selection (column statistics computed)", "re-selection, new weights",
                                  "re-selection, new weights")):
            name = f"top5-{k}"
            self.run("select", f"top 5% by 25 z-scored columns: {what}",
                     [WINNOW, "select", "create", str(self.lake), name, "--replace", "-q", self._selection(name, k)])

    def minhash(self) -> None:
        self.run("minhash", "minhash signatures of every document (the scorer), 2 workers",
                 [WINNOW, "score", str(self.lake), "minhash", "--workers", "2", "--no-progress"])

    def cluster(self) -> None:
        self.run("cluster", "MinHash-LSH clusters from the stored signatures, threshold 0.8, 2 workers",
                 [WINNOW, "dedup", str(self.lake), "--method", "minhash", "--workers", "2", "--no-progress"])

    def materialize(self) -> None:
        out = self.root / "shards"
        shutil.rmtree(out, ignore_errors=True)
        self.run("materialize", "the 5% selection (top5-1) into GPT-2 token shards, 2 workers",
                 [WINNOW, "materialize", str(self.lake), "top5-1", "--out", str(out), "--tokenizer", GPT2,
                  "--workers", "2", "--no-progress"])
        shutil.rmtree(out, ignore_errors=True)

    def score(self) -> None:
        for scorer in ("rps", "gopher"):
            self.run("score", f"heuristic scorer {scorer} over every document, 2 workers",
                     [WINNOW, "score", str(self.lake), scorer, "--workers", "2", "--no-progress"])


LINEAR_STAGES = {"ingest": "per document", "index": "per document", "import": "per document",
                 "select": "per document", "minhash": "per document", "cluster": "per document (n log n: a floor)",
                 "materialize": "per selected document", "score": "per document"}


def lake_extrapolate(n_docs: int, nodes: int, cores: int) -> None:
    """The large lake's last figure of each stage (and label), scaled linearly to SlimPajama's
    documents: EXTRAPOLATED, as printed. `second` is not scaled (its work is the run's)."""
    results = LargeLake(n_docs).results()
    last = {}
    for r in results:
        last[(r["stage"], r["label"])] = r
    print(f"EXTRAPOLATION (not measured at this scale): the stages measured at {n_docs:,} documents, "
          f"CPU-seconds and peak RSS scaled linearly to {SLIMPAJAMA_DOCS / 1e6:,.0f}M documents, on {nodes} x "
          f"{cores} cores:")
    for (stage, label), r in last.items():
        if stage not in LINEAR_STAGES:
            continue
        k = SLIMPAJAMA_DOCS / n_docs
        core_hours = r["cpu_seconds"] * k / 3600
        print(f"  {stage:<12} {label[:70]:<70} {core_hours:>9,.1f} core-hours -> {core_hours / (nodes * cores):>7,.2f}"
              f" h wall (peak RSS measured: {r['peak_rss_mb']:,} MB)")
    print("  (short documents, 0.62 KB and ~127 GPT-2 tokens: SlimPajama's are ~4.5 KB and ~1,063 tokens, so the "
          "per-byte stages, ingest, scorers, minhash and materialize, cost several times more per document; index, "
          "import, selections and clustering go by rows)")


def large_lake(n_docs: int, only: str | None, nodes: int = 16, cores: int = 64) -> None:
    if only == "lake-extrapolate":
        lake_extrapolate(n_docs, nodes, cores)
        return
    big = LargeLake(n_docs)
    stages = LAKE_STAGES if only == "lake" else (only.removeprefix("lake-"),)
    for stage in stages:
        getattr(big, {"import": "import_scores"}.get(stage, stage))()


def extrapolate(rates: dict, nodes: int, cores: int) -> None:
    print(f"EXTRAPOLATION (not measured at this scale): {SLIMPAJAMA_DOCS / 1e6:,.0f}M documents on {nodes} nodes x "
          f"{cores} cores, at the best per-core cost measured above, scaling linearly:")
    total = 0.0
    for stage, per_row in rates.items():
        core_hours = SLIMPAJAMA_DOCS * per_row / 3600
        total += core_hours
        print(f"  {stage:<18} {core_hours:>10,.0f} core-hours -> {core_hours / (nodes * cores):>8,.2f} h wall")
    print(f"  {'all of it':<18} {total:>10,.0f} core-hours -> {total / (nodes * cores):>8,.2f} h wall")
    flops = 4 * 2 * MODERNBERT_PARAMS * SLIMPAJAMA_TOKENS  # four PRRC raters, forward only
    gpu_hours = flops / (H100_BF16 * ASSUMED_MFU) / 3600
    cpu_hours = 4 * SLIMPAJAMA_TOKENS / RATER_CPU_TOKENS_PER_S / 3600
    print(f"  Meta-rater's 4 ModernBERT-base raters over {SLIMPAJAMA_TOKENS / 1e9:,.0f}B tokens: {flops:.2e} FLOPs = "
          f"{gpu_hours:,.0f} H100-hours at an ASSUMED {ASSUMED_MFU:.0%} MFU (not measured: no GPU lent); at the "
          f"measured CPU rate ({RATER_CPU_TOKENS_PER_S} tokens/s per 2 threads) {cpu_hours:,.0f} two-core-hours")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--only", choices=["engine", "commit", "columns", "jobs", "extrapolate", "lake",
                                       *(f"lake-{s}" for s in (*LAKE_STAGES, "extrapolate"))])
    ap.add_argument("--lake-docs", type=int, default=10_000_000)
    ap.add_argument("--nodes", type=int, default=16)
    ap.add_argument("--cores", type=int, default=64)
    ap.add_argument("--child", nargs=5)
    a = ap.parse_args()
    if a.child:
        kind, lake_path, engine, workers, extra = a.child
        job_child(kind, lake_path, engine, int(workers), extra)
        return
    CACHE.mkdir(exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
          f"{platform.machine()}, {date.today()}, load average {os.getloadavg()[0]:.1f}")
    if a.only in (None, "engine"):
        engine_overhead()
    if a.only in (None, "commit"):
        commit_cost()
    if a.only in (None, "columns"):
        column_write_cost()
    if a.only is not None and a.only.startswith("lake"):
        large_lake(a.lake_docs, a.only, a.nodes, a.cores)
        return
    rates = {}
    if a.only in (None, "jobs"):
        rates = jobs(a.docs)
    if a.only in (None, "extrapolate", "jobs") and rates:
        extrapolate(rates, a.nodes, a.cores)


if __name__ == "__main__":
    main()

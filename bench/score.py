"""Scoring benchmark: heuristic scorers against datatrove's filters; bytes per added column;
agreement of the keep/drop decisions with datatrove's.

    python bench/score.py [--docs 200000] [--peer-docs 20000] [--workers 2]
                          [--scorers rps,gopher,c4,fineweb] [--agreement-docs 2000] [--agreement-only]
                          [--real-rounds 2] [--real-only]

1. A corpus of --docs documents (bench/corpus.py: paragraphs of ../shared/data resampled
   with a fixed seed) is ingested once (cached under bench/.cache). `winnow score` runs
   each heuristic scorer (rps, gopher, c4, fineweb) over all of it on --workers processes,
   each run timed as a whole command (start-up and commits included).
2. The peer: datatrove's GopherRepetitionFilter + GopherQualityFilter + C4QualityFilter +
   FineWebQualityFilter on the same documents. It runs at about 20 docs/s per process here,
   so it is timed on the first --peer-docs documents of the same corpus, on one process per
   core (the sample split in halves), and compared per document with winnow's gopher + c4 +
   fineweb (the same statistics). Both are also given per CPU-second (user + system of all
   processes), which other jobs sharing the cores disturb less than wall time.
3. Bytes written when a float32 column is added to every row (via import-scores), scaled
   to 1M documents, and a check that no existing data file changed.
4. Agreement: sql/examples/datatrove-filters.sql over winnow's columns against each
   datatrove filter's own decision, per document, on the first --agreement-docs documents
   of the corpus and on every real document of ../shared/data (its own lake, scored here).
   With --agreement-only, only this step runs (on a corpus of --agreement-docs documents).
5. Real documents (--real-rounds, default 2; 0: skipped; --real-only: only this step): every
   document of ../shared/data and ../shared/labels (OpenWebText pages, C4 pages, Common Crawl
   pages from WARC and from DCLM's labelled set, GitHub files), each new to both sides (no
   per-chunk cache is warm, unlike the resampled paragraphs of step 1). Both sides run as whole
   commands, in turns (winnow first in odd rounds, datatrove first in even ones), on a fresh
   copy of the lake each time: `winnow score LAKE gopher c4 fineweb --workers W` against
   datatrove's four filters on W processes (the documents split in W parts, one command each).
   Each: wall seconds and CPU-seconds of the process tree (start-up included), the load
   average before it; datatrove also by its timed loop alone (spaCy loaded, start-up left out).
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
import subprocess
import tempfile
import time
from datetime import date

import numpy as np
import psutil

from corpus import build_corpus  # noqa: E402
from measure import measure  # noqa: E402

CACHE = HERE / ".cache"
PY = sys.executable
WINNOW = str(Path(PY).parent / "winnow")
HEURISTICS = ("rps", "gopher", "c4", "fineweb")
DATATROVE_TWINS = ("gopher", "c4", "fineweb")
ROOT = HERE.parent
DATA = ROOT.parent / "shared" / "data"
EXAMPLE = ROOT / "sql" / "examples" / "datatrove-filters.sql"
KEEPS = ("gopher_quality_keep", "gopher_repetition_keep", "c4_quality_keep", "fineweb_quality_keep")


def lake_for(n_docs: int) -> tuple[Path, Path]:
    import winnow

    corpus = CACHE / f"corpus-{n_docs}-0"
    build_corpus(corpus, n_docs=n_docs, n_shards=4, seed=0)
    root = CACHE / f"score-{n_docs}"
    if not (root / "done").exists():
        shutil.rmtree(root, ignore_errors=True)
        winnow.ingest_files(winnow.init(root / "lake"), [str(corpus)])
        (root / "done").touch()
    return root / "lake", corpus


def files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def peer_decisions(rows: list[dict], tmp: Path, workers: int) -> dict[str, dict]:
    """Each datatrove filter's decision for each row (id, text), on `workers` processes."""
    parts, procs = [], []
    size = len(rows) // workers + 1
    for w in range(workers):
        src, dst = tmp / f"decide-{w}.jsonl", tmp / f"decided-{w}.jsonl"
        src.write_text("".join(json.dumps(r) + "\n" for r in rows[w * size:(w + 1) * size]))
        peer = [PY, str(HERE / "peers" / "datatrove_filters.py"), str(src), "--decisions", str(dst)]
        procs.append(subprocess.Popen(peer, stdout=subprocess.DEVNULL))
        parts.append(dst)
    for p in procs:
        if p.wait() != 0:
            raise RuntimeError("datatrove_filters.py --decisions failed")
    return {d["id"]: d for part in parts for d in map(json.loads, part.read_text().splitlines())}


def agreement(lake, rows: list[dict], tmp: Path, workers: int, label: str) -> None:
    """Print, per filter, how often the SQL example's keep column equals datatrove's decision."""
    import winnow

    ours = {r["id"]: r for r in winnow.query(lake, EXAMPLE.read_text()).to_pylist()}
    theirs = peer_decisions(rows, tmp, workers)
    print(f"agreement with datatrove, {label} ({len(rows):,} documents; sql/examples/datatrove-filters.sql):")
    for keep in KEEPS:
        differ = [i for i in theirs if bool(ours[i][keep]) != theirs[i][keep]]
        why = [theirs[i].get(keep.replace("_keep", "_why"), "kept") for i in differ[:5]]
        print(f"  {keep:24s} {1 - len(differ) / len(rows):8.2%}  ({len(differ)} differ"
              + (f"; first: {', '.join(f'{i} (datatrove: {w})' for i, w in zip(differ, why))}" if differ else "") + ")")


def real_lake(tmp: Path) -> Path:
    """The documents of ../shared/data in a lake (cached), copied to tmp."""
    import winnow

    root = CACHE / "real"
    if not (root / "done").exists():
        shutil.rmtree(root, ignore_errors=True)
        winnow.ingest_files(winnow.init(root / "lake"), [str(DATA)])
        (root / "done").touch()
    shutil.copytree(root / "lake", tmp / "real")
    return tmp / "real"


def run_agreement(work: Path, n_rows: int, tmp: Path, workers: int) -> None:
    import winnow

    lake = winnow.open(work)
    table = lake.docs().to_table(columns=["id", "text"])
    agreement(lake, table.slice(0, n_rows).to_pylist(), tmp, workers, "first documents of the resampled corpus")
    real = winnow.open(real_lake(tmp))
    for scorer in DATATROVE_TWINS:
        winnow.score(real, scorer, workers=workers)
    agreement(real, real.docs().to_table(columns=["id", "text"]).to_pylist(), tmp, workers,
              "real documents of ../shared/data")


def real_documents_lake() -> Path:
    """The documents of ../shared/data and ../shared/labels in a lake (cached)."""
    import winnow

    root = CACHE / "real-docs"
    if not (root / "done").exists():
        shutil.rmtree(root, ignore_errors=True)
        winnow.ingest_files(winnow.init(root / "lake"), [str(DATA), str(DATA.parent / "labels")])
        (root / "done").touch()
    return root / "lake"


def run_real(rounds: int, workers: int, baseline: str | None = None) -> None:
    """Step 5: both sides on the real documents, whole commands, in turns (with `baseline`,
    another `winnow` executable, e.g. an older checkout's, as a third side)."""
    import winnow

    lake_path = real_documents_lake()
    rows = winnow.open(lake_path).docs().to_table(columns=["id", "text"]).to_pylist()
    n, mb = len(rows), sum(len(r["text"].encode()) for r in rows) / 1e6
    print(f"input: {n:,} real documents, {mb:.1f} MB of text (../shared/data: OpenWebText, C4, Common Crawl WARC "
          f"pages, GitHub files; ../shared/labels: DCLM's labelled Common Crawl pages), each new to both sides")
    command = ["score", "LAKE", *DATATROVE_TWINS, "--workers", str(workers), "--no-progress"]
    print(f"winnow:    winnow {' '.join(command)}" + (f" (baseline: {baseline})" if baseline else ""))
    print(f"datatrove: GopherRepetitionFilter + GopherQualityFilter + C4QualityFilter + FineWebQualityFilter "
          f"(bench/peers/datatrove_filters.py), {workers} commands, one per part of the documents")
    sides = ["winnow", "datatrove"] + (["baseline"] if baseline else [])
    runs: dict[str, list[tuple]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        tmp = Path(tmp)
        size = -(-n // workers)
        parts = []
        for w in range(workers):
            part = tmp / f"part-{w}.jsonl"
            part.write_text("".join(json.dumps(r) + "\n" for r in rows[w * size:(w + 1) * size]))
            parts.append(part)
        peer = " & ".join(f"{PY} {HERE / 'peers' / 'datatrove_filters.py'} {p}" for p in parts) + " & wait"
        for r in range(rounds):
            for side in (sides if r % 2 == 0 else sides[::-1]):
                load = os.getloadavg()[0]
                if side != "datatrove":
                    work = tmp / f"lake-{r}"
                    shutil.copytree(lake_path, work)
                    m = measure([WINNOW if side == "winnow" else baseline,
                                 *(str(work) if a == "LAKE" else a for a in command)])
                    shutil.rmtree(work)
                    runs[side].append((m["seconds"], m["cpu_seconds"]))
                    print(f"  round {r + 1} {side + ':':10s} {m['seconds']:6.1f} s wall, {m['cpu_seconds']:6.1f} CPU-s "
                          f"({n / m['seconds']:6,.0f} docs/s, {n / m['cpu_seconds']:5,.0f} docs per CPU-s; "
                          f"load {load:.1f})")
                else:
                    m = measure(["sh", "-c", peer])
                    loops = [json.loads(line) for line in m["stdout"].splitlines() if line.startswith("{")]
                    loop_s, loop_cpu = max(x["seconds"] for x in loops), sum(x["cpu_seconds"] for x in loops)
                    runs[side].append((m["seconds"], m["cpu_seconds"], loop_s, loop_cpu))
                    print(f"  round {r + 1} datatrove: {m['seconds']:6.1f} s wall, {m['cpu_seconds']:6.1f} CPU-s "
                          f"({n / m['seconds']:6,.1f} docs/s, {n / m['cpu_seconds']:5,.1f} docs per CPU-s; "
                          f"timed loops alone {loop_s:.1f} s, {loop_cpu:.1f} CPU-s; load {load:.1f})")
    peer = [sum(x[i] for x in runs["datatrove"]) for i in range(4)]
    for side in sides[:1] + sides[2:]:
        wall, cpu = (sum(x[i] for x in runs[side]) for i in range(2))
        print(f"ratio on real documents, {side} / datatrove, summed over {rounds} rounds: {peer[0] / wall:.1f}x wall, "
              f"{peer[1] / cpu:.1f}x CPU-s (whole commands); against datatrove's timed loops alone: "
              f"{peer[2] / wall:.1f}x wall, {peer[3] / cpu:.1f}x CPU-s (goal >= 25x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument("--peer-docs", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scorers", default=",".join(HEURISTICS), help="the scorers to time (comma-separated)")
    ap.add_argument("--agreement-docs", type=int, default=2_000, help="0: no agreement step")
    ap.add_argument("--agreement-only", action="store_true")
    ap.add_argument("--real-rounds", type=int, default=2, help="rounds of step 5 (real documents); 0: none")
    ap.add_argument("--real-only", action="store_true", help="only step 5")
    ap.add_argument("--baseline-winnow", help="step 5: another winnow executable (an older checkout's), also timed")
    a = ap.parse_args()
    import winnow

    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
          f"{platform.machine()}, {date.today()}; load {os.getloadavg()[0]:.1f}")
    if a.real_only or a.real_rounds:
        CACHE.mkdir(exist_ok=True)
        run_real(max(a.real_rounds, 1), a.workers, a.baseline_winnow)
        if a.real_only:
            return
    if a.agreement_only:
        lake_path, _ = lake_for(a.agreement_docs)
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            work = Path(tmp) / "lake"
            shutil.copytree(lake_path, work)
            for scorer in DATATROVE_TWINS:
                winnow.score(winnow.open(work), scorer, workers=a.workers)
            run_agreement(work, a.agreement_docs, Path(tmp), a.workers)
        return
    lake_path, corpus = lake_for(a.docs)
    lake = winnow.open(lake_path)
    n = lake.docs().count_rows()
    mb = float(winnow.query(lake, "SELECT sum(n_bytes) AS b FROM docs")["b"][0].as_py()) / 1e6
    print(f"input: {n:,} documents, {mb:,.0f} MB of text (bench/corpus.py: paragraphs of ../shared/data resampled, seed 0)")
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        work = Path(tmp) / "lake"
        shutil.copytree(lake_path, work)
        seconds, cpu = {}, {}
        scorers = [s for s in a.scorers.split(",") if s]
        for scorer in dict.fromkeys(scorers + list(DATATROVE_TWINS)):  # the twins always: the ratio needs them
            m = measure([WINNOW, "score", str(work), scorer, "--workers", str(a.workers), "--no-progress"])
            seconds[scorer], cpu[scorer] = m["seconds"], m["cpu_seconds"]
            print(f"winnow {scorer:8s}: {n / m['seconds']:8,.0f} docs/s, {mb / m['seconds']:6.1f} MB/s "
                  f"({m['seconds']:.1f} s, peak RSS {m['peak_rss'] / 2**20:,.0f} MB; "
                  f"{n / m['cpu_seconds']:,.0f} docs per CPU-second)")
        twin = sum(seconds[s] for s in DATATROVE_TWINS)
        twin_cpu = sum(cpu[s] for s in DATATROVE_TWINS)
        print(f"winnow gopher + c4 + fineweb: {n / twin:,.0f} docs/s, {n / twin_cpu:,.0f} docs per CPU-second")

        sample = Path(tmp) / "sample"
        sample.mkdir()
        lines = []
        for shard in sorted(corpus.glob("shard-*.jsonl")):
            with open(shard) as f:
                for line in f:
                    lines.append(line)
                    if len(lines) >= a.peer_docs:
                        break
            if len(lines) >= a.peer_docs:
                break
        half = len(lines) // a.workers + 1
        parts = []
        for w in range(a.workers):
            p = sample / f"part-{w}.jsonl"
            p.write_text("".join(lines[w * half:(w + 1) * half]))
            parts.append(p)
        t0 = time.perf_counter()
        procs = [subprocess.Popen([PY, str(HERE / "peers" / "datatrove_filters.py"), str(p)], stdout=subprocess.PIPE,
                                  text=True) for p in parts]
        results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
        wall = time.perf_counter() - t0
        peer_rate = sum(r["documents"] for r in results) / max(r["seconds"] for r in results)
        peer_cpu_rate = sum(r["documents"] for r in results) / sum(r["cpu_seconds"] for r in results)
        print(f"datatrove 4 filters: {peer_rate:,.0f} docs/s on the first {len(lines):,} documents of the same corpus "
              f"({a.workers} processes, {wall:.0f} s wall; timed on that sample, compared per document); "
              f"{peer_cpu_rate:,.1f} docs per CPU-second")
        print(f"ratio winnow (gopher + c4 + fineweb) / datatrove docs/s: {n / twin / peer_rate:,.1f}x (goal >= 10x); "
              f"per CPU-second: {n / twin_cpu / peer_cpu_rate:,.1f}x")

        before = files(work)
        ids = lake.docs().to_table(columns=["id"])["id"]
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"id": ids, "bench_score": pa.array(np.random.default_rng(0).random(len(ids)),
                                                                          pa.float32())}), Path(tmp) / "s.parquet")
        winnow.import_scores(winnow.open(work), str(Path(tmp) / "s.parquet"))
        after = files(work)
        changed = [f for f, size in before.items() if after.get(f) != size and "/data/" in f]
        added = sum(size for f, size in after.items() if f not in before)
        print(f"adding one float32 column to {n:,} rows wrote {added / 1e6:.2f} MB = {added / n * 1e6 / 1e6:.2f} MB per 1M "
              f"documents (goal <= 5 MB; manifests and catalog included); data files rewritten: {len(changed)}")
        if a.agreement_docs:
            run_agreement(work, a.agreement_docs, Path(tmp), a.workers)


if __name__ == "__main__":
    main()

"""Ageing: a lake after N commits of the kinds users make, before and after `winnow compact`.

    python bench/ageing.py [--commits 1000] [--batch 20] [--keep DIR]

A fresh lake is grown in cycles until `docs` has made --commits commits (lake versions), each
cycle what a user does with a new small batch of documents:
- `ingest` of --batch documents (bench/corpus.py: paragraphs of ../shared/data resampled,
  fixed seed);
- `score` of the new rows by gopher, c4, fineweb and minhash (four scoring jobs);
- every second cycle, `import-scores --replace` of an external score of every document (a
  parquet of id, value, as an outside pipeline exports it again);
- every fourth cycle, `dedup --method minhash` (it writes the rows whose clusters changed);
- every tenth cycle, the selection `daily` created again (`select create --replace`: its tag
  moves to the latest version); once, a third of the way, the selection `kept` (pinned).
Every job also appends its rows to the catalog's logs (a commit each).

Then, on the aged lake and again after `winnow compact` (timed), each the median of 3 with a
new `Lake` (its own Lance session: no cache carried over; the OS page cache is warm both
times): opening it (`winnow.open` + `docs()`), `winnow.info`, a full-column scan (one score
column of every row, Lance), a re-selection (`winnow.select(..., replace=True)`: a top-k by
tokens over the latest version, pinned), evaluating the old pinned selection `kept`, and the
lake's files and bytes, docs' fragments, data files and versions; each with the ratio
before/after. Checked after the compaction: every document and column value equal (by id),
the selection `kept` returns the same ids, and a `dedup` rerun changes no row.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

import argparse  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

import winnow  # noqa: E402  (first: it sets LANCE_LOG before Lance loads)

from corpus import build_corpus  # noqa: E402
from measure import median_time  # noqa: E402

CACHE = HERE / ".cache"
SCORERS = ("gopher", "c4", "fineweb", "minhash")
DAILY = ("WITH c AS (SELECT id, n_chars // 4 AS n_tokens, gopher_word_count AS score FROM docs WHERE dup_keep "
         "IS NOT FALSE) SELECT id FROM top_k(c, {budget})")
KEPT = "SELECT id FROM docs WHERE c4_lines_kept > 3 AND ext_quality > 0.5"


def grow(lake_dir: Path, batches: list[Path], commits: int, batch_dir: Path) -> dict:
    """The lake grown in cycles until docs has made `commits` commits; seconds per 100 commits."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    lake = winnow.init(lake_dir)
    start = lake.docs().version
    t0 = last = time.perf_counter()
    marks, mark = [], start + 100
    kept_at, kept = start + commits // 3, False
    cycle = 0
    while lake.docs().version - start < commits:
        if cycle >= len(batches):
            raise SystemExit(f"ran out of batches at cycle {cycle}: raise the corpus size")
        winnow.ingest_files(lake, [str(batches[cycle])], workers=1, progress=False)
        for scorer in SCORERS:
            winnow.score(lake, scorer, workers=1, progress=False)
        if cycle % 2 == 1:  # the external pipeline's file of every document's score, imported again
            t = lake.docs().to_table(columns=["id", "n_chars"])
            path = batch_dir / f"scores-{cycle}.parquet"
            pq.write_table(pa.table({"id": t["id"], "ext_quality": pa.array(
                [(n % 1000) / 1000 for n in t["n_chars"].to_pylist()], pa.float64())}), path)
            winnow.import_scores(lake, str(path), replace=cycle > 1)
        if cycle % 4 == 3:
            winnow.dedup(lake, "minhash", progress=False)
        if cycle % 10 == 9:
            winnow.select(lake, "daily", DAILY.format(budget=50_000), replace=True)
        if not kept and cycle >= 1 and lake.docs().version >= kept_at:  # after the first import (cycle 1)
            winnow.select(lake, "kept", KEPT)
            kept = True
        cycle += 1
        while lake.docs().version >= mark:
            now = time.perf_counter()
            marks.append(now - last)
            last, mark = now, mark + 100
    return {"cycles": cycle, "seconds": time.perf_counter() - t0, "per_100": marks,
            "commits": lake.docs().version - start}


def files_of(root: Path) -> tuple[int, int]:
    n = size = 0
    for folder, _, names in os.walk(root):
        for name in names:
            n += 1
            size += os.path.getsize(os.path.join(folder, name))
    return n, size


def measure(path: Path) -> dict:
    """The figures of the lake at `path` (see the module)."""
    def opened():
        return winnow.open(path)

    def reopen():
        lake = opened()
        lake.docs()

    def info():
        winnow.info(opened())

    def scan():
        opened().docs().to_table(columns=["gopher_word_count"])

    def reselect():
        winnow.select(opened(), "daily", DAILY.format(budget=50_000), replace=True)

    def pinned():
        winnow.select_rows(opened(), "kept")

    lake = opened()
    docs = lake.docs()
    n_files, n_bytes = files_of(path)
    return {
        "open (s)": median_time(reopen),
        "winnow info (s)": median_time(info),
        "full-column scan (s)": median_time(scan),
        "re-selection (s)": median_time(reselect),
        "pinned selection (s)": median_time(pinned),
        "files": n_files,
        "MB on disk": n_bytes / 1e6,
        "docs fragments": len(docs.get_fragments()),
        "docs data files": sum(len(f.data_files()) for f in docs.get_fragments()),
        "docs versions": len(docs.versions()),
        "metrics log fragments": len(lake.dataset("metrics").get_fragments()),
    }


def snapshot(path: Path):
    lake = winnow.open(path)
    docs = lake.docs().to_table().sort_by("id")
    kept = sorted(winnow.select_rows(lake, "kept")["id"].to_pylist())
    return docs, kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commits", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=20, help="documents per ingest")
    ap.add_argument("--keep", type=Path, help="build the lake here and keep it (default: a temporary folder)")
    a = ap.parse_args()
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}; pylance {__import__('lance').__version__}", flush=True)
    cycles = a.commits // 4 + 10
    corpus = build_corpus(CACHE / f"ageing-{cycles * a.batch}", n_docs=cycles * a.batch, n_shards=1, quiet=True)
    lines = corpus[0].read_bytes().splitlines(keepends=True)
    work = Path(tempfile.mkdtemp(prefix="ageing-")) if a.keep is None else a.keep
    work.mkdir(parents=True, exist_ok=True)
    batch_dir = work / "batches"
    batch_dir.mkdir(exist_ok=True)
    batches = []
    for c in range(cycles):
        path = batch_dir / f"batch-{c:05d}.jsonl"
        path.write_bytes(b"".join(lines[c * a.batch:(c + 1) * a.batch]))
        batches.append(path)
    lake_dir = work / "lake"
    try:
        grown = grow(lake_dir, batches, a.commits, batch_dir)
        per = grown["per_100"]
        pace = f"; seconds per 100 commits, first {per[0]:.1f}, last {per[-1]:.1f}" if per else ""
        print(f"grown: {grown['commits']:,} commits of docs in {grown['cycles']} cycles, {grown['seconds']:.0f} s"
              f"{pace}; load average {os.getloadavg()[0]:.1f}", flush=True)
        winnow.dedup(lake_dir, "minhash", progress=False)  # up to date, so that a rerun has nothing to change
        docs_before, kept_before = snapshot(lake_dir)
        before = measure(lake_dir)
        t0 = time.perf_counter()
        r = winnow.compact(lake_dir)
        took = time.perf_counter() - t0
        print(f"winnow compact: {took:.1f} s; kept versions {dict(r.kept)}", flush=True)
        after = measure(lake_dir)
        docs_after, kept_after = snapshot(lake_dir)
        assert docs_after.equals(docs_before), "documents or values changed"
        assert kept_after == kept_before, "the pinned selection's ids changed"
        assert winnow.dedup(lake_dir, "minhash", progress=False).changed == 0, "dedup after compact changed rows"
        print(f"checked: {docs_before.num_rows:,} documents and their {docs_before.num_columns} columns equal by id, "
              f"selection kept's {len(kept_before):,} ids equal, dedup rerun changed 0 rows")
        title = f"after {grown['commits']:,} commits"
        print(f"\n{title:<24}{'before':>12}{'compacted':>12}{'ratio':>9}")
        for key in before:
            b, c = before[key], after[key]
            fmt = (lambda v: f"{v:.3f}") if isinstance(b, float) and "(s)" in key else (
                (lambda v: f"{v:,.1f}") if isinstance(b, float) else (lambda v: f"{v:,}"))
            print(f"{key:<24}{fmt(b):>12}{fmt(c):>12}{(b / c if c else float('inf')):>8.1f}x")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        if a.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

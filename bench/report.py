"""Report benchmark: `winnow report` over a lake of 1M documents with 30 score columns.

    python bench/report.py [--rows 1000000] [--scores 30] [--selections 2] [--reps 2]

A lake of --rows documents is built once under bench/.cache through the lake's API (the
way bench/select.py builds its lake): short texts (sentences resampled from
../shared/data/openwebtext-1000.jsonl), four sources, a SYNTHETIC n_tokens ~ U[50, 2000)
and --scores SYNTHETIC score columns of four shapes (normal float32, log-normal float32
with 1% NULL, Poisson int32 counts, uniform float32 shares with 0.5% NaN), fixed seed;
then --selections selections are created with `winnow.select` (the top 20% of the tokens
by one score, the top 10% by each next one). Each repetition runs `winnow report LAKE --selection ... --out FILE` in a
fresh process, measured for wall seconds, CPU seconds and peak RSS (bench/measure.py); the
goal is <= 5 s. The page's size is printed too.
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
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from corpus import DATA  # noqa: E402
from measure import measure  # noqa: E402

CACHE = HERE / ".cache"
SOURCES = ("web", "news", "forum", "code")
SHAPES = ("normal", "lognormal", "count", "share")
WINNOW = Path(sys.executable).parent / "winnow"


def score_name(j: int) -> str:
    return f"s{j:02d}_{SHAPES[j % len(SHAPES)]}"


def build_lake(rows: int, scores: int, selections: int) -> Path:
    """A lake of `rows` short real-text documents with `scores` synthetic score columns and
    `selections` selections (cached under bench/.cache)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    import winnow
    from winnow.lake.columns import add_columns

    root = CACHE / f"report-{rows}-{scores}-{selections}"
    if (root / "done").exists():
        return root / "lake"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    lake = winnow.init(root / "lake")
    types = {"normal": pa.float32(), "lognormal": pa.float32(), "count": pa.int32(), "share": pa.float32()}
    add_columns(lake, [pa.field("n_tokens", pa.int32())]
                + [pa.field(score_name(j), types[SHAPES[j % len(SHAPES)]]) for j in range(scores)])
    sentences = [s for line in open(DATA / "openwebtext-1000.jsonl")
                 for s in json.loads(line)["text"].split(". ") if 20 < len(s) < 300]
    rng = np.random.default_rng(0)
    step = 250_000
    for start in range(0, rows, step):
        n = min(step, rows - start)
        text = pa.array([sentences[i] for i in rng.integers(0, len(sentences), n)])
        ids = pa.array([f"syn-{i:09d}" for i in range(start, start + n)])
        source = pa.array(np.array(SOURCES)[rng.choice(len(SOURCES), n, p=[0.6, 0.25, 0.1, 0.05])])
        cols = {
            "id": ids, "text": text, "source": source, "url": pa.nulls(n, pa.string()),
            "meta": pa.nulls(n, pa.string()), "n_chars": pc.utf8_length(text).cast(pa.int64()),
            "n_bytes": pc.binary_length(text.cast(pa.binary())).cast(pa.int64()), "content_hash": ids,
            "ingest_id": pa.array(["bench"] * n), "input_row": pa.array(np.arange(start + 1, start + n + 1)),
            "n_tokens": pa.array(rng.integers(50, 2000, n).astype(np.int32)),
        }
        for j in range(scores):
            shape = SHAPES[j % len(SHAPES)]
            if shape == "normal":
                values = pa.array(rng.normal(j, 1 + j / 10, n).astype(np.float32))
            elif shape == "lognormal":
                v = rng.lognormal(0, 1.5, n).astype(np.float32)
                values = pa.array(v, mask=rng.random(n) < 0.01)
            elif shape == "count":
                values = pa.array(rng.poisson(5 + j, n).astype(np.int32))
            else:
                v = rng.random(n).astype(np.float32)
                v[rng.random(n) < 0.005] = np.nan
                values = pa.array(v)
            cols[score_name(j)] = values
        lake.append("docs", pa.table(cols, schema=lake.docs().schema))
    names = []
    if selections >= 1:
        budget = int(winnow.query(lake, "SELECT sum(n_tokens)::BIGINT AS t FROM docs")["t"][0].as_py() * 0.2)
        winnow.select(lake, "top", f"WITH c AS (SELECT id, n_tokens, {score_name(0)} AS score FROM docs) "
                                   f"SELECT * FROM top_k(c, {budget})")
        names.append("top")
    for k in range(1, selections):  # top 10% of the tokens by another score each
        winnow.select(lake, f"top-{score_name(k)}", f"WITH c AS (SELECT id, n_tokens, {score_name(k)} AS score "
                                                    f"FROM docs) SELECT * FROM top_k(c, {budget // 2})")
        names.append(f"top-{score_name(k)}")
    (root / "done").write_text(json.dumps(names))
    return root / "lake"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--scores", type=int, default=30)
    ap.add_argument("--selections", type=int, default=2)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    t0 = time.perf_counter()
    lake = build_lake(args.rows, args.scores, args.selections)
    names = json.loads((lake.parent / "done").read_text())
    print(f"lake: {args.rows:,} documents, {args.scores} SYNTHETIC score columns + n_tokens, 4 sources, "
          f"selections {', '.join(names) or 'none'} (ready in {time.perf_counter() - t0:.1f} s) at {lake}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.html"
        cmd = [str(WINNOW), "report", str(lake), "--out", str(out)]
        for name in names:
            cmd += ["--selection", name]
        runs = []
        for _ in range(args.reps):
            m = measure(cmd, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            runs.append(m)
            print(f"winnow report: {m['seconds']:.2f} s wall, {m['cpu_seconds']:.2f} s CPU, "
                  f"peak RSS {m['peak_rss'] / 2**20:,.0f} MiB, page {out.stat().st_size / 2**20:.2f} MiB")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"median {statistics.median(r['seconds'] for r in runs):.2f} s (goal <= 5 s) · {os.cpu_count()} cores · "
          f"load average {load} · {platform.processor() or platform.machine()}")


if __name__ == "__main__":
    main()

"""Build a deterministic benchmark corpus from the real documents in ../shared/data.

The documents of the three jsonl files are split into paragraphs (on blank lines).
Each synthetic document concatenates k paragraphs drawn uniformly from that pool, with
k drawn from the source documents' own paragraphs-per-document distribution, clipped to
[3, 48]: at least 3 so that exact duplicates (which an ingester drops) are practically
impossible, at most 48 to keep the average near 3.7 KB/doc (OpenWebText 4.7, C4 2.2).
All draws come from numpy's default_rng(seed): the same seed gives the same bytes.
Output: shard-XXXXX.jsonl files with fields id, text, source, and manifest.json.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":  # run as a script: keep bench/ (bench/select.py) from shadowing the stdlib
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import json
import re
import time
from pathlib import Path

import numpy as np
import orjson
import xxhash

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = ("openwebtext-1000.jsonl", "c4-sample-449.jsonl", "github-sample-50.jsonl")
MIN_PARAGRAPHS, MAX_PARAGRAPHS = 3, 48
VERSION = 1  # bump when the construction changes, to invalidate caches
_BLANK = re.compile(r"\n[ \t\r]*\n")


def _paragraphs(data_dir: Path):
    """Pool of JSON-escaped paragraphs, the file index of each, and k per source doc."""
    pool, origin, ks = [], [], []
    for fi, name in enumerate(FILES):
        with open(data_dir / name, "rb") as f:
            for line in f:
                paras = [p.strip() for p in _BLANK.split(orjson.loads(line)["text"])]
                paras = [p for p in paras if p]
                ks.append(len(paras))
                pool += [orjson.dumps(p)[1:-1] for p in paras]  # escaped, without quotes
                origin += [fi] * len(paras)
    return pool, np.array(origin, dtype=np.int8), np.array(ks, dtype=np.int64)


def _manifest(out_dir: Path) -> dict | None:
    try:
        return json.loads((out_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def build_corpus(out_dir, n_docs=1_000_000, n_shards=8, seed=0, data_dir=DATA, quiet=False,
                 paragraphs=(MIN_PARAGRAPHS, MAX_PARAGRAPHS), first_id=0) -> list[Path]:
    """Write (or reuse) n_docs documents as n_shards jsonl shards in out_dir; return the shard paths.

    `paragraphs` clips k (short documents: `(2, 2)`, ~0.55 KB each, about 1% exact duplicates at
    10M documents); ids are bench-<first_id + i>."""
    out_dir = Path(out_dir)
    names = [f"shard-{s:05d}.jsonl" for s in range(n_shards)]
    paths = [out_dir / n for n in names]
    want = {"n_docs": n_docs, "seed": seed, "n_shards": n_shards, "version": VERSION}
    if tuple(paragraphs) != (MIN_PARAGRAPHS, MAX_PARAGRAPHS) or first_id:
        want |= {"paragraphs": list(paragraphs), "first_id": first_id}
    m = _manifest(out_dir)
    if m and all(m.get(k) == v for k, v in want.items()) and all(
        p.exists() and p.stat().st_size == m["shard_bytes"][i] for i, p in enumerate(paths)
    ):
        if not quiet:
            print(f"reusing {n_docs:,} documents in {n_shards} shards at {out_dir}: {m['how']}", flush=True)
        return paths

    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "manifest.json").unlink(missing_ok=True)
    pool, origin, ks = _paragraphs(Path(data_dir))
    rng = np.random.default_rng(seed)
    k = np.clip(ks[rng.integers(0, len(ks), n_docs)], *paragraphs)
    picks = rng.integers(0, len(pool), int(k.sum())).tolist()
    starts = np.concatenate(([0], np.cumsum(k))).tolist()
    sources = [orjson.dumps(n) for n in FILES]
    bounds = np.linspace(0, n_docs, n_shards + 1).astype(np.int64).tolist()

    seen, dups, shard_bytes = set(), 0, []
    for s, path in enumerate(paths):
        with open(path, "wb") as f:
            for lo in range(bounds[s], bounds[s + 1], 20_000):
                lines = []
                for i in range(lo, min(lo + 20_000, bounds[s + 1])):
                    sel = picks[starts[i] : starts[i + 1]]
                    text = b"\\n\\n".join([pool[j] for j in sel])
                    h = xxhash.xxh3_64_intdigest(text)
                    dups += h in seen
                    seen.add(h)
                    lines.append(b'{"id":"bench-%08d","text":"%b","source":%b}\n'
                                 % (first_id + i, text, sources[origin[sel[0]]]))
                f.write(b"".join(lines))
        shard_bytes.append(path.stat().st_size)

    total = sum(shard_bytes)
    secs = time.perf_counter() - t0
    manifest = want | {
        "shard_bytes": shard_bytes,
        "bytes": total,
        "duplicate_texts": dups,
        "paragraphs_in_pool": len(pool),
        "mean_paragraphs_per_doc": float(k.mean()),
        "build_seconds": round(secs, 1),
        "how": f"paragraphs resampled from ../shared/data with seed {seed}",
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    if not quiet:
        print(
            f"built {n_docs:,} documents in {n_shards} shards, {total / 1e6:,.1f} MB "
            f"({total / n_docs / 1e3:.2f} KB/doc, {dups} duplicate texts) in {secs:.1f} s: "
            f"paragraphs resampled from ../shared/data with seed {seed}",
            flush=True,
        )
    return paths


def describe(out_dir) -> dict:
    """The manifest of a built corpus."""
    return _manifest(Path(out_dir)) or {}


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    build_corpus(a.out_dir, a.docs, a.shards, a.seed)

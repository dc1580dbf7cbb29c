"""para-dup speed: the Bloom pass against the exact reference (a Python set), and the whole scorer.

    python bench/para_dup.py [--docs 50000] [--lake-docs 20000] [--fp-rate 0.01] [--rounds 2]

Neither peer installs here: `pip install --dry-run dolma` (Dolma's paragraph dedup, Rust)
spent over a minute backtracking through boto3 releases and was given up; DCLM's BFF is
a Rust binary built with cargo, not on a package registry. So the peer is the exact
reference the tests check against.

1. The benchmark corpus (bench/corpus.py, seed 0: documents of paragraphs drawn from
   ../shared/data), --docs documents, read into memory. Its paragraphs come from a pool of
   ~26,000 lines, so nearly all would repeat: every second line of each document is made
   new (a suffix naming the document and the line), so that about half of the paragraphs
   are new and the filter fills as over a crawl. Both sides take the texts in order and give each document the
   fraction of its paragraphs seen before, one process, one thread, alternating
   (--rounds each):
   - winnow: scoring/scorers/para_dup.py as its units and ordered pass run it: the
     paragraphs hashed (`paragraph_keys`, 4,096 documents at a time), then the Bloom
     filter sized from their count at --fp-rate and filled in order (`repeated_fractions`);
   - exact: a Python set of the stripped paragraph strings, checked then filled in order.
   Printed: docs/s and docs per CPU-second of each, the ratio, the memory each holds at the
   end (the filter's bits and the keys, against the set's strings), that no repeat is missed,
   and the false positives against the filter's rate.
2. `winnow score LAKE para-dup --workers 2` over a lake of the first --lake-docs documents
   (bench/measure.py: wall and CPU seconds of the process tree, peak RSS): docs/s end to end,
   the hashing on the engine's 2 workers, the ordered pass and the writing in the job's process.
"""

from __future__ import annotations

import sys  # noqa: I001  (first: this file's folder must not shadow the stdlib `select` module)
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np

from corpus import build_corpus
from measure import measure
from winnow.scoring.scorers.para_dup import paragraph_keys, paragraphs, repeated_fractions


def _half_new(i: int, text: str) -> str:
    """`text` with every second line made new: a suffix naming the document and the line."""
    lines = text.split("\n")
    return "\n".join(f"{line} ({i}.{j})" if j % 2 and line.strip() else line for j, line in enumerate(lines))


def winnow_side(texts: list[str], fp_rate: float) -> tuple[np.ndarray, dict]:
    parts = [paragraph_keys(texts[i:i + 4096]) for i in range(0, len(texts), 4096)]
    keys, chars, counts = (np.concatenate([p[j] for p in parts]) for j in range(3))
    frac, _, bloom = repeated_fractions(keys, chars, counts, fp_rate)
    return frac, {"bytes": bloom.words.nbytes + keys.nbytes + chars.nbytes, "paragraphs": len(keys),
                  "rate": bloom.rate(), "bits": bloom.bits, "hashes": bloom.hashes}


def exact_side(texts: list[str]) -> tuple[np.ndarray, dict]:
    seen: set[str] = set()
    frac = np.empty(len(texts), np.float32)
    for i, text in enumerate(texts):
        found = paragraphs(text)
        repeats = 0
        for p in found:
            repeats += p in seen
            seen.add(p)
        frac[i] = repeats / len(found) if found else np.nan
    size = sum(sys.getsizeof(p) for p in seen) + sys.getsizeof(seen)
    return frac, {"bytes": size, "distinct": len(seen)}


def timed(fn, *args):
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--lake-docs", type=int, default=20_000)
    ap.add_argument("--fp-rate", type=float, default=0.01)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    print("command: python bench/para_dup.py " + " ".join(sys.argv[1:]))
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 shared cores)")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        build_corpus(corpus, n_docs=args.docs, n_shards=1, seed=0, quiet=True)
        shard = sorted(corpus.glob("shard-*.jsonl"))[0]
        texts = [_half_new(i, json.loads(line)["text"]) for i, line in enumerate(shard.open())]
        print(f"input: {len(texts):,} documents of bench/corpus.py (seed 0), {sum(map(len, texts)) / 1e6:.1f} M chars")

        runs: dict[str, list] = {"winnow": [], "exact": []}
        for _ in range(args.rounds):
            (frac, info), wall, cpu = timed(winnow_side, texts, args.fp_rate)
            runs["winnow"].append((wall, cpu))
            (exact, einfo), wall, cpu = timed(exact_side, texts)
            runs["exact"].append((wall, cpu))
        for side in runs:
            wall = statistics.median(w for w, _ in runs[side])
            cpu = statistics.median(c for _, c in runs[side])
            print(f"{side:7s} {len(texts) / wall:9,.0f} docs/s  {len(texts) / cpu:9,.0f} docs/CPU-s  "
                  f"(median of {args.rounds}: {wall:.2f} s wall, {cpu:.2f} CPU-s)")
        ratio = statistics.median(c for _, c in runs["exact"]) / statistics.median(c for _, c in runs["winnow"])
        print(f"ratio (docs per CPU-second, winnow / exact): {ratio:.2f}x")
        print(f"memory held at the end: winnow {info['bytes'] / 1e6:.1f} MB (filter {info['bits'] / 8e6:.1f} MB, "
              f"{info['hashes']} hashes, + 12 bytes per paragraph), exact {einfo['bytes'] / 1e6:.1f} MB "
              f"({einfo['distinct']:,} distinct of {info['paragraphs']:,} paragraphs)")
        missed = int((frac < exact).sum())
        print(f"repeats missed: {missed} documents; documents with a higher fraction (false positives): "
              f"{int((frac > exact).sum()):,}; filter's rate at the end {info['rate']:.2e} (configured "
              f"{args.fp_rate})")

        lake = Path(tmp) / "lake"
        small = Path(tmp) / "small.jsonl"
        with small.open("w") as out:
            for text in texts[:args.lake_docs]:
                out.write(json.dumps({"text": text}) + "\n")
        winnow = [str(Path(sys.executable).parent / "winnow")]
        measure(winnow + ["init", str(lake)])
        measure(winnow + ["ingest", str(lake), str(small), "--workers", "2", "--no-progress"])
        cmd = winnow + ["score", str(lake), "para-dup", "--workers", "2", "--no-progress", "-p",
                        f"fp_rate={args.fp_rate}"]
        m = measure(cmd)
        print(f"winnow score para-dup --workers 2 over {args.lake_docs:,} documents: {m['seconds']:.1f} s wall, "
              f"{m['cpu_seconds']:.1f} CPU-s, peak RSS {m['peak_rss'] / 1e9:.2f} GB: "
              f"{args.lake_docs / m['seconds']:,.0f} docs/s, {args.lake_docs / m['cpu_seconds']:,.0f} docs/CPU-s "
              f"(process start and imports included)")
        print("  " + m["stdout"].strip().splitlines()[-1])
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""Shard verification benchmark: what checking shards when they are opened costs.

    python bench/shards.py [--gb 1] [--dir /tmp] [--repeat 3]

Writes one shard of --gb GiB (uint16 token ids below 32,000, in documents of ~1,000
tokens) with winnow's ShardWriter, then times, on this machine:
- open_shards(verify=False): the manifest, the files' presence and sizes, the document index;
- open_shards(verify=True): the same plus one pass over the data, the xxh3_128 checksum and
  the largest token id together (what the dataloader does for every shard it reads);
- the two parts of that pass alone: xxh3_128 of the file, max over the memory map;
- sha256 of the file, the checksum of format 1, for the ratio.
Each figure is the best of --repeat runs with the file in the page cache (warm: a rank
that reads shards another rank just verified); then, where the OS lets the file be dropped
from the page cache (posix_fadvise DONTNEED), verify=True once from disk (cold).
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
import tempfile
import time

import numpy as np
import psutil

from winnow.train.materialize.shards import CHECKSUM, FORMAT, FORMAT_VERSION, ShardWriter, file_checksum, open_shards

VOCAB = 32_000
DOC_TOKENS = 1_000


def write_shard(root: Path, gib: float) -> dict:
    """One shard of `gib` GiB of random token ids, and its manifest."""
    n_tokens = int(gib * (1 << 30)) // 2
    writer = ShardWriter(root, VOCAB, shard_tokens=n_tokens + 1)
    rng = np.random.default_rng(0)
    block = rng.integers(0, VOCAB, 1 << 20, dtype=np.int64)  # reused: the data's content does not matter here
    written, doc = 0, 0
    while written < n_tokens:
        n = min(DOC_TOKENS, n_tokens - written)
        start = (doc * 7919) % (len(block) - DOC_TOKENS)
        writer.add(f"doc-{doc}", block[start:start + n])
        written, doc = written + n, doc + 1
    entry = writer.close_shard()
    writer.abandon()
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "output": "tokens",
                "tokenizer": {"name": "bench", "sha256": "0" * 64, "vocab_size": VOCAB, "bos_id": 1, "eos_id": 2},
                "dtype": "uint16", "documents": entry["documents"], "tokens": entry["tokens"], "shards": [entry]}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def drop_from_page_cache(path: Path) -> bool:
    if not hasattr(os, "posix_fadvise"):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=1.0, help="shard size in GiB")
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="where to write the shard (removed after)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="winnow-bench-shards-", dir=args.dir))
    try:
        t0 = time.perf_counter()
        m = write_shard(root, args.gb)
        written = time.perf_counter() - t0
        path = root / m["shards"][0]["file"]
        size = path.stat().st_size
        gb = size / 1e9
        print(f"machine: {platform.machine()}, {psutil.cpu_count()} cores, "
              f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM, python {platform.python_version()}")
        print(f"shard: {size:,} bytes ({m['tokens']:,} uint16 tokens, {m['documents']:,} documents), "
              f"written by ShardWriter in {written:.1f} s (with its xxh3_128)")

        def xxh3_only():
            file_checksum(path, CHECKSUM)

        def max_only():
            np.memmap(path, dtype="<u2", mode="r").max()

        figures = {
            "open_shards(verify=False): manifest, files, index": best(lambda: open_shards(root, verify=False), args.repeat),
            "open_shards(verify=True): + xxh3_128 and max token id": best(lambda: open_shards(root), args.repeat),
            "xxh3_128 of the file alone": best(xxh3_only, args.repeat),
            "max over the memory map alone": best(max_only, args.repeat),
            "sha256 of the file (format 1)": best(lambda: file_checksum(path, "sha256"), args.repeat),
        }
        print(f"\nwarm page cache, best of {args.repeat}:")
        for name, seconds in figures.items():
            rate = f"{gb / seconds:7.2f} GB/s" if "verify=False" not in name else "   (reads no data)"
            print(f"  {name:56s} {seconds:7.3f} s  {rate}")
        verify = figures["open_shards(verify=True): + xxh3_128 and max token id"]
        xxh3 = figures["xxh3_128 of the file alone"]
        sha = figures["sha256 of the file (format 1)"]
        print(f"\nxxh3_128 is {sha / xxh3:.1f}x as fast as sha256; the whole check (xxh3_128 + max) "
              f"{sha / verify:.1f}x as fast as sha256 alone: {verify / gb:.3f} s per GB of shards, "
              "for each rank that opens them")
        if drop_from_page_cache(path):
            t0 = time.perf_counter()
            open_shards(root)
            cold = time.perf_counter() - t0
            print(f"cold (file dropped from the page cache): open_shards(verify=True) {cold:.3f} s, "
                  f"{gb / cold:.2f} GB/s (disk-bound)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

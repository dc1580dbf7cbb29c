"""Peer for bench/dedup.py: one stage of datatrove's MinHash deduplication over a folder of jsonl.

Usage: python bench/peers/datatrove_minhash.py INPUT_DIR WORK_DIR --stage STAGE [--workers N] [--tasks T]

The four stages of datatrove's own example (examples/minhash_deduplication.py in
huggingface/datatrove), with its defaults: MinhashConfig() = word 5-grams, 14 buckets x 8
hashes, 64-bit xxhash, seed 1, spaCy's English word split; LocalPipelineExecutor.
  signatures: JsonlReader -> MinhashDedupSignature            (T tasks, N workers)
  buckets:    MinhashDedupBuckets                             (14 tasks, one per bucket; N workers)
  cluster:    MinhashDedupCluster                             (1 task)
  filter:     JsonlReader -> MinhashDedupFilter -> JsonlWriter (T tasks, N workers; uncompressed output,
              the cheapest writer, and no exclusion writer: the peer does the least work it can)
Each stage reads what the previous one wrote under WORK_DIR (sigs/, buckets/, remove_ids/,
output/); logs go to WORK_DIR/logs-<stage>. Run each stage as its own process so that its
wall time and peak RSS are its own. Prints one JSON line: stage, seconds, and counts.

xxhash >= 4 no longer hashes a str (xxhash 3 encoded it as UTF-8 itself); datatrove 0.10.1's
xxhash64 passes one, so the signature step's hash function is replaced by the same hash of
the UTF-8 bytes: the same values, the same work xxhash 3 did inside.
"""

import argparse
import json
import time
from pathlib import Path

import xxhash


def _xxhash64(text: str) -> int:
    """datatrove's xxhash64 of a shingle, as xxhash 3 computed it (on the UTF-8 bytes)."""
    return xxhash.xxh64_intdigest(text.encode())


def _count(folder: Path, pattern: str, record: int) -> int:
    """Records of `record` bytes in the files matching pattern under folder."""
    return sum(p.stat().st_size for p in folder.glob(pattern)) // record


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("input_dir")
    ap.add_argument("work_dir")
    ap.add_argument("--stage", required=True, choices=["signatures", "buckets", "cluster", "filter"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=None, help="tasks of the signatures and filter stages "
                                                             "(default: --workers); the same for both")
    a = ap.parse_args()

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    work = Path(a.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    tasks = a.tasks or a.workers
    config = MinhashConfig()
    reader = JsonlReader(a.input_dir, glob_pattern="*.jsonl")
    if a.stage == "signatures":
        step = MinhashDedupSignature(output_folder=str(work / "sigs"), config=config)
        step._hash_func = _xxhash64
        pipeline, n_tasks, workers = [reader, step], tasks, a.workers
    elif a.stage == "buckets":
        pipeline = [MinhashDedupBuckets(input_folder=str(work / "sigs"), output_folder=str(work / "buckets"),
                                        config=config)]
        n_tasks, workers = config.num_buckets, a.workers
    elif a.stage == "cluster":
        pipeline = [MinhashDedupCluster(input_folder=str(work / "buckets"), output_folder=str(work / "remove_ids"),
                                        config=config)]
        n_tasks, workers = 1, 1
    else:
        pipeline = [reader, MinhashDedupFilter(input_folder=str(work / "remove_ids")),
                    JsonlWriter(str(work / "output"), compression=None)]
        n_tasks, workers = tasks, a.workers
    t0 = time.perf_counter()
    LocalPipelineExecutor(pipeline=pipeline, tasks=n_tasks, workers=workers,
                          logging_dir=str(work / f"logs-{a.stage}")).run()
    out = {"stage": a.stage, "seconds": time.perf_counter() - t0, "tasks": n_tasks, "workers": workers}
    if a.stage == "signatures":
        out["signatures"] = _count(work / "sigs" / "bucket_000", "*.minhash.sig", 8 * 8 + 4)
    elif a.stage == "buckets":
        out["pairs"] = _count(work / "buckets", "*.dups", 16)
    elif a.stage == "cluster":
        out["removed"] = _count(work / "remove_ids", "*.remove", 4)
    else:
        out["kept"] = sum(sum(1 for _ in open(p, "rb")) for p in (work / "output").glob("*.jsonl"))
    print(json.dumps(out))


if __name__ == "__main__":
    main()

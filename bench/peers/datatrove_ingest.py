"""Peer for bench/ingest.py: datatrove JsonlReader -> ParquetWriter on a folder of jsonl shards.

Usage: python bench/peers/datatrove_ingest.py INPUT_DIR OUTPUT_DIR [--workers 2]
One task per input file, `--workers` processes (LocalPipelineExecutor), datatrove's
defaults everywhere (text_key "text", id_key "id"; other fields go to metadata; snappy
parquet with content-defined chunking and page index). Logs and stats go to a temp
folder under OUTPUT_DIR. Prints one JSON line: documents and files in the parquet output.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("input_dir")
    ap.add_argument("output_dir")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import ParquetWriter
    import pyarrow.parquet as pq

    out = Path(a.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    tasks = len(list(Path(a.input_dir).glob("*.jsonl")))
    logs = tempfile.mkdtemp(prefix=".datatrove-logs-", dir=out)
    t0 = time.perf_counter()
    LocalPipelineExecutor(
        pipeline=[JsonlReader(a.input_dir, glob_pattern="*.jsonl"), ParquetWriter(str(out))],
        tasks=tasks,
        workers=a.workers,
        logging_dir=logs,
    ).run()
    seconds = time.perf_counter() - t0
    files = sorted(out.glob("*.parquet"))
    docs = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    size = sum(f.stat().st_size for f in files)
    print(json.dumps({"documents": docs, "files": len(files), "parquet_bytes": size, "pipeline_seconds": seconds}))


if __name__ == "__main__":
    main()

"""Peer for bench/select.py: datatrove's DocumentTokenizer over a folder of jsonl documents.

Usage: python bench/peers/datatrove_tokenize.py INPUT_DIR OUTPUT_DIR TOKENIZER [--workers 2]
JsonlReader -> DocumentTokenizer (datatrove's defaults: EOS after each document, shuffled
within its file), one task per input file. Prints one JSON line with the tokens written.
"""

import argparse
import json
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("input_dir")
    ap.add_argument("output_dir")
    ap.add_argument("tokenizer")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.tokens import DocumentTokenizer

    inputs = sorted(Path(a.input_dir).glob("*.jsonl"))
    out = Path(a.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    logs = tempfile.mkdtemp(dir=out, prefix="logs-")
    LocalPipelineExecutor(
        pipeline=[
            JsonlReader(a.input_dir, glob_pattern="*.jsonl"),
            DocumentTokenizer(output_folder=str(out / "tokens"), tokenizer_name_or_path=a.tokenizer,
                              local_working_dir=str(out / "work")),
        ],
        tasks=len(inputs),
        workers=a.workers,
        logging_dir=logs,
    ).run()
    files = sorted((out / "tokens").glob("*.ds"))
    tokens = sum(f.stat().st_size for f in files) // 2  # uint16 tokens (GPT-2 vocabulary)
    print(json.dumps({"files": len(files), "tokens": tokens}))


if __name__ == "__main__":
    main()

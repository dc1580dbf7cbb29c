"""Dataloader benchmark: tokens/s one data-parallel rank gets from pre-tokenized shards.

    python bench/loader.py [--docs 20000] [--seconds 20] [--seq-len 1024] [--batch 16] [--trainer-steps 10]

A corpus of --docs documents (paragraphs of ../shared/data resampled, bench/corpus.py) is
ingested, selected whole and materialized as GPT-2 token shards (cached under bench/.cache).
Then, in this process, one after the other on the same documents and cores:
- winnow's ShardDataLoader (torchtitan's ParallelAwareDataloader over the shards), rank 0
  of 1 and rank 3 of 8, batches of --batch x --seq-len as the metarater-1.3b config feeds
  one GPU, main-process loading (num_workers 0, torchtitan's default);
- the peer: torchtitan 0.3.0's own HuggingFaceTextDataLoader reading the same documents
  (the selection exported to jsonl, untimed) and tokenizing them with the same
  tokenizer.json through torchtitan's HuggingFaceTokenizer, as torchtitan ships.
Each loader is iterated for --seconds (after one warm-up batch); tokens are label tokens.
Last, the consumer: the real torchtitan Trainer, tiny flavor, on this CPU, for
--trainer-steps steps (`winnow train --ngpu 0`, on the same documents as SentencePiece-32k
shards, the tiny flavor's vocabulary), and an H100 figure for metarater-1.3b
that is computed, not measured (printed as an estimate, with its assumptions).
"""

from __future__ import annotations

import sys  # noqa: I001  (first: this file's folder must not shadow the stdlib `select` module)
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

import argparse
import json
import platform
import shutil
import subprocess
import tempfile
import time
from datetime import date

import psutil

from corpus import DATA, build_corpus  # noqa: E402

CACHE = HERE / ".cache"
GPT2 = str(DATA.parent / "tokenizers" / "gpt2-tokenizer.json")
SP32K = str(DATA.parent / "tokenizers" / "llama-style-sp32k.model")
WINNOW = str(Path(sys.executable).parent / "winnow")
H100_BF16_PEAK = 989e12  # dense bf16 FLOP/s, H100 SXM datasheet
ASSUMED_MFU = 0.40


def build_shards(docs: int) -> tuple[Path, Path, Path]:
    """(lake, GPT-2 shards, SentencePiece-32k shards) for a corpus of `docs` documents, all selected."""
    import winnow

    root = CACHE / f"loader-{docs}"
    shards, sp_shards = root / "shards", root / "shards-sp32k"
    if (shards / "manifest.json").is_file() and (sp_shards / "manifest.json").is_file():
        return root / "lake", shards, sp_shards
    shutil.rmtree(root, ignore_errors=True)
    corpus = build_corpus(CACHE / f"corpus-{docs}", n_docs=docs, n_shards=2)
    lake = winnow.init(root / "lake")
    winnow.ingest_files(lake, [str(p) for p in corpus])
    winnow.select(lake, "all", "SELECT id FROM docs")
    winnow.materialize(lake, "all", shards, tokenizer=GPT2, shard_tokens=4_000_000)
    # the tiny trainer flavor has the 32k vocabulary of the LLaMA-style tokenizer
    winnow.materialize(lake, "all", sp_shards, tokenizer=SP32K, shard_tokens=4_000_000)
    return root / "lake", shards, sp_shards


def timed(loader, seconds: float) -> dict:
    it = iter(loader)
    next(it)  # warm-up: workers, first file opens
    tokens = batches = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        try:
            _, labels = next(it)
        except StopIteration:
            break
        tokens += labels.numel()
        batches += 1
    elapsed = time.perf_counter() - t0
    return {"tokens": tokens, "batches": batches, "seconds": elapsed, "tokens_per_s": tokens / elapsed}


def winnow_loader(shards: Path, rank: int, world: int, seq_len: int, batch: int):
    from winnow.train.llm.loader import ShardDataLoader

    return ShardDataLoader.Config(dataset_path=str(shards)).build(
        dp_world_size=world, dp_rank=rank, seq_len=seq_len, local_batch_size=batch)


def torchtitan_loader(lake: Path, jsonl: Path, seq_len: int, batch: int):
    """torchtitan's HuggingFaceTextDataLoader on the same documents, GPT-2 tokenizer.json."""
    from datasets import load_dataset
    from torchtitan.components.tokenizer import HuggingFaceTokenizer
    from torchtitan.hf_datasets import DatasetConfig
    from torchtitan.hf_datasets.text_datasets import DATASETS, HuggingFaceTextDataLoader

    import winnow
    from winnow.sql.selections import documents

    if not jsonl.is_file():
        table = documents(winnow.open(str(lake)), "all", ["text"])
        with open(jsonl, "w") as f:
            for text in table["text"].to_pylist():
                f.write(json.dumps({"text": text}) + "\n")
    DATASETS["winnow_bench"] = DatasetConfig(
        path=str(jsonl), loader=lambda p: load_dataset("json", data_files=p, split="train"),
        sample_processor=lambda s: s["text"])
    assets = jsonl.parent / "gpt2-assets"
    assets.mkdir(exist_ok=True)
    shutil.copy(GPT2, assets / "tokenizer.json")
    tokenizer = HuggingFaceTokenizer.Config().build(tokenizer_path=str(assets))
    return HuggingFaceTextDataLoader.Config(dataset="winnow_bench", infinite=True).build(
        dp_world_size=1, dp_rank=0, tokenizer=tokenizer, seq_len=seq_len, local_batch_size=batch)


def trainer_tokens_per_s(shards: Path, steps: int) -> float | None:
    """Tokens/s of the real torchtitan Trainer, tiny flavor, on this CPU (median of the steps after the first)."""
    if steps <= 1:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([WINNOW, "train", "unused", str(shards), "--flavor", "tiny", "--ngpu", "0",
                               "--steps", str(steps), "--out", tmp, "--checkpoint.no-enable",
                               "--validator.no-enable", "--metrics.disable_color_printing"],
                              capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    from winnow.train.llm.launch import TrainResult

    tps = sorted(TrainResult([], "", "").read(proc.stderr).tps[1:])
    return float(tps[len(tps) // 2])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--trainer-steps", type=int, default=10)
    args = ap.parse_args()

    lake, shards, sp_shards = build_shards(args.docs)
    m = json.loads((shards / "manifest.json").read_text())
    print(f"machine: {platform.machine()}, {psutil.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB · {date.today()}")
    print(f"input: {m['documents']:,} documents, {m['tokens']:,} GPT-2 tokens in {len(m['shards'])} shards "
          f"({shards}); batches of {args.batch} x {args.seq_len}")

    results = {}
    for name, (rank, world) in {"winnow shards, rank 0 of 1": (0, 1), "winnow shards, rank 3 of 8": (3, 8)}.items():
        results[name] = timed(winnow_loader(shards, rank, world, args.seq_len, args.batch), args.seconds)
    peer = "torchtitan HuggingFaceTextDataLoader (tokenizes on the fly)"
    results[peer] = timed(torchtitan_loader(lake, shards.parent / "selected.jsonl", args.seq_len, args.batch),
                          args.seconds)
    for name, r in results.items():
        print(f"{name:62s} {r['tokens_per_s']:>14,.0f} tokens/s  ({r['tokens']:,} tokens, {r['batches']:,} batches,"
              f" {r['seconds']:.1f} s)")
    ours = results["winnow shards, rank 0 of 1"]["tokens_per_s"]
    print(f"ratio winnow / torchtitan's own loader: {ours / results[peer]['tokens_per_s']:.1f}x "
          f"(goal: >= 1,000,000 tokens/s per rank: {'met' if ours >= 1e6 else 'NOT met'})")

    cpu = trainer_tokens_per_s(sp_shards, args.trainer_steps)
    if cpu:
        print(f"consumer, measured: torchtitan Trainer, tiny flavor, batch 4 x 256, this CPU: {cpu:,.0f} tokens/s "
              f"-> the loader delivers {ours / cpu:,.0f}x faster")
    from winnow.train.llm.config_registry import metarater_1_3b

    import torch

    cfg = metarater_1_3b()
    with torch.device("meta"):
        model = cfg.model_spec.model.build()
    _, flops = cfg.model_spec.model.get_nparams_and_flops(model, cfg.training.seq_len)
    h100 = H100_BF16_PEAK * ASSUMED_MFU / flops
    print(f"consumer, ESTIMATED (not measured): metarater-1.3b on one H100 at {ASSUMED_MFU:.0%} MFU "
          f"({flops / 1e9:.2f} GFLOP/token, torchtitan's count) = {h100:,.0f} tokens/s "
          f"-> the loader would deliver {ours / h100:,.0f}x faster")


if __name__ == "__main__":
    main()

"""perplexity speed on the CPU: the scorer against transformers' loss document by document.

    python bench/perplexity.py [--docs 12] [--max-length 512] [--stride 256] [--hidden 256] [--layers 4]
                               [--rounds 2] [--threads 1]

No hub is reachable, so the model is built here: a LLaMA of --layers layers and --hidden
width (the defaults: 4 x 256, 8 heads, 2 key-value heads, MLP 688; with the 32,000-word
vocabulary of ../shared/tokenizers/llama-style-sp32k.model about 20M parameters, the size
of winnow's `proxy-20m` flavor, a model one trains on the lake and scores it with), random
weights, saved with save_pretrained with that tokenizer (as a LlamaTokenizer). Both sides
read the folder and the first --docs OpenWebText documents of ../shared/data, float32,
--threads torch threads, alternating (--rounds each; model loading excluded):
- winnow: the `perplexity` scorer (scoring/scorers/perplexity.py): windows of --max-length
  tokens every --stride, packed by the CPU token budget (4,096 padded tokens per pass);
- naive: transformers alone, one document at a time, one forward per window with labels
  (the recipe of transformers' "Perplexity of fixed-length models", the tests' reference).
Printed: docs/s, docs per CPU-second and tokens/s of each (tokens: the documents' tokens,
each predicted once), the ratio, and the largest relative difference of the NLLs.
"""

from __future__ import annotations

import sys  # noqa: I001  (first: this file's folder must not shadow the stdlib `select` module)
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import json
import shutil
import statistics
import tempfile
import time

import numpy as np

ROOT = HERE.parent
SHARED = (ROOT / ".." / "shared").resolve()


def build(folder: Path, hidden: int, layers: int) -> None:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    source = folder / "sp"
    source.mkdir()
    shutil.copy(SHARED / "tokenizers" / "llama-style-sp32k.model", source / "tokenizer.model")
    (source / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "LlamaTokenizer", "add_bos_token": True, "bos_token": "<s>", "eos_token": "</s>",
        "unk_token": "<unk>"}))
    tokenizer = AutoTokenizer.from_pretrained(source)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 43 // 16,
                         num_hidden_layers=layers, num_attention_heads=8, num_key_value_heads=2,
                         max_position_embeddings=2048, bos_token_id=1, eos_token_id=2)
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    print(f"model: LLaMA {layers} x {hidden}, {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, "
          f"vocabulary {len(tokenizer):,}")


def naive(model, tokenizer, texts, max_length, stride) -> np.ndarray:
    import torch

    out = []
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tokenizer(text)["input_ids"]])
            total, count, previous = 0.0, 0, 0
            for begin in range(0, ids.shape[1], stride):
                end = min(begin + max_length, ids.shape[1])
                labels = ids[:, begin:end].clone()
                labels[:, :-(end - previous)] = -100
                predicted = int((labels[:, 1:] != -100).sum())
                total += model(input_ids=ids[:, begin:end], labels=labels).loss.item() * predicted
                count += predicted
                previous = end
                if end == ids.shape[1]:
                    break
            out.append(total / count)
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=12)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--stride", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import pyarrow as pa
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from winnow.scoring import resolve

    torch.set_num_threads(args.threads)
    print("command: python bench/perplexity.py " + " ".join(sys.argv[1:]))
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 shared cores); torch threads {args.threads}")
    texts = [json.loads(line)["text"] for line in (SHARED / "data" / "openwebtext-1000.jsonl").open()][:args.docs]
    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp), args.hidden, args.layers)
        folder = str(Path(tmp) / "model")
        scorer = resolve("perplexity")(model=folder, max_length=args.max_length, stride=args.stride)
        scorer.setup("cpu")
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        tokens = sum(len(tokenizer(t)["input_ids"]) for t in texts)
        print(f"input: the first {len(texts)} OpenWebText documents, {tokens:,} tokens; windows of "
              f"{args.max_length} every {args.stride}")
        sides = {"winnow": lambda: np.asarray(scorer.score(pa.RecordBatch.from_pydict({"text": texts}))[
            "perplexity_nll"], np.float64), "naive": lambda: naive(model, tokenizer, texts, args.max_length,
                                                                   args.stride)}
        runs: dict[str, list] = {k: [] for k in sides}
        values = {}
        for _ in range(args.rounds):
            for name, fn in sides.items():
                w, c = time.perf_counter(), time.process_time()
                values[name] = fn()
                runs[name].append((time.perf_counter() - w, time.process_time() - c))
        for name in sides:
            wall = statistics.median(w for w, _ in runs[name])
            cpu = statistics.median(c for _, c in runs[name])
            print(f"{name:7s} {len(texts) / wall:7.2f} docs/s  {len(texts) / cpu:7.2f} docs/CPU-s  "
                  f"{tokens / wall:8,.0f} tokens/s  (median of {args.rounds}: {wall:.1f} s wall, {cpu:.1f} CPU-s)")
        ratio = statistics.median(c for _, c in runs["naive"]) / statistics.median(c for _, c in runs["winnow"])
        print(f"ratio (docs per CPU-second, winnow / naive): {ratio:.2f}x")
        diff = np.max(np.abs(values["winnow"] - values["naive"]) / np.abs(values["naive"]))
        print(f"largest relative difference of the NLLs: {diff:.2e}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""Rater speed: ModelScorer against transformers' pipeline; fastText and DSIR per core.

    python bench/raters.py [--device cpu|cuda] [--docs N] [--max-length 512]
                           [--fast-docs 20000] [--skip-model] [--skip-fast]

1. A ModernBERT-base-sized classifier (ModernBertConfig's defaults: 22 layers, hidden 768,
   6 labels as Meta-rater's PRRC heads, random weights) is saved with save_pretrained into
   a temporary folder, with GPT-2's tokenizer.json (../shared/tokenizers) wrapped in
   PreTrainedTokenizerFast with [CLS] [SEP] [PAD] added (ModernBERT's own tokenizer is on the
   hub, out of reach here). Both sides read that folder and the same --docs real documents
   of ../shared/data (OpenWebText, C4 and GitHub interleaved, so lengths vary; cycled when
   --docs is more than the 1,499 there are), truncated at --max-length tokens:
   - winnow: hf-classifier (scoring/model.py: sorted by length inside a 1,024-row window,
     packed to a token budget, tokenized a window ahead in a thread; bfloat16 on CUDA);
   - naive: `transformers.pipeline("text-classification", model=folder, batch_size=32,
     truncation=True, max_length=...)`, in its default dtype (float32); on CUDA also in
     bfloat16, so that the ratio is not only the dtype.
   Each is warmed up on 4 documents, then timed over all (model loading excluded). Printed:
   docs/s, tokens/s (the tokens each side feeds the model, special tokens included), the
   ratio, the largest difference of the top label's probability between the two (both run
   the same model on the same tokens), and on CUDA the MFU: 2 x parameters x tokens / time
   / the GPU's dense bf16 peak (a table by device name). Without a GPU: "not measured".
2. fastText (scoring/scorers/fasttext.py) and DSIR (scoring/scorers/dsir.py), each scoring
   --fast-docs documents of the benchmark corpus (bench/corpus.py, seed 0) on one thread
   (DSIR's numpy calls use no BLAS), in 1,024-row batches as the runner gives them.
   fastText: two models trained here (OpenWebText as __label__hq, C4 as __label__cc, dim 100,
   wordNgrams 2, epoch 5; 2,000,000 buckets as DCLM's trainer, 200,000 as `winnow rater
   train`). Every batch is scored in turn (the first side alternating) by the rater
   (`FastTextRater.score`: Arrow in, DCLM's cleaning, the binding's predict_batch with
   threads=1, the label rule, Arrow out) and by the binding's predict_batch alone on the texts
   already cleaned (the library's own rate: the rater's limit); then the CPU a process pays
   before its first batch (the rater's check, the model's load). DSIR: fitted here (target:
   OpenWebText; raw: the corpus in a lake). Printed: docs/s and docs per CPU-second (other
   jobs on the cores slow the first, not the second), against the goal of 5,000 docs/s per
   core.
"""

from __future__ import annotations

import sys  # noqa: I001  (first: this file's folder must not shadow the stdlib `select` module)
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no model hub is reachable: everything is built here

import argparse
import itertools
import json
import platform
import tempfile
import time
from datetime import date

import numpy as np
import psutil
import pyarrow as pa

from corpus import build_corpus  # noqa: E402

CACHE = HERE / ".cache"
SHARED = HERE.parent.parent / "shared"
DATA = SHARED / "data"
GPT2_JSON = SHARED / "tokenizers" / "gpt2-tokenizer.json"
SOURCES = ("openwebtext-1000.jsonl", "c4-sample-449.jsonl", "github-sample-50.jsonl")
WINDOW = 1024  # rows per runner batch (--batch-rows's default)
FAST_GOAL = 5_000  # docs/s per core, fastText and DSIR
# Dense bf16 peak FLOP/s by device name (first match wins; vendors' datasheets, no sparsity).
PEAK_BF16 = (("H200", 989e12), ("H100 PCIe", 756e12), ("H100", 989e12), ("H800", 989e12), ("GH200", 989e12),
             ("B200", 2250e12), ("A100", 312e12), ("A800", 312e12), ("L40S", 362e12), ("L4", 121e12),
             ("A10", 125e12), ("RTX 4090", 165e12))


def read_jsonl(path: Path) -> list[str]:
    with open(path) as f:
        return [json.loads(line)["text"] for line in f]


def real_docs(n: int) -> list[str]:
    """n real documents: the files of ../shared/data interleaved (lengths vary), cycled past their 1,499."""
    sources = [read_jsonl(DATA / name) for name in SOURCES]
    mixed = [d for group in itertools.zip_longest(*sources) for d in group if d]
    return list(itertools.islice(itertools.cycle(mixed), n))


def batches(texts: list[str], rows: int = WINDOW):
    for i in range(0, len(texts), rows):
        yield pa.RecordBatch.from_pydict({"text": texts[i:i + rows]})


class Timer:
    """Wall and CPU seconds (this process) of a block; waits for the GPU on CUDA."""

    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")

    def _sync(self):
        if self.cuda:
            import torch

            torch.cuda.synchronize()

    def __enter__(self):
        self._sync()
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self._sync()
        self.seconds = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.c0


# ---------------------------------------------------------------- 1. the transformer rater


def build_rater(folder: Path, max_length: int, **config) -> int:
    """A ModernBERT-base-sized 6-label classifier with random weights and GPT-2's tokenizer
    (+ [CLS] [SEP] [PAD]), saved in `folder`; its number of parameters. `config`: other
    ModernBertConfig values (a smaller model for a CPU run: num_hidden_layers=2, ...)."""
    import torch
    from tokenizers import Tokenizer, processors
    from transformers import ModernBertConfig, ModernBertForSequenceClassification, PreTrainedTokenizerFast

    backend = Tokenizer.from_file(str(GPT2_JSON))
    backend.add_special_tokens(["[CLS]", "[SEP]", "[PAD]"])
    cls, sep = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                      special_tokens=[("[CLS]", cls), ("[SEP]", sep)]),
    ])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, cls_token="[CLS]", sep_token="[SEP]",
                                        pad_token="[PAD]", model_max_length=max_length)
    config = ModernBertConfig(num_labels=6, pad_token_id=tokenizer.pad_token_id, cls_token_id=cls, sep_token_id=sep,
                              bos_token_id=cls, eos_token_id=sep, **config)  # the rest: ModernBERT-base's defaults
    assert config.vocab_size >= backend.get_vocab_size()
    torch.manual_seed(0)
    model = ModernBertForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def fed_tokens(folder: Path, texts: list[str], max_length: int) -> int:
    """Tokens the model reads for these texts, truncated at max_length, special tokens included."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return sum(len(ids) for ids in tok(texts, truncation=True, max_length=max_length)["input_ids"])


def run_winnow(folder: Path, texts: list[str], device: str, max_length: int) -> tuple[Timer, np.ndarray]:
    """hf-classifier over the texts in runner windows; (timer, top-label probability per text)."""
    from winnow.scoring.scorers.hf_classifier import HFClassifier

    scorer = HFClassifier(model=str(folder), max_length=max_length, per_label=True, column="r")
    scorer.setup(device)
    list(scorer.score_stream(batches(texts[:4])))  # warm-up
    labels = [scorer.label_column(label) for label in scorer.labels]
    parts = []
    with Timer(device) as t:
        for out in scorer.score_stream(batches(texts)):
            parts.append(np.stack([np.asarray(out[c]) for c in labels], axis=1))
    return t, np.concatenate(parts).max(axis=1)


def run_pipeline(folder: Path, texts: list[str], device: str, max_length: int, dtype=None) -> tuple[Timer, np.ndarray]:
    """transformers.pipeline, batch 32; (timer, top-label probability per text)."""
    from transformers import pipeline

    extra = {"dtype": dtype} if dtype is not None else {}
    pipe = pipeline("text-classification", model=str(folder), batch_size=32, truncation=True,
                    max_length=max_length, device=device, **extra)
    pipe(texts[:4])  # warm-up
    with Timer(device) as t:
        out = pipe(texts)
    return t, np.array([o["score"] for o in out])


def peak_flops(name: str) -> float | None:
    return next((peak for key, peak in PEAK_BF16 if key.lower() in name.lower()), None)


def bench_model(device: str, n_docs: int | None, max_length: int) -> None:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        print("GPU: not measured (no GPU)")
        return
    gpu = device.startswith("cuda")
    n = n_docs or (4096 if gpu else 48)
    texts = real_docs(n)
    with tempfile.TemporaryDirectory(prefix="winnow-bench-rater-") as tmp:
        folder = Path(tmp) / "modernbert-base-random"
        params = build_rater(folder, max_length)
        tokens = fed_tokens(folder, texts, max_length)
        where = torch.cuda.get_device_name(0) if gpu else f"CPU ({torch.get_num_threads()} torch threads)"
        print(f"rater: ModernBERT-base-sized classifier ({params / 1e6:.1f}M parameters, 22 layers, hidden 768, "
              f"6 labels, random weights; GPT-2 tokenizer + [CLS] [SEP] [PAD]) on {where}")
        print(f"documents: {n:,} real ones of ../shared/data{' (cycled)' if n > 1499 else ''}, "
              f"{tokens:,} tokens fed at max_length {max_length} ({tokens / n:,.0f} per document)")
        ours, ours_top = run_winnow(folder, texts, device, max_length)
        runs = [("winnow hf-classifier (ModelScorer" + (", bfloat16)" if gpu else ", float32)"), ours)]
        naive, naive_top = run_pipeline(folder, texts, device, max_length)
        runs.append(("transformers.pipeline, batch 32 (float32)", naive))
        if gpu:
            naive16, top16 = run_pipeline(folder, texts, device, max_length, dtype=torch.bfloat16)
            runs.append(("transformers.pipeline, batch 32 (bfloat16)", naive16))
        peak = peak_flops(where) if gpu else None
        for label, t in runs:
            mfu = ""
            if gpu:
                mfu = f"; MFU {2 * params * tokens / t.seconds / peak:.1%}" if peak else f"; MFU: no peak for {where}"
            print(f"  {label:48s} {n / t.seconds:9,.1f} docs/s {tokens / t.seconds:11,.0f} tokens/s "
                  f"({t.seconds:.1f} s, {t.cpu:.1f} CPU-s{mfu})")
        ratio = f"ratio winnow / pipeline (float32): {naive.seconds / ours.seconds:.2f}x docs/s"
        if gpu:
            ratio += f"; / pipeline (bfloat16): {naive16.seconds / ours.seconds:.2f}x (goal on a GPU >= 3x)"
        print(ratio)
        print(f"same model, same tokens: top-label probability differs by at most "
              f"{np.abs(ours_top - naive_top).max():.2e} (winnow vs pipeline float32)")
        if gpu and peak:
            print(f"  MFU = 2 x {params / 1e6:.1f}M parameters x tokens / seconds / {peak / 1e12:,.0f} TFLOP/s "
                  f"(dense bf16 peak of {where}; attention FLOPs not counted)")
        if not gpu:
            print("GPU: not measured (no GPU)" if not torch.cuda.is_available() else
                  "GPU: run with --device cuda for the GPU figures and the MFU")


# ---------------------------------------------------------------- 2. fastText and DSIR


def corpus_texts(n: int) -> tuple[Path, list[str]]:
    folder = CACHE / f"corpus-{n}-0"
    build_corpus(folder, n_docs=n, n_shards=4, seed=0, quiet=True)
    texts = [t for shard in sorted(folder.glob("shard-*.jsonl")) for t in read_jsonl(shard)]
    return folder, texts


def train_fasttext(folder: Path, bucket: int) -> Path:
    """model.bin: OpenWebText as __label__hq, C4 as __label__cc (DCLM's labels), DCLM's text
    preprocessing and trainer settings, with `bucket` hash buckets (DCLM's 2,000,000, or the
    200,000 `winnow rater train --kind fasttext` uses)."""
    import fasttext_new

    from winnow.scoring.scorers.fasttext import dclm_text

    rows = [("__label__hq", t) for t in read_jsonl(DATA / SOURCES[0])]
    rows += [("__label__cc", t) for t in read_jsonl(DATA / SOURCES[1])]
    order = np.random.default_rng(0).permutation(len(rows))
    data = folder / "train.txt"
    data.write_text("".join(f"{rows[i][0]} {dclm_text(rows[i][1])}\n" for i in order))
    model = fasttext_new.train_supervised(input=str(data), lr=0.1, dim=100, ws=5, epoch=5, minCount=1,
                                          wordNgrams=2, bucket=bucket, seed=0, verbose=0, thread=1)
    path = folder / f"model-{bucket}.bin"
    model.save_model(str(path))
    return path


def time_scorer(label: str, scorer, texts: list[str]) -> None:
    column = scorer.outputs()[0].name
    scorer.score(next(batches(texts[:WINDOW])))  # warm-up
    values = []
    with Timer("cpu") as t:
        for b in batches(texts):
            values.append(np.asarray(scorer.score(b)[column], dtype=np.float64))
    values = np.concatenate(values)
    per_core = len(texts) / t.cpu
    verdict = "pass" if per_core >= FAST_GOAL else "FAIL"
    print(f"  {label:10s} {len(texts) / t.seconds:9,.0f} docs/s on one thread, {per_core:9,.0f} docs per CPU-second "
          f"({t.seconds:.2f} s, {t.cpu:.2f} CPU-s; goal >= {FAST_GOAL:,} per core: {verdict}); "
          f"values: {np.isfinite(values).sum():,} finite, mean {np.nanmean(values):.3g}")


def fasttext_sides(model: Path, texts: list[str]) -> None:
    """winnow's fastText rater against the binding's own predict_batch on the texts already
    DCLM-cleaned (the library's rate: the limit, with no Arrow, no cleaning, no label rule).
    Both score every batch, in turn, the rater first on even batches and second on odd ones:
    other jobs on the machine weigh on both alike, and each finds the rows of the model the
    other has just read in the cache as often as the other does. Then what a process pays before its first batch:
    the rater's check (what the runner runs before its workers start) and the model's load."""
    import fasttext_new

    from winnow.scoring.scorers.fasttext import FastTextRater, dclm_text

    with Timer("cpu") as check:
        rater = FastTextRater(model=str(model), column="hq")
        rater.setup("cpu")
    with Timer("cpu") as load:
        library = fasttext_new.load_model(str(model))
    rater.score(next(batches(texts[-WINDOW:])))  # warm-up: the rater loads its model here
    library.predict_batch([dclm_text(t) for t in texts[-16:]], k=1, threads=1)
    args = library.f.get_args()
    print(f"  fastText model: dim {args['dim']}, wordNgrams {args['wordNgrams']}, {args['bucket']:,} buckets, "
          f"{model.stat().st_size / 1e6:,.0f} MB")
    sides = {"winnow fasttext (score: Arrow in and out)": lambda b, cleaned: rater.score(b),
             "fasttext_new predict_batch, cleaned texts": lambda b, cleaned: library.predict_batch(cleaned, k=1,
                                                                                                   threads=1)}
    spent = {label: [0, 0.0, 0.0] for label in sides}  # documents, seconds, CPU-seconds
    for i, start in enumerate(range(0, len(texts), WINDOW)):
        part = texts[start:start + WINDOW]
        batch, cleaned = next(batches(part)), [dclm_text(t) for t in part]  # the library's input: not timed
        for label in list(sides)[::1 if i % 2 == 0 else -1]:
            with Timer("cpu") as t:
                sides[label](batch, cleaned)
            spent[label][0] += len(part)
            spent[label][1] += t.seconds
            spent[label][2] += t.cpu
    rate = {}
    for label, (n, seconds, cpu) in spent.items():
        rate[label] = n / cpu
        verdict = "pass" if n / cpu >= FAST_GOAL else "FAIL"
        print(f"    {label:44s} {n / seconds:7,.0f} docs/s, {n / cpu:7,.0f} docs per CPU-second "
              f"({n:,} docs, {seconds:.2f} s, {cpu:.2f} CPU-s; goal >= {FAST_GOAL:,} per core: {verdict})")
    ours, limit = rate.values()
    print(f"    the rater runs at {ours / limit:.2f}x the library's own rate per CPU-second; before its first batch "
          f"a process pays {check.cpu:.2f} CPU-s for the check (the runner's, before its workers start) and "
          f"{load.cpu:.2f} CPU-s for the model's load (once per worker); load average now {os.getloadavg()[0]:.1f}")


def bench_fast(n_docs: int) -> None:
    import winnow
    from winnow.scoring.scorers.dsir import DSIR

    corpus, texts = corpus_texts(n_docs)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(f"fastText and DSIR: {len(texts):,} documents, {mb:.1f} MB (bench/corpus.py: paragraphs of ../shared/data "
          f"resampled, seed 0), {WINDOW:,}-row batches, one thread")
    with tempfile.TemporaryDirectory(prefix="winnow-bench-fast-") as tmp:
        tmp = Path(tmp)
        for bucket, whose in ((2_000_000, "DCLM's trainer"), (200_000, "winnow rater train's")):
            print(f"  {whose} settings:")
            model = train_fasttext(tmp, bucket)
            fasttext_sides(model, texts)
            model.unlink()

        lake = winnow.init(tmp / "lake")
        winnow.ingest_files(lake, [str(corpus)])
        dsir = DSIR(target=str(DATA / SOURCES[0]), name="owt", out=str(tmp / "dsir"))
        dsir.fit(lake, lake.docs().version, None)  # target: OpenWebText; raw: the corpus
        dsir.setup("cpu")
        time_scorer("DSIR", dsir, texts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    ap.add_argument("--docs", type=int, default=None,
                    help="documents for the transformer rater (default: 48 on CPU, 4,096 on CUDA)")
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--fast-docs", type=int, default=20_000, help="documents for fastText and DSIR")
    ap.add_argument("--skip-model", action="store_true", help="only fastText and DSIR")
    ap.add_argument("--skip-fast", action="store_true", help="only the transformer rater")
    a = ap.parse_args()
    print(f"command: python bench/raters.py {' '.join(sys.argv[1:])}")
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
          f"{platform.machine()}, load average {os.getloadavg()[0]:.1f}, {date.today()}")
    if not a.skip_model:
        bench_model(a.device, a.docs, a.max_length)
    if not a.skip_fast:
        bench_fast(a.fast_docs)


if __name__ == "__main__":
    main()

"""ModelScorer: the base of every transformer rater (a model read through its tokenizer).

A rater is a small subclass: its default model, its columns, and how the model's outputs
become them.

    class FineWebEdu(ModelScorer):
        name = "fineweb-edu"
        default_model = "HuggingFaceFW/fineweb-edu-classifier"

        def check_config(self, config):          # the head a named scorer expects
            if config.num_labels != 1:
                raise ValueError(f"expected a regression head, got {config.num_labels} labels")

        def outputs(self):
            return [pa.field("fineweb_edu", pa.float32())]

        def postprocess(self, values):           # float64 [documents, model outputs]; NaN rows: not scored
            return {"fineweb_edu": values[:, 0]}

The base does the rest, once:

- Loading: `model` is a hub id or a local folder, through the same `from_pretrained` code
  path (local files only when HF_HUB_OFFLINE=1). `load_model` and `load_tokenizer` are the
  hooks for another model class.
- Fingerprint: a local folder's files hashed (xxh3-128 over config, weights, tokenizer); a
  hub id's resolved commit. It is recorded with the columns, so scoring with another model
  over them needs `--replace`. `check_config` runs then, before anything is written.
- Device and precision: float32 on CPU; bfloat16 on a CUDA device that supports it. The
  runner starts one worker per device of `--device cuda:0,1` (or per visible GPU for `cuda`).
- Batching by a token budget: the documents of one runner batch (`--batch-size` rows: the
  bounded window) are cut into units, sorted by length, and packed into forward passes of
  at most `batch_tokens` padded tokens. Tokenizing runs in a background thread, one window
  ahead of the device. Results come back in row order.
- Long documents: `long_docs=truncate` keeps the first `max_length` tokens (special tokens
  included), as `tokenizer(text, truncation=True, max_length=...)` does; `long_docs=chunks`
  cuts the document into pieces of `max_length` tokens (special tokens included in each)
  and combines the pieces' outputs by `aggregate`: `mean`, `token_mean` (weighted by each
  piece's text tokens) or `max`.
- Never stops the job on a document: an empty one (no tokens) or one that fails to
  tokenize gets NaN, counted in `self.counts` ("empty", "untokenizable"), which the
  runner reports in its summary.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator, Mapping

import numpy as np
import pyarrow as pa

from winnow.lake.tokenizer import looks_like_path

from winnow.scoring.scorer import Param, Scorer, ScoreUsageError

LONG_DOCS = ("truncate", "chunks")
AGGREGATES = ("mean", "token_mean", "max")
CPU_BATCH_TOKENS = 16_384
CUDA_BATCH_TOKENS = 131_072
TRUNCATE_CHARS_PER_TOKEN = 16  # for truncate: tokenize only this many characters per kept token first
_SKIP_FILES = (".md", ".gitattributes", ".lock", ".metadata")

MODEL_PARAMETERS: dict[str, Param] = {
    "model": Param(str, None, "a Hugging Face hub id or a local model folder (default: the scorer's)"),
    "revision": Param(str, None, "a hub revision: branch, tag or commit (hub ids only)"),
    "max_length": Param(int, None, "tokens per forward unit, special tokens included (default: the scorer's)",
                        minimum=4),
    "long_docs": Param(str, None, "truncate (keep the first max_length tokens) or chunks (score every piece)"),
    "aggregate": Param(str, None, "with chunks: mean, token_mean or max of the pieces' outputs"),
    "batch_tokens": Param(int, None, f"padded tokens per forward pass (default: {CPU_BATCH_TOKENS} on CPU, "
                                     f"{CUDA_BATCH_TOKENS} on CUDA)", minimum=1),
    "batch_size": Param(int, None, "at most this many units per forward pass (default: no limit but batch_tokens)",
                        minimum=1),
}


def offline() -> bool:
    """True when model hubs must not be reached (HF_HUB_OFFLINE=1 or TRANSFORMERS_OFFLINE=1)."""
    return os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1"


def check_device(device: str, option: str = "--device") -> str:
    """`device` when torch parses it (cpu, cuda, cuda:N, mps, ...) and this machine has it (a
    GPU torch sees, an index below the GPU count), else a ScoreUsageError naming `option`:
    checked before a model is loaded, so a typo costs no model load."""
    if device == "cpu":
        return device
    import torch

    try:
        d = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ScoreUsageError(f"{option} {device!r}: not a device torch knows (use cpu, cuda or cuda:N)") from None
    if d.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise ScoreUsageError(f"{option} {device}: no CUDA device is visible on this machine (use {option} cpu)")
        if d.index is not None and d.index >= n:
            raise ScoreUsageError(f"{option} {device}: this machine shows {n} CUDA device(s), cuda:0 to cuda:{n - 1}")
    elif d.type == "mps" and not torch.backends.mps.is_available():
        raise ScoreUsageError(f"{option} {device}: no MPS device on this machine (use {option} cpu)")
    elif d.type not in ("cuda", "mps", "cpu"):
        raise ScoreUsageError(f"{option} {device}: use cpu, cuda, cuda:N or mps")
    return device


def model_identity(spec: str, revision: str | None = None) -> dict[str, Any]:
    """What a model is, for the catalog: a local folder's content hash (xxh3-128 over every
    file but docs, in path order, names included), or a hub id with its resolved commit.
    A ValueError when neither can be found."""
    import xxhash

    if os.path.isdir(spec):
        root = Path(spec)
        files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.endswith(_SKIP_FILES)
                       and not any(part.startswith(".") for part in p.relative_to(root).parts))
        if not files:
            raise ValueError(f"model folder {spec} holds no files")
        h = xxhash.xxh3_128()
        for p in files:
            h.update(str(p.relative_to(root)).encode() + b"\0")
            with open(p, "rb") as f:
                while block := f.read(1 << 22):
                    h.update(block)
        return {"xxh3_128": h.hexdigest(), "files": len(files), "bytes": sum(p.stat().st_size for p in files)}
    if looks_like_path(spec):
        raise ValueError(f"model {spec}: no such folder (expected a model folder or a hub id)")
    from huggingface_hub import hf_hub_download

    try:
        config = hf_hub_download(spec, "config.json", revision=revision, local_files_only=offline())
    except Exception as e:  # not cached offline, unknown repo, no network
        where = "in the local cache (HF_HUB_OFFLINE=1)" if offline() else "on the hub or in the local cache"
        raise ValueError(f"model {spec}: not found {where}: {type(e).__name__}") from e
    return {"hub": spec, "revision": Path(config).parent.name}


@dataclass
class _Window:
    """One runner batch, tokenized and cut into units (what the background thread hands over)."""

    rows: int
    units: list[list[int]]  # token ids of each unit, special tokens included
    owner: np.ndarray  # the row of each unit
    weight: np.ndarray  # the text tokens of each unit
    failed: dict[int, str]  # row -> reason it gets NaN


class ModelScorer(Scorer):
    """A transformer rater: tokenizer + model + post-processing (see the module docstring)."""

    uses_model = True
    extra = "raters"
    needs = ("torch", "transformers")
    default_model: ClassVar[str | None] = None
    default_max_length: ClassVar[int] = 512
    default_long_docs: ClassVar[str] = "truncate"
    default_aggregate: ClassVar[str] = "mean"
    add_special_tokens: ClassVar[bool] = True  # False: units are the text's tokens alone (QuRating)
    parameters = MODEL_PARAMETERS

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.model_spec = self.param("model") or self.default_model_spec()
        if not self.model_spec:
            raise ValueError("give the model: -p model=HUB_ID_OR_FOLDER")
        if looks_like_path(self.model_spec) and not os.path.isdir(self.model_spec):
            raise ValueError(f"model {self.model_spec}: no such folder (expected a model folder or a hub id)")
        self.revision = self.param("revision")
        self.long_docs = self.param("long_docs") or self.default_long_docs
        self.aggregate = self.param("aggregate") or self.default_aggregate
        if self.long_docs not in LONG_DOCS:
            raise ValueError(f"long_docs={self.long_docs!r}: use {' or '.join(LONG_DOCS)}")
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate={self.aggregate!r}: use {', '.join(AGGREGATES)}")
        self.max_length = self.param("max_length") or self.default_max_length
        self.batch_tokens = self.param("batch_tokens")
        self.batch_size = self.param("batch_size")
        self.device = "cpu"
        self.model = self.tokenizer = None
        self._config = None
        self._prefix: list[int] = []
        self._suffix: list[int] = []

    # ------------------------------------------------------------ hooks a rater may override

    def default_model_spec(self) -> str | None:
        """The model read when `-p model=` is not given."""
        return self.default_model

    def load_config(self):
        """The model's configuration, read without its weights."""
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(self.model_spec, revision=self.revision, local_files_only=offline())

    def check_config(self, config) -> None:
        """Raise ValueError when the model is not the one this scorer reads (a named scorer's head shape)."""

    def load_model(self, dtype):
        """The model, in eval mode, in `dtype` (on the CPU; the base moves it)."""
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_pretrained(
            self.model_spec, revision=self.revision, local_files_only=offline(), dtype=dtype)

    def load_tokenizer(self):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.model_spec, revision=self.revision, local_files_only=offline())

    @property
    def num_outputs(self) -> int:
        """Values per unit the model returns (a classifier's labels)."""
        return int(self.config.num_labels)

    def forward(self, input_ids, attention_mask):
        """The model's outputs for one padded batch, a [units, num_outputs] tensor."""
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    def postprocess(self, values: np.ndarray) -> Mapping[str, Any]:
        """The columns, from float64 [rows, num_outputs] values (a row of NaN: not scored)."""
        raise NotImplementedError

    # ------------------------------------------------------------ the base's work

    @property
    def config(self):
        if self._config is None:
            self._config = self.load_config()
        return self._config

    def fingerprint(self) -> dict[str, Any]:
        """The model's identity (checked against what this scorer reads), for the catalog."""
        identity = model_identity(self.model_spec, self.revision)  # first: it says when a hub id is not cached
        self.check_config(self.config)
        return identity

    def setup(self, device: str = "cpu") -> None:
        import torch

        if str(device).startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {device}: no CUDA device is visible")
        bf16 = str(device).startswith("cuda") and torch.cuda.is_bf16_supported()
        self.check_config(self.config)
        tokenizer = self.load_tokenizer()
        model = self.load_model(torch.bfloat16 if bf16 else torch.float32)
        config = getattr(model, "config", None)
        if tokenizer.pad_token_id is None:  # decoder-only models ship none: the config's, else eos
            if config is not None and getattr(config, "pad_token_id", None) is not None:
                tokenizer.pad_token_id = config.pad_token_id
            else:
                tokenizer.pad_token = tokenizer.eos_token if tokenizer.eos_token is not None else tokenizer.unk_token
        if config is not None and getattr(config, "pad_token_id", 0) is None:
            config.pad_token_id = tokenizer.pad_token_id
        self.model, self.tokenizer, self.device = model.to(device).eval(), tokenizer, device
        self._prefix, self._suffix = self._special_tokens() if self.add_special_tokens else ([], [])
        if self.max_length - len(self._prefix) - len(self._suffix) < 1:
            raise ValueError(f"max_length={self.max_length} leaves no room for text between the special tokens")
        if self.batch_tokens is None:
            self.batch_tokens = CUDA_BATCH_TOKENS if str(device).startswith("cuda") else CPU_BATCH_TOKENS

    def tokenizer_limit(self) -> int | None:
        """The tokenizer's model_max_length, or None when it sets no real one (transformers'
        placeholder for none is about 1e30)."""
        cap = getattr(self.tokenizer, "model_max_length", None)
        return cap if isinstance(cap, int) and 0 < cap < 1_000_000 else None

    def cap_max_length(self) -> None:
        """Keep max_length within the tokenizer's model_max_length (after setup)."""
        if (cap := self.tokenizer_limit()) is not None:
            self.max_length = min(self.max_length, cap)

    def release(self) -> None:
        """Drop the model (the runner's check copy, when workers score on the devices)."""
        self.model = None
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

    def _special_tokens(self) -> tuple[list[int], list[int]]:
        """The ids the tokenizer puts before and after a text."""
        probe = "winnow probe"
        bare = self.tokenizer(probe, add_special_tokens=False)["input_ids"]
        full = self.tokenizer(probe)["input_ids"]
        for i in range(len(full) - len(bare) + 1):
            if full[i:i + len(bare)] == bare:
                return list(full[:i]), list(full[i + len(bare):])
        return [], []

    @property
    def text_tokens(self) -> int:
        """Text tokens per unit: max_length less the special tokens."""
        return self.max_length - len(self._prefix) - len(self._suffix)

    def score(self, batch: pa.RecordBatch):
        return next(self.score_stream([batch], background=False))

    def score_stream(self, batches: Iterable[pa.RecordBatch], background: bool = True) -> Iterator[Mapping[str, Any]]:
        """The columns of each batch, in order; tokenizing runs one batch ahead in a thread."""
        if self.model is None:
            self.setup(self.device)
        windows = self._ahead(batches) if background else (self._window(b) for b in batches)
        for window in windows:
            values = self._run(window)
            for row, reason in window.failed.items():
                values[row] = np.nan
                self.counts[reason] += 1
            yield self.postprocess(values)

    def _ahead(self, batches: Iterable[pa.RecordBatch]) -> Iterator[_Window]:
        """Windows made by a background thread, at most two ahead of the device."""
        q: queue.Queue = queue.Queue(maxsize=2)
        done = object()
        stop = threading.Event()

        def produce():
            try:
                for b in batches:
                    if stop.is_set():
                        return
                    q.put(self._window(b))
                q.put(done)
            except BaseException as e:  # handed to the consumer, raised there
                q.put(e)

        thread = threading.Thread(target=produce, name="winnow-tokenize", daemon=True)
        thread.start()
        try:
            while (item := q.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while thread.is_alive():  # unblock a producer waiting on a full queue
                try:
                    q.get_nowait()
                except queue.Empty:
                    thread.join(0.05)

    def _tokenize(self, texts: list[str]) -> list[list[int] | None]:
        """Token ids of each text without special tokens (None where the tokenizer failed)."""
        try:
            return list(self.tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False,
                                       return_attention_mask=False, return_token_type_ids=False)["input_ids"])
        except Exception:
            out: list[list[int] | None] = []
            for t in texts:
                try:
                    out.append(list(self.tokenizer(t, add_special_tokens=False, verbose=False)["input_ids"]))
                except Exception:
                    out.append(None)
            return out

    def _prefix_ids(self, prefixes: list[str], keep: int) -> list[tuple[list[int], int] | None]:
        """(token ids, end character of the first `keep` tokens) of each prefix, without special
        tokens; None for all when the tokenizer fails or gives no offsets (a slow tokenizer)."""
        try:
            enc = self.tokenizer(prefixes, add_special_tokens=False, truncation=False, verbose=False,
                                 return_offsets_mapping=True, return_attention_mask=False,
                                 return_token_type_ids=False)
        except Exception:
            return [None] * len(prefixes)
        return [(list(ids), offsets[min(keep, len(offsets)) - 1][1] if offsets else 0)
                for ids, offsets in zip(enc["input_ids"], enc["offset_mapping"])]

    def _window(self, batch: pa.RecordBatch) -> _Window:
        texts = batch.column("text").to_pylist()
        rows = len(texts)
        keep = self.text_tokens
        failed, todo = _nonempty(texts)
        if self.long_docs == "truncate":
            cap = keep * TRUNCATE_CHARS_PER_TOKEN
            short = [i for i in todo if len(texts[i]) <= cap]
            ids = dict(zip(short, self._tokenize([texts[i] for i in short])))
            # A cut changes the tokens near it (WordPiece reads a word of over 100 characters as one
            # [UNK], its first characters as many pieces): a prefix counts only when it gave 64
            # tokens more than are kept and the kept ones end 128 characters before the cut.
            long = [i for i in todo if len(texts[i]) > cap]
            again = []
            for i, got in zip(long, self._prefix_ids([texts[i][:cap] for i in long], keep)):
                if got is not None and len(got[0]) >= keep + 64 and got[1] <= cap - 128:
                    ids[i] = got[0]
                else:
                    again.append(i)
            if again:
                ids.update(zip(again, self._tokenize([texts[i] for i in again])))
        else:
            ids = dict(zip(todo, self._tokenize([texts[i] for i in todo])))
        units, owner, weight = [], [], []
        for i in todo:
            tokens = ids[i]
            if tokens is None:
                failed[i] = "untokenizable"
                continue
            if not tokens:
                failed[i] = "empty"
                continue
            pieces = [tokens[:keep]] if self.long_docs == "truncate" else \
                [tokens[s:s + keep] for s in range(0, len(tokens), keep)]
            for piece in pieces:
                units.append(self._prefix + piece + self._suffix)
                owner.append(i)
                weight.append(len(piece))
        return _Window(rows, units, np.asarray(owner, dtype=np.int64), np.asarray(weight, dtype=np.float64), failed)

    def _batches(self, lengths: list[int]) -> Iterator[list[int]]:
        """Unit indices per forward pass: longest first, each pass within the token budget."""
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        start = 0
        while start < len(order):
            width = lengths[order[start]]  # the longest of this pass: every unit pads to it
            n = max(1, self.batch_tokens // width)
            if self.batch_size:
                n = min(n, self.batch_size)
            yield order[start:start + n]
            start += n

    def _padded(self, units: list, lengths: list[int], idx: list[int]):
        """The units `idx` (longest first) as one batch on the device: token ids right-padded
        with the tokenizer's pad id (0 without one) and the attention mask, both int64."""
        import torch

        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        width = lengths[idx[0]]
        ids = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for r, u in enumerate(idx):
            ids[r, :lengths[u]] = torch.tensor(units[u], dtype=torch.long)
            mask[r, :lengths[u]] = 1
        return ids.to(self.device), mask.to(self.device)

    def _run(self, window: _Window) -> np.ndarray:
        """float64 [rows, num_outputs]: each row's aggregated unit outputs (NaN for rows without units)."""
        import torch

        k = self.num_outputs
        out = np.full((window.rows, k), np.nan, dtype=np.float64)
        if not window.units:
            return out
        lengths = [len(u) for u in window.units]
        unit_values = np.empty((len(window.units), k), dtype=np.float64)
        with torch.inference_mode():
            for idx in self._batches(lengths):
                ids, mask = self._padded(window.units, lengths, idx)
                result = self.forward(ids, mask)
                unit_values[idx] = result.float().cpu().numpy().reshape(len(idx), k)
        return _aggregate(unit_values, window.owner, window.weight, window.rows, self.aggregate, out)


def _nonempty(texts: list) -> tuple[dict[int, str], list[int]]:
    """The positions of `texts` that are empty or blank, each with the reason "empty", and the
    positions of the others, in order."""
    failed: dict[int, str] = {}
    todo = []
    for i, t in enumerate(texts):
        if not t or not t.strip():
            failed[i] = "empty"
        else:
            todo.append(i)
    return failed, todo


def _aggregate(values: np.ndarray, owner: np.ndarray, weight: np.ndarray, rows: int, how: str,
               out: np.ndarray) -> np.ndarray:
    """Each row's value from its units': mean, token-weighted mean or max (rows without units stay NaN)."""
    has = np.bincount(owner, minlength=rows) > 0
    if how == "max":
        agg = np.full_like(out, -np.inf)
        np.maximum.at(agg, owner, values)
    else:
        w = weight if how == "token_mean" else np.ones_like(weight)
        total = np.zeros_like(out)
        np.add.at(total, owner, values * w[:, None])
        norm = np.bincount(owner, weights=w, minlength=rows)
        agg = total / np.where(norm > 0, norm, 1.0)[:, None]
    out[has] = agg[has]
    return out


def scorer_counts(scorer: Scorer) -> Counter:
    """The scorer's counts of rows it could not score, by reason (empty when it keeps none)."""
    return getattr(scorer, "counts", None) or Counter()

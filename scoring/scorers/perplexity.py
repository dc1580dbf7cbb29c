"""Perplexity under a causal language model: `winnow score LAKE perplexity -p model=HUB_ID_OR_FOLDER`.

    perplexity       (float32)  exp(perplexity_nll)
    perplexity_nll   (float32)  the document's mean negative log-likelihood per predicted
                                token, in nats (token-weighted over its windows)

CCNet and RedPajama-V2 (`ccnet_perplexity`) and Data-Juicer's perplexity filter score a
document's perplexity under a language model (theirs a KenLM 5-gram model trained on
Wikipedia); here the model is any causal LM that transformers loads
(`AutoModelForCausalLM`: a hub id or a local folder), so a selection can keep the documents
a reference model finds likely (`WHERE perplexity < ...`, or `percentile(perplexity)`).

The rule is transformers' "Perplexity of fixed-length models" (the sliding-window recipe
of its documentation), per document:
- the text is tokenized with the tokenizer's leading special tokens (LLaMA's <s>; GPT-2
  has none) and no trailing ones;
- windows of `max_length` tokens start every `stride` tokens (0, stride, 2 stride, ...,
  until one reaches the end); each window predicts only the tokens after the previous
  window's end, the tokens before them being context, so every token but the first is
  predicted once, with at least max_length - stride tokens of context once the first
  window is passed (stride = max_length: disjoint windows, whose first tokens are then not
  predicted, as in that recipe);
- nll = the sum of -log p(token | the window's tokens before it) over the predicted
  tokens, divided by their number; perplexity = exp(nll). A document that fits in one
  window thus has exactly `model(input_ids, labels=input_ids).loss` as its nll.

A document with no token, or with one token and no leading special token (nothing to
predict), gets NaN, counted. Batching is the base's (scoring/model.py): windows sorted by
length and packed into forward passes of at most `batch_tokens` padded tokens, right
padding with the attention mask (a causal model's real positions do not see the pads).
The logits of a pass take batch_tokens x vocabulary x 4 bytes, hence a smaller default
budget than the raters'. On CUDA the model runs in bfloat16 (the base's rule); the loss is
computed in float32 from its logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pyarrow as pa

from winnow.scoring.model import MODEL_PARAMETERS, ModelScorer, _nonempty, _Window, offline
from winnow.scoring.scorer import Param

CPU_BATCH_TOKENS = 4096
CUDA_BATCH_TOKENS = 32768
MAX_LENGTH = 1024


def windows(length: int, max_length: int, stride: int) -> Iterator[tuple[int, int, int]]:
    """(begin, end, first) of each window over `length` tokens: it reads tokens [begin, end)
    and predicts tokens [first, end), those after the previous window's end (never token 0,
    which nothing precedes). A window that would predict nothing is left out."""
    previous = 0
    begin = 0
    while True:
        end = min(begin + max_length, length)
        first = max(previous, begin + 1)
        if end > first:
            yield begin, end, first
        previous = end
        if end >= length:
            return
        begin += stride


@dataclass
class _Windows(_Window):
    """The base's window of units, with each unit's first predicted position."""

    start: np.ndarray = None


class Perplexity(ModelScorer):
    name = "perplexity"
    version = "1"
    inputs = ("text",)
    default_max_length = MAX_LENGTH
    parameters = {
        "model": Param(str, None, "a causal LM: a Hugging Face hub id or a local folder", required=True),
        "revision": MODEL_PARAMETERS["revision"],
        "max_length": Param(int, None, f"tokens per window, leading special tokens included (default: {MAX_LENGTH}, "
                                       "capped at the model's positions and the tokenizer's model_max_length)",
                            minimum=2),
        "stride": Param(int, None, "tokens between the starts of two windows (default: max_length // 2; "
                                   "max_length: disjoint windows)", minimum=1),
        "batch_tokens": Param(int, None, f"padded tokens per forward pass (default: {CPU_BATCH_TOKENS} on CPU, "
                                         f"{CUDA_BATCH_TOKENS} on CUDA); the logits take batch_tokens x vocabulary "
                                         "x 4 bytes", minimum=1),
        "batch_size": MODEL_PARAMETERS["batch_size"],
        "column": Param(str, "perplexity", "the columns: COLUMN (the perplexity) and COLUMN_nll (nats per token)"),
    }

    def __init__(self, **params: Any):
        super().__init__(**params)
        if not self.param("column"):
            raise ValueError("column must not be empty")
        stride = self.param("stride")
        if stride is not None and self.param("max_length") is not None and stride > self.param("max_length"):
            raise ValueError(f"stride={stride} is over max_length={self.param('max_length')}: tokens would be skipped")
        self.stride = stride

    def param(self, name: str) -> Any:
        """A declared parameter's value; None for the base's parameters this scorer does not take
        (long_docs, aggregate: its windows are its own)."""
        return super().param(name) if name in self.parameters else None

    def check_config(self, config) -> None:
        """A ValueError unless transformers has a causal LM head for the model's type."""
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

        kind = getattr(config, "model_type", None)
        if kind not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
            raise ValueError(f"model {self.model_spec} is a {kind!r} model, which has no causal LM head in "
                             f"transformers (AutoModelForCausalLM)")

    def load_model(self, dtype):
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(self.model_spec, revision=self.revision,
                                                    local_files_only=offline(), dtype=dtype)

    @property
    def num_outputs(self) -> int:
        return 1

    def outputs(self) -> list[pa.Field]:
        column = self.param("column")
        return [pa.field(column, pa.float32()), pa.field(f"{column}_nll", pa.float32())]

    def setup(self, device: str = "cpu") -> None:
        super().setup(device)
        self.cap_max_length()
        positions = getattr(self.config, "max_position_embeddings", None) or getattr(self.config, "n_positions", None)
        if isinstance(positions, int) and positions > 0:
            self.max_length = min(self.max_length, positions)
        self.stride = min(self.param("stride") or max(1, self.max_length // 2), self.max_length)
        if self.param("batch_tokens") is None:
            self.batch_tokens = CUDA_BATCH_TOKENS if str(device).startswith("cuda") else CPU_BATCH_TOKENS

    def _window(self, batch: pa.RecordBatch) -> _Windows:
        texts = batch.column("text").to_pylist()
        failed, todo = _nonempty(texts)
        units, owner, weight, start = [], [], [], []
        for i, tokens in zip(todo, self._tokenize([texts[i] for i in todo])):
            if tokens is None:
                failed[i] = "untokenizable"
                continue
            if not tokens:
                failed[i] = "empty"
                continue
            sequence = self._prefix + tokens
            for begin, end, first in windows(len(sequence), self.max_length, self.stride):
                units.append(sequence[begin:end])
                owner.append(i)
                weight.append(end - first)
                start.append(first - begin)
            if not owner or owner[-1] != i:
                failed[i] = "one token"
        return _Windows(len(texts), units, np.asarray(owner, np.int64), np.asarray(weight, np.float64), failed,
                        np.asarray(start, np.int64))

    def _run(self, window: _Windows) -> np.ndarray:
        """float64 [rows, 1]: each row's mean negative log-likelihood over its predicted tokens."""
        import torch
        import torch.nn.functional as F

        out = np.full((window.rows, 1), np.nan)
        if not window.units:
            return out
        lengths = [len(u) for u in window.units]
        sums = np.zeros(len(window.units))
        with torch.inference_mode():
            for idx in self._batches(lengths):
                ids, mask = self._padded(window.units, lengths, idx)
                logits = self.model(input_ids=ids, attention_mask=mask, use_cache=False).logits
                for r, u in enumerate(idx):
                    s, n = int(window.start[u]), lengths[u]
                    sums[u] = F.cross_entropy(logits[r, s - 1:n - 1].float(), ids[r, s:n], reduction="sum").item()
        nll = np.bincount(window.owner, weights=sums, minlength=window.rows)
        tokens = np.bincount(window.owner, weights=window.weight, minlength=window.rows)
        has = tokens > 0
        out[has, 0] = nll[has] / tokens[has]
        return out

    def postprocess(self, values: np.ndarray):
        nll = values[:, 0]
        column = self.param("column")
        with np.errstate(over="ignore"):
            ppl = np.exp(nll)
        return {column: pa.array(ppl.astype(np.float32), pa.float32()),
                f"{column}_nll": pa.array(nll.astype(np.float32), pa.float32())}

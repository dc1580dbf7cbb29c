"""A Hugging Face sequence classifier as a rater: `winnow score LAKE hf-classifier
--param model=HuggingFaceFW/fineweb-edu-classifier --device cuda`.

    <column>          (float32)  a regression head (num_labels == 1): its raw logit;
                                 a classification head: the expected value over its labels,
                                 sum_i softmax(logits)_i * value_i, where value_i is the
                                 label's name when every id2label name is a number ("0",
                                 "1.5", ...), and otherwise its id i (0..n-1)
    <column>_<label>  (float32)  with per_label=true, one per label of a classification
                                 head: its softmax probability (they sum to 1)

Every classification head is read through a softmax over its labels, a multi-label one
(problem_type multi_label_classification) included.

Parameters:
    model       a local folder or a hub id (AutoModelForSequenceClassification + AutoTokenizer;
                local files only when HF_HUB_OFFLINE=1)
    column      the main column's name (default: the model's last path part in snake case,
                e.g. fineweb_edu_classifier)
    max_length  tokens per document, special tokens included; longer ones are truncated
                (default 512, capped at the tokenizer's model_max_length)
    per_label   also write one probability column per label (default false)
    batch_size  documents per forward pass (default 32)

Texts are sorted by length (longest first) so each forward pass pads little, then put back
in row order. Runs under torch.inference_mode, in bfloat16 on a CUDA device that supports
it (probabilities are computed in float32).
"""

from __future__ import annotations

import os
import re

import numpy as np
import pyarrow as pa

from winnow.lake.tokenizer import looks_like_path
from winnow.scoring.scorer import Param, Scorer


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_") or "x"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1"


class HFClassifier(Scorer):
    name = "hf-classifier"
    version = "1"
    inputs = ("text",)
    uses_model = True
    parameters = {
        "model": Param(str, None, "a local folder or a Hugging Face hub id (a sequence classifier)", required=True),
        "column": Param(str, None, "the main column's name (default: the model's last path part in snake case)"),
        "max_length": Param(int, 512, "tokens per document, special tokens included (capped at the tokenizer's)",
                            minimum=1),
        "per_label": Param(bool, False, "also write one probability column per label"),
        "batch_size": Param(int, 32, "documents per forward pass", minimum=1),
    }

    def __init__(self, **params):
        super().__init__(**params)
        self.model_spec = self.param("model")
        if looks_like_path(self.model_spec) and not os.path.isdir(self.model_spec):
            raise ValueError(f"model {self.model_spec}: no such folder (expected a model folder or a hub id)")
        last_part = self.model_spec.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
        self.column = self.param("column") or _snake(last_part)
        self.max_length = self.param("max_length")
        self.per_label = self.param("per_label")
        self.batch_size = self.param("batch_size")
        self._config = None
        self._model = self._tokenizer = None
        self.device = "cpu"

    @property
    def config(self):
        if self._config is None:
            from transformers import AutoConfig

            self._config = AutoConfig.from_pretrained(self.model_spec, local_files_only=_offline())
        return self._config

    @property
    def labels(self) -> list[str]:
        """Label names by id (a regression head has one)."""
        id2label = {int(k): v for k, v in (self.config.id2label or {}).items()}
        return [str(id2label.get(i, i)) for i in range(self.config.num_labels)]

    @property
    def is_regression(self) -> bool:
        return self.config.num_labels == 1

    @property
    def label_values(self) -> np.ndarray:
        """The value each label stands for: its numeric name, or else its id."""
        try:
            return np.array([float(x) for x in self.labels], dtype=np.float64)
        except ValueError:
            return np.arange(len(self.labels), dtype=np.float64)

    def label_column(self, label: str) -> str:
        return f"{self.column}_{_snake(label)}"

    def outputs(self) -> list[pa.Field]:
        fields = [pa.field(self.column, pa.float32())]
        if self.per_label and not self.is_regression:
            names = [self.label_column(label) for label in self.labels]
            if len(set(names)) != len(names):
                raise ValueError(f"hf-classifier: labels {self.labels} give clashing column names {names}")
            fields += [pa.field(n, pa.float32()) for n in names]
        return fields

    def setup(self, device: str = "cpu") -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        offline = _offline()
        tok = AutoTokenizer.from_pretrained(self.model_spec, local_files_only=offline)
        model = AutoModelForSequenceClassification.from_pretrained(self.model_spec, local_files_only=offline)
        if tok.pad_token is None:  # decoder-only classifiers (GPT-2 style) ship none
            tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tok.pad_token_id
        if str(device).startswith("cuda") and torch.cuda.is_bf16_supported():
            model.to(torch.bfloat16)
        self._model, self._tokenizer, self.device = model.to(device).eval(), tok, device
        self._config = model.config

    @property
    def effective_max_length(self) -> int:
        cap = getattr(self._tokenizer, "model_max_length", None)
        return min(self.max_length, cap) if isinstance(cap, int) and 0 < cap < 1_000_000 else self.max_length

    def logits(self, texts: list[str]) -> np.ndarray:
        """float32 logits of each text, in the given order (batched longest first)."""
        import torch

        if self._model is None:
            self.setup("cpu")
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out = np.empty((len(texts), self.config.num_labels), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                enc = self._tokenizer([texts[i] for i in idx], truncation=True, max_length=self.effective_max_length,
                                      padding=True, return_tensors="pt").to(self.device)
                out[idx] = self._model(**enc).logits.float().cpu().numpy()
        return out

    def score(self, batch: pa.RecordBatch):
        texts = [t or "" for t in batch.column("text").to_pylist()]
        logits = self.logits(texts) if texts else np.empty((0, self.config.num_labels), np.float32)
        if self.is_regression:
            return {self.column: pa.array(logits[:, 0], pa.float32())}
        z = logits.astype(np.float64)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        cols = {self.column: pa.array((p @ self.label_values).astype(np.float32), pa.float32())}
        if self.per_label:
            for i, label in enumerate(self.labels):
                cols[self.label_column(label)] = pa.array(p[:, i].astype(np.float32), pa.float32())
        return cols

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

Also the ModelScorer parameters (scoring/model.py): revision, long_docs (truncate, or
chunks averaged by `aggregate`), batch_tokens, batch_size. An empty document gets NaN.
Loading, batching by a token budget, bfloat16 on CUDA, the fingerprint: the base's.
Probabilities are computed in float64 from the logits.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from winnow.scoring.model import MODEL_PARAMETERS, ModelScorer
from winnow.scoring.scorer import Param


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_") or "x"


class HFClassifier(ModelScorer):
    name = "hf-classifier"
    version = "1"
    inputs = ("text",)
    parameters = {
        **MODEL_PARAMETERS,
        "model": Param(str, None, "a local folder or a Hugging Face hub id (a sequence classifier)", required=True),
        "column": Param(str, None, "the main column's name (default: the model's last path part in snake case)"),
        "max_length": Param(int, 512, "tokens per document, special tokens included (capped at the tokenizer's)",
                            minimum=4),
        "per_label": Param(bool, False, "also write one probability column per label"),
    }

    def __init__(self, **params):
        super().__init__(**params)
        last_part = self.model_spec.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
        self.column = self.param("column") or _snake(last_part)
        self.per_label = self.param("per_label")

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
        super().setup(device)
        self.cap_max_length()

    def postprocess(self, values: np.ndarray):
        if self.is_regression:
            return {self.column: pa.array(values[:, 0], pa.float32())}
        p = np.exp(values - values.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        cols = {self.column: pa.array((p @ self.label_values).astype(np.float32), pa.float32())}
        if self.per_label:
            for i, label in enumerate(self.labels):
                cols[self.label_column(label)] = pa.array(p[:, i].astype(np.float32), pa.float32())
        return cols

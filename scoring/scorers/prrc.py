"""Meta-rater's four PRRC raters: `winnow score LAKE prrc --device cuda`.

    prrc_professionalism, prrc_readability, prrc_reasoning, prrc_cleanliness  (float32)
        each dimension's expected class, sum_i i * softmax(logits)_i over classes 0..5:
        a continuous 0-5 score (NaN for a document not scored)

The rules followed:
- opendatalab/Meta-rater, src/train_singletask.py and src/test_singletask.py: each rater is
  `AutoModelForSequenceClassification(ModernBERT-base, num_labels=6)`, one per dimension,
  trained on the integer labels 0..5; documents are tokenized with `truncation=True,
  max_length=...` (the first tokens kept; 2,048 in training, 4,096 in scripts/prrc.sh's test).
- the raters' model cards (opendatalab/meta-rater-{dimension}-rating on the hub): "Context
  Window: 4,096 tokens", usage `tokenizer(text, truncation=True, max_length=4096)`, "Score
  Range: 0-5 (continuous)". The repository only ever takes the argmax for its accuracy and F1;
  a continuous score from a 6-class head is the expectation over the classes, as
  OpenDataArena/OpenDataArena-Tool computes it for these models
  (data_scorer/model_based/scorers/ProfessionalismScorer.py: softmax, then sum of class
  index x probability). So: max_length 4096 (capped at the tokenizer's model_max_length),
  truncate, expectation.

The four models are read on one batch: one tokenizer (the professionalism model's; setup
checks that the other three have the same vocabulary), one forward pass per model, their
logits side by side ([units, 4 x 6]); postprocess splits them. A head without 6 labels is
refused before anything is written. The fingerprint holds the four models' identities.

Parameters:
    model            a folder holding the four model folders, named as the hub ids' last parts:
                     meta-rater-professionalism-rating, meta-rater-readability-rating,
                     meta-rater-reasoning-rating, meta-rater-cleanliness-rating
    professionalism, readability, reasoning, cleanliness
                     one dimension's model (a folder or hub id), over `model`'s
    (default: the hub ids opendatalab/meta-rater-<dimension>-rating)
    and the ModelScorer ones (scoring/model.py): revision (for every hub id), max_length
    (default 4096), long_docs (truncate; or chunks, combined by `aggregate`), batch_tokens,
    batch_size. An empty document gets NaN in every column. With long_docs=chunks the pieces'
    logits are combined by `aggregate` before the softmax (Meta-rater itself truncates).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa

from winnow.lake.tokenizer import looks_like_path
from winnow.scoring.model import MODEL_PARAMETERS, ModelScorer, model_identity, offline
from winnow.scoring.scorer import Param

DIMENSIONS = ("professionalism", "readability", "reasoning", "cleanliness")
NUM_LABELS = 6  # classes 0..5 (Meta-rater's NUM_LABELS)
MAX_LENGTH = 4096
HUB_ORG = "opendatalab"


def folder_name(dimension: str) -> str:
    """The last part of a dimension's hub id, which names its folder under `model`."""
    return f"meta-rater-{dimension}-rating"


def expected_class(logits: np.ndarray) -> np.ndarray:
    """sum_i i * softmax(logits)_i per row of [rows, classes] logits (float64; NaN rows stay NaN)."""
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return p @ np.arange(logits.shape[1], dtype=np.float64)


class PRRC(ModelScorer):
    name = "prrc"
    version = "1"
    inputs = ("text",)
    default_max_length = MAX_LENGTH
    parameters = {
        **MODEL_PARAMETERS,
        "model": Param(str, None, "a folder holding the four model folders meta-rater-<dimension>-rating "
                                  "(default: the opendatalab hub ids)"),
        **{d: Param(str, None, f"the {d} model: a folder or hub id (default: under `model`, "
                               f"else {HUB_ORG}/{folder_name(d)})") for d in DIMENSIONS},
        "max_length": Param(int, MAX_LENGTH, "tokens per document, special tokens included (capped at the "
                                             "tokenizer's model_max_length)", minimum=4),
    }

    def __init__(self, **params: Any):
        super().__init__(**params)
        root = self.param("model")
        if root is not None and not os.path.isdir(root):
            raise ValueError(f"model {root}: not a folder; prrc's model is a folder holding the four model folders "
                             f"({', '.join(folder_name(d) for d in DIMENSIONS)}), or give each dimension's "
                             f"model ({'=, '.join(DIMENSIONS)}=)")
        self.specs: dict[str, str] = {}
        for d in DIMENSIONS:
            spec = self.param(d) or (os.path.join(root, folder_name(d)) if root else f"{HUB_ORG}/{folder_name(d)}")
            if not self.param(d) and root and not os.path.isdir(spec):
                raise ValueError(f"model folder {root} holds no {folder_name(d)} folder (the {d} model); "
                                 f"add it or give -p {d}=FOLDER_OR_HUB_ID")
            if self.param(d) and looks_like_path(spec) and not os.path.isdir(spec):
                raise ValueError(f"{d}={spec}: no such folder (expected a model folder or a hub id)")
            self.specs[d] = spec
        self.model_spec = self.specs[DIMENSIONS[0]]  # the tokenizer's, and the base's one model
        self._configs: dict[str, Any] | None = None

    def default_model_spec(self) -> str:
        return f"{HUB_ORG}/{folder_name(DIMENSIONS[0])}"

    # ------------------------------------------------------------ four models, one batch

    @property
    def configs(self) -> dict[str, Any]:
        """Each dimension's model configuration, read without weights."""
        if self._configs is None:
            from transformers import AutoConfig

            self._configs = {d: AutoConfig.from_pretrained(spec, revision=self.revision, local_files_only=offline())
                             for d, spec in self.specs.items()}
        return self._configs

    def load_config(self):
        return self.configs[DIMENSIONS[0]]

    def check_config(self, config) -> None:
        for d in DIMENSIONS:
            n = self.configs[d].num_labels
            if n != NUM_LABELS:
                raise ValueError(f"the {d} model {self.specs[d]} has {n} labels; prrc reads Meta-rater's "
                                 f"{NUM_LABELS}-class heads (classes 0..5)")

    def fingerprint(self) -> dict[str, Any]:
        """The four models' identities, by dimension, once each is found and is a 6-class head."""
        identities = {d: model_identity(spec, self.revision) for d, spec in self.specs.items()}
        self.check_config(None)
        return identities

    def load_model(self, dtype):
        import torch
        from transformers import AutoModelForSequenceClassification

        return torch.nn.ModuleList([
            AutoModelForSequenceClassification.from_pretrained(spec, revision=self.revision,
                                                               local_files_only=offline(), dtype=dtype)
            for spec in self.specs.values()])

    @property
    def num_outputs(self) -> int:
        return NUM_LABELS * len(DIMENSIONS)

    def setup(self, device: str = "cpu") -> None:
        super().setup(device)
        self._check_tokenizers()
        self.cap_max_length()

    def _check_tokenizers(self) -> None:
        """A ValueError unless the four models' tokenizers have one vocabulary (one tokenization serves all)."""
        from transformers import AutoTokenizer

        vocab = self.tokenizer.get_vocab()
        for d in DIMENSIONS[1:]:
            if self.specs[d] == self.model_spec:
                continue
            other = AutoTokenizer.from_pretrained(self.specs[d], revision=self.revision, local_files_only=offline())
            if other.get_vocab() != vocab or other.all_special_ids != self.tokenizer.all_special_ids:
                raise ValueError(f"the {d} model's tokenizer ({self.specs[d]}) differs from the "
                                 f"{DIMENSIONS[0]} model's ({self.model_spec}): prrc tokenizes once for all four")

    def forward(self, input_ids, attention_mask):
        import torch

        return torch.cat([m(input_ids=input_ids, attention_mask=attention_mask).logits for m in self.model], dim=1)

    def outputs(self) -> list[pa.Field]:
        return [pa.field(f"prrc_{d}", pa.float32()) for d in DIMENSIONS]

    def postprocess(self, values: np.ndarray):
        logits = values.reshape(len(values), len(DIMENSIONS), NUM_LABELS)
        return {f"prrc_{d}": pa.array(expected_class(logits[:, i]).astype(np.float32), pa.float32())
                for i, d in enumerate(DIMENSIONS)}

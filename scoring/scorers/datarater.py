"""BAAI's IndustryCorpus2 DataRater: `winnow score LAKE datarater --device cuda`.

    datarater  (float32)  the regression head's raw output: a 0-5 quality score by the
                          model card's definition (not clipped)

The rule followed is the model card of BAAI/IndustryCorpus2_DataRater (README.md on the hub):
an XLM-RoBERTa sequence classifier fine-tuned from BAAI/bge-m3 with one regression output,
read as is (as users of the card do: `model(**inputs).logits[0].item()` in
open-sciencelab/GraphGen, graphgen/models/evaluate/reward_evaluator.py). The card's
thresholds, "3分以上是相对高质量数据,4分以上绝对高质量数据": >= 3 is relatively high quality,
>= 4 absolutely high quality (sql/examples/datarater.sql).
Documents are truncated at 2,048 tokens, special tokens included (the max length winnow's
issue 10 gives; the card text reachable here states none), capped at the tokenizer's
model_max_length (8,192 for bge-m3's). A head with another number of outputs is refused
before anything is written.

Parameters: the ModelScorer ones (scoring/model.py): model (default
BAAI/IndustryCorpus2_DataRater), revision, max_length (default 2048), long_docs (truncate;
or chunks, averaged by `aggregate`), batch_tokens, batch_size. An empty document gets NaN.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from winnow.scoring.model import MODEL_PARAMETERS, ModelScorer
from winnow.scoring.scorer import Param

MAX_LENGTH = 2048


class DataRater(ModelScorer):
    name = "datarater"
    version = "1"
    inputs = ("text",)
    default_model = "BAAI/IndustryCorpus2_DataRater"
    default_max_length = MAX_LENGTH
    parameters = {
        **MODEL_PARAMETERS,
        "model": Param(str, None, "a local folder or hub id of a 1-output regression classifier "
                                  "(default: BAAI/IndustryCorpus2_DataRater)"),
        "max_length": Param(int, MAX_LENGTH, "tokens per document, special tokens included (capped at the "
                                             "tokenizer's model_max_length)", minimum=4),
    }

    def check_config(self, config) -> None:
        if config.num_labels != 1:
            raise ValueError(f"model {self.model_spec} has {config.num_labels} labels; datarater reads a "
                             "regression head with 1 output (BAAI/IndustryCorpus2_DataRater)")

    def outputs(self) -> list[pa.Field]:
        return [pa.field("datarater", pa.float32())]

    def setup(self, device: str = "cpu") -> None:
        super().setup(device)
        self.cap_max_length()

    def postprocess(self, values: np.ndarray):
        return {"datarater": pa.array(values[:, 0].astype(np.float32), pa.float32())}

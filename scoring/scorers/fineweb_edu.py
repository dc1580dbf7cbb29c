"""FineWeb-Edu's educational-value classifier: `winnow score LAKE fineweb-edu --device cuda`.

    fineweb_edu      (float32)  the regression head's raw logit (about 0..5; not clipped)
    fineweb_edu_int  (int8)     int(round(max(0, min(fineweb_edu, 5)))): 0..5, with Python's
                                round (half to even, as numpy's rint); -1 where the document
                                was not scored (empty, untokenizable), since an int column has
                                no NaN and a null marks a row not scored yet. `>= 3` (FineWeb-
                                Edu's threshold) therefore never keeps an unscored row, where a
                                float NaN would: DuckDB orders NaN above every number.

The rule followed is huggingface/cosmopedia, classification/run_edu_bert.py (the script that
annotated FineWeb-Edu; run_fineweb_edu_bert.py is the same): `tokenizer(texts,
truncation=True)` with no max_length, that is the tokenizer's model_max_length (512 for
HuggingFaceFW/fineweb-edu-classifier, a Snowflake arctic-embed-m BERT), the first tokens
kept; `logits.squeeze(-1).float()` is the score; `int_score = int(round(max(0, min(score,
5))))`. The head is a 1-label regression (classification/train_edu_bert.py: num_labels=1),
so another head shape is refused before anything is written.

Parameters: the ModelScorer ones (scoring/model.py): model (default
HuggingFaceFW/fineweb-edu-classifier), revision, max_length (default: the tokenizer's
model_max_length, 512 when it sets none), long_docs (truncate, the reference's; or chunks,
averaged by `aggregate`), batch_tokens, batch_size.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from winnow.scoring.model import MODEL_PARAMETERS, ModelScorer
from winnow.scoring.scorer import Param

NOT_SCORED = -1  # fineweb_edu_int of a row the model did not score


def int_score(score: np.ndarray) -> np.ndarray:
    """int8 int(round(max(0, min(score, 5)))) of each score (half to even, as Python's round);
    NOT_SCORED where the score is NaN."""
    out = np.full(score.shape, NOT_SCORED, dtype=np.int8)
    ok = ~np.isnan(score)
    out[ok] = np.rint(np.clip(score[ok], 0.0, 5.0)).astype(np.int8)
    return out


class FineWebEdu(ModelScorer):
    name = "fineweb-edu"
    version = "1"
    inputs = ("text",)
    default_model = "HuggingFaceFW/fineweb-edu-classifier"
    parameters = {
        **MODEL_PARAMETERS,
        "model": Param(str, None, "a local folder or hub id of a 1-label regression classifier "
                                  "(default: HuggingFaceFW/fineweb-edu-classifier)"),
        "max_length": Param(int, None, "tokens per document, special tokens included (default: the tokenizer's "
                                       "model_max_length, as truncation=True; 512 when it sets none)", minimum=4),
    }

    def check_config(self, config) -> None:
        if config.num_labels != 1:
            raise ValueError(f"model {self.model_spec} has {config.num_labels} labels; fineweb-edu reads a "
                             "regression head with 1 output (HuggingFaceFW/fineweb-edu-classifier)")

    def outputs(self) -> list[pa.Field]:
        return [pa.field("fineweb_edu", pa.float32()), pa.field("fineweb_edu_int", pa.int8())]

    def setup(self, device: str = "cpu") -> None:
        super().setup(device)
        if not self.param("max_length"):  # the reference's truncation=True: the tokenizer's own limit
            self.max_length = self.tokenizer_limit() or 512

    def postprocess(self, values: np.ndarray):
        score = values[:, 0].astype(np.float32)
        return {"fineweb_edu": pa.array(score, pa.float32()),
                "fineweb_edu_int": pa.array(int_score(score.astype(np.float64)), pa.int8())}

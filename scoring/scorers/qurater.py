"""QuRating's quality ratings: `winnow score LAKE qurater --device cuda` (princeton-nlp/QuRater-1.3B).

    qurating_writing_style        (float32)  logit 0 of the QuRater head
    qurating_required_expertise   (float32)  logit 1
    qurating_facts_and_trivia     (float32)  logit 2
    qurating_educational_value    (float32)  logit 3

Each value is the document's token-weighted mean of its 512-token windows' logits: the
`<criterion>_average` column of QuRating's annotated datasets. The ratings are unnormalized
(QuRating's select_subset.py z-normalizes them at selection time: `zscore()` in SQL). A
document with no tokens gets NaN in all four columns and is counted.

The rule followed is princeton-nlp/QuRating `data_tools/qurater_annotate.py` (TokenizeAndChunk,
ModelAnnotator) with its model class `modeling/modeling_flash_llama.py`
(LlamaForSequenceClassification), and the model card of princeton-nlp/QuRater-1.3B:

- the text is tokenized with `add_special_tokens=False`, `truncation=False`: no <s>, no </s>;
- its ids are split into consecutive windows of 512 tokens (`--tokens 512`), the last one shorter;
- each window is scored alone (right padding, attention mask): a LLaMA decoder whose linear
  head `score` (hidden -> 4, no bias) reads the last real token of the window
  (`sequence_lengths = (input_ids != pad_token_id).sum(-1) - 1`, with pad id 0, which the
  tokenizer never produces in a text);
- the head's outputs are in the order of `--labels writing_style required_expertise
  facts_and_trivia educational_value` (README: "the order of these labels ... corresponds to
  their head index"; the card: "Logit 0: Writing Style ... Logit 3: Educational Value");
- the document's value is `np.average(window_logits, weights=window_token_counts)`.

The checkpoint is a stock `LlamaForSequenceClassification` (same weight names: `model.*`,
`score.weight`), so it loads with transformers' own class, without flash-attn. Only the
pooling is done here: the last position of the attention mask, whatever pad id the
tokenizer and config name (the base pads with eos when the tokenizer has no pad token, and
transformers' head would then read a pad position).

Parameters: the ModelScorer's (scoring/model.py): model (default princeton-nlp/QuRater-1.3B),
revision, max_length (window tokens, default 512), long_docs (default chunks), aggregate
(default token_mean), batch_tokens, batch_size. On CUDA the model runs in bfloat16, as
QuRating's annotator does.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from winnow.scoring.model import MODEL_PARAMETERS, ModelScorer
from winnow.scoring.scorer import Param

CRITERIA = ("writing_style", "required_expertise", "facts_and_trivia", "educational_value")  # head order


class QuRater(ModelScorer):
    name = "qurater"
    version = "1"
    inputs = ("text",)
    default_model = "princeton-nlp/QuRater-1.3B"
    default_max_length = 512
    default_long_docs = "chunks"
    default_aggregate = "token_mean"
    add_special_tokens = False  # QuRating tokenizes with add_special_tokens=False: no <s>, no </s>
    parameters = {
        **MODEL_PARAMETERS,
        "model": Param(str, None, "a hub id or a local folder of a QuRater (default: princeton-nlp/QuRater-1.3B)"),
        "max_length": Param(int, None, "tokens per window (default: 512, QuRating's)", minimum=1),
        "long_docs": Param(str, None, "chunks (default: every window, QuRating's) or truncate (the first one)"),
        "aggregate": Param(str, None, "the windows' token_mean (default, QuRating's), mean or max"),
    }

    def check_config(self, config) -> None:
        """A ValueError unless the model is a LLaMA sequence classifier with QuRating's four outputs."""
        if getattr(config, "model_type", None) != "llama":
            raise ValueError(f"model {self.model_spec} is a {getattr(config, 'model_type', '?')!r} model; "
                             f"QuRater is a LLaMA sequence classifier (model_type 'llama')")
        if config.num_labels != len(CRITERIA):
            raise ValueError(f"model {self.model_spec} has {config.num_labels} outputs; QuRater has "
                             f"{len(CRITERIA)} ({', '.join(CRITERIA)})")

    def outputs(self) -> list[pa.Field]:
        return [pa.field(f"qurating_{c}", pa.float32()) for c in CRITERIA]

    def forward(self, input_ids, attention_mask):
        """The head's 4 outputs at each window's last real token, a [windows, 4] tensor."""
        import torch

        hidden = self.model.base_model(input_ids=input_ids, attention_mask=attention_mask,
                                       use_cache=False).last_hidden_state
        last = attention_mask.sum(dim=1) - 1
        return self.model.score(hidden[torch.arange(hidden.shape[0], device=hidden.device), last])

    def postprocess(self, values: np.ndarray):
        """The four columns, each a float32 array of the aggregated logit of its head."""
        return {f"qurating_{c}": pa.array(values[:, i].astype(np.float32), pa.float32())
                for i, c in enumerate(CRITERIA)}

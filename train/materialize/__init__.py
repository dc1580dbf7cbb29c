"""winnow.train.materialize: a selection's documents, tokenized and packed into shards.

`job` runs a materialization (on any engine), `encode` is its unit of work, `shards` the
self-describing token-shard format, `megatron` and `datatrove` the same shards in those
trainers' formats, `hf` a selection as a Hugging Face dataset with its card, `bpe` the exact
fast encoder of byte-level BPE files.
"""

from winnow.lake import lazy

OUTPUT_FORMATS = ("tokens", "megatron", "datatrove", "parquet", "jsonl", "hf")  # what `--format` writes

# name -> its module, imported when the name is first read (lake/lazy.py)
__getattr__, __dir__ = lazy.names(__name__, {
    "MaterializeError": "winnow.train.materialize.job",
    "MaterializeResult": "winnow.train.materialize.job",
    "MaterializeUsageError": "winnow.train.materialize.job",
    "materialize": "winnow.train.materialize.job",
    "ShardError": "winnow.train.materialize.shards",
    "ShardUsageError": "winnow.train.materialize.shards",
})

__all__ = ["MaterializeError", "MaterializeResult", "MaterializeUsageError", "ShardError", "ShardUsageError",
           "materialize"]

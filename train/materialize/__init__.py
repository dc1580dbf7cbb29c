"""winnow.train.materialize: a selection's documents, tokenized and packed into shards.

`job` runs a materialization (on any engine), `encode` is its unit of work, `shards` the
self-describing token-shard format, `bpe` the exact fast encoder of byte-level BPE files.
"""

from winnow.train.materialize.job import MaterializeError, MaterializeResult, MaterializeUsageError, materialize
from winnow.train.materialize.shards import ShardError, ShardUsageError

__all__ = ["MaterializeError", "MaterializeResult", "MaterializeUsageError", "ShardError", "ShardUsageError",
           "materialize"]

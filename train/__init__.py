"""winnow.train: from a selection to training.

`materialize` writes a selection as token shards (the training format, `shards`), and
`loader` feeds them to torchtitan; `launch` builds the torchrun command of `winnow train`,
`config_registry` holds the model flavors and `cpu` the CPU smoke path. Importing this
package, `materialize` or `shards` imports no torch; `loader`, `cpu` and `config_registry` do.
"""

from .materialize import MaterializeError, MaterializeReport, MaterializeUsageError, materialize
from .shards import ShardError, ShardUsageError

__all__ = ["MaterializeError", "MaterializeReport", "MaterializeUsageError", "ShardError", "ShardUsageError",
           "materialize"]

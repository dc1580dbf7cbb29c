"""winnow.lake: the core. Lance datasets (documents, rejects) and the catalog beside them,
the error family every package raises (`errors`) and tokenizer loading (`tokenizer`), which
both scoring and training use.

Imports none of winnow's other packages; they all build on this one.
"""

from winnow.lake import lazy
from winnow.lake.errors import UsageError, WinnowError

# name -> its module, imported when the name is first read (lazy.py): not Lance until a lake is used
__getattr__, __dir__ = lazy.names(__name__, {
    "LakeInfo": "winnow.lake.info",
    "describe": "winnow.lake.info",
    "Lake": "winnow.lake.lake",
    "LakeError": "winnow.lake.lake",
    "LakeNotFound": "winnow.lake.lake",
    "storage_options_from_env": "winnow.lake.lake",
    "WINNOW_VERSION": "winnow.lake.version",  # importlib.metadata: ~30 ms
}, submodules=("catalog", "schema"))

__all__ = [
    "Lake",
    "LakeError",
    "LakeNotFound",
    "UsageError",
    "WinnowError",
    "LakeInfo",
    "WINNOW_VERSION",
    "catalog",
    "describe",
    "schema",
    "storage_options_from_env",
]

"""winnow.lake: the core. Lance datasets (documents, rejects) and the catalog beside them,
the error family every package raises (`errors`) and tokenizer loading (`tokenizer`), which
both scoring and training use.

Imports none of winnow's other packages; they all build on this one.
"""

from winnow.lake import catalog, schema
from winnow.lake.errors import UsageError, WinnowError
from winnow.lake.info import LakeInfo, describe
from winnow.lake.lake import Lake, LakeError, LakeNotFound, storage_options_from_env
from winnow.lake.version import WINNOW_VERSION

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

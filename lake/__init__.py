"""winnow.lake: the core. Lance datasets (documents, rejects) and the catalog beside them,
the error family every package raises (`errors`) and tokenizer loading (`tokenizer`), which
both scoring and training use.

Imports none of winnow's other packages; they all build on this one.
"""

from . import catalog, schema
from .errors import UsageError, WinnowError
from .info import LakeInfo, describe
from .lake import Lake, LakeError, LakeNotFound, storage_options_from_env
from .version import WINNOW_VERSION

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

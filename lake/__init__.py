"""winnow.lake: the core. Lance datasets (documents, rejects) and the catalog beside them.

Imports none of winnow's other packages; they all build on this one.
"""

from . import catalog, schema
from .info import LakeInfo, describe
from .lake import Lake, LakeError, storage_options_from_env
from .version import WINNOW_VERSION

__all__ = [
    "Lake",
    "LakeError",
    "LakeInfo",
    "WINNOW_VERSION",
    "catalog",
    "describe",
    "schema",
    "storage_options_from_env",
]

"""winnow.sql: DuckDB over the lake, the selection macro library, named selections.

The macros live in .sql files beside this one (normalize, random, budget, sample,
domains) and are loaded into every connection winnow opens.
"""

from .connection import MACRO_FILES, connect, load_macros, macros, query
from .preview import Diff, Preview, diff, preview
from .selections import Selection, SelectionError, all_selections, create, documents, evaluate, get

__all__ = [
    "MACRO_FILES",
    "Diff",
    "Preview",
    "Selection",
    "SelectionError",
    "all_selections",
    "connect",
    "create",
    "diff",
    "documents",
    "evaluate",
    "get",
    "load_macros",
    "macros",
    "preview",
    "query",
]

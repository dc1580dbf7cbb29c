"""winnow.sql: DuckDB over the lake, the selection macro library, named selections.

Every connection registers the lake's tables (`docs`, `rejects`, `ingests`, `metrics`,
`selections`, `runs`, `column_stats`: TABLES) and loads the macros in the .sql files beside this one (normalize,
random, budget, sample, domains). Its file access is DuckDB's sandbox, locked, and never
reaches inside the lake (see `connection`).
"""

from winnow.sql.connection import (
    MACRO_FILES,
    TABLES,
    FileAccessError,
    Session,
    connect,
    load_macros,
    macros,
    named_paths,
    query,
)
from winnow.sql.preview import Diff, Preview, diff, preview
from winnow.sql.selections import (
    SEED_MAX,
    Selection,
    SelectionError,
    SelectionUsageError,
    all_selections,
    check_seed,
    create,
    documents,
    evaluate,
    get,
)

__all__ = [
    "MACRO_FILES",
    "SEED_MAX",
    "TABLES",
    "Diff",
    "FileAccessError",
    "Preview",
    "Selection",
    "SelectionError",
    "SelectionUsageError",
    "Session",
    "all_selections",
    "check_seed",
    "connect",
    "create",
    "diff",
    "documents",
    "evaluate",
    "get",
    "load_macros",
    "macros",
    "named_paths",
    "preview",
    "query",
]

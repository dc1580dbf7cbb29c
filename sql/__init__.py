"""winnow.sql: DuckDB over the lake, the selection macro library, named selections.

Every connection registers the lake's tables (`docs`, `rejects`, `ingests`, `metrics`,
`selections`, `runs`, `column_stats`: TABLES) and loads the macros in the .sql files beside this one (normalize,
random, budget, sample, domains). Its file access is DuckDB's sandbox, locked, and never
reaches inside the lake (see `connection`).
"""

from winnow.lake import lazy

# The tables every connection registers, in the order the help texts list them.
TABLES = ("docs", "rejects", "ingests", "metrics", "selections", "runs", "column_stats")

# name -> its module, imported when the name is first read (lake/lazy.py): not DuckDB until a query
__getattr__, __dir__ = lazy.names(__name__, {
    "MACRO_FILES": "winnow.sql.connection",
    "FileAccessError": "winnow.sql.connection",
    "Session": "winnow.sql.connection",
    "connect": "winnow.sql.connection",
    "load_macros": "winnow.sql.connection",
    "macros": "winnow.sql.connection",
    "named_paths": "winnow.sql.connection",
    "query": "winnow.sql.connection",
    "Diff": "winnow.sql.preview",
    "Preview": "winnow.sql.preview",
    "diff": "winnow.sql.preview",
    "preview": "winnow.sql.preview",
    "SEED_MAX": "winnow.sql.selections",
    "Selection": "winnow.sql.selections",
    "SelectionError": "winnow.sql.selections",
    "SelectionUsageError": "winnow.sql.selections",
    "all_selections": "winnow.sql.selections",
    "check_seed": "winnow.sql.selections",
    "create": "winnow.sql.selections",
    "documents": "winnow.sql.selections",
    "evaluate": "winnow.sql.selections",
    "get": "winnow.sql.selections",
})

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

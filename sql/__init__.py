"""winnow.sql: DuckDB over the lake. Selection macros and named selections build on it."""

from .connection import connect, query

__all__ = ["connect", "query"]

"""Query results as data frames that share Arrow's buffers instead of copying them:
`winnow.query(..., to="pandas")` gives pandas columns backed by the Arrow arrays
(`pd.ArrowDtype`: no copy, nulls kept as nulls), `to="polars"` a polars frame through
`polars.from_arrow` (numbers and booleans shared; polars copies text into its own string
layout). Neither library is a dependency of winnow: a missing one is a UsageError of one line
with its install command.

    >>> df = winnow.query(lake, "SELECT source, n_tokens FROM docs", to="pandas")
    >>> df.groupby("source")["n_tokens"].sum()
    >>> winnow.query(lake, "SELECT * FROM docs LIMIT 5", to="polars")
"""

from __future__ import annotations

import importlib

import pyarrow as pa

from winnow.lake.errors import UsageError

FORMATS = ("arrow", "pandas", "polars")


def _module(name: str, to: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        raise UsageError(f"to={to!r} needs {name}, which is not installed: pip install {name}") from None


def convert(table: pa.Table, to: str = "arrow"):
    """`table` as `to` asks: "arrow" (itself), "pandas" (a DataFrame of pd.ArrowDtype
    columns over the same buffers) or "polars" (`polars.from_arrow`, not rechunked)."""
    if to == "arrow":
        return table
    if to == "pandas":
        pd = _module("pandas", to)
        return table.to_pandas(types_mapper=pd.ArrowDtype)
    if to == "polars":
        return _module("polars", to).from_arrow(table, rechunk=False)
    raise UsageError(f"to={to!r}: use one of {', '.join(FORMATS)}")

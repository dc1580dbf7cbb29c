"""A package's names, imported when first used (PEP 562): one table of name -> the module
that defines it, and the package's `__getattr__` made from it. `import winnow`, and so
`winnow --help`, then loads none of Lance, DuckDB, pyarrow or numpy: a name's module is
imported the first time the name is read (`winnow.Lake`, `from winnow.lake import Lake`).

    __getattr__, __dir__ = names(__name__, {"Lake": "winnow.lake.lake"}, submodules=("catalog",))

`submodules` are the package's modules that read as its attributes (`winnow.lake.catalog`
after `import winnow.lake`), as they did when the package imported them itself. A value is
kept in the package once read, so the table is consulted once per name.

A name that is also its module's name (`winnow.sql.preview`, the function of the module
`winnow.sql.preview`) is the name, as before, once any name of that module has been read
through the package; until then, an `import winnow.sql.preview` elsewhere leaves the module
there (Python sets a package's attribute to each submodule it imports).
"""

from __future__ import annotations

import importlib
import sys


def names(package: str, table: dict[str, str], submodules: tuple[str, ...] = ()):
    """The `__getattr__` and `__dir__` of `package`, which offers the names of `table` (each
    read from its module) and its `submodules`."""

    def __getattr__(name: str):
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")  # which sets it in the package
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(table[name])
        own = module.__name__.rpartition(".")[2]
        if table.get(own) == module.__name__:  # `preview` of the module `preview`: the name, not the module
            setattr(sys.modules[package], own, getattr(module, own))
        value = getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(table) | set(submodules))

    return __getattr__, __dir__

"""Finding a scorer by name: built-ins, the `winnow.scorers` entry-point group, or a file.

    winnow score demo gopher                              # a built-in
    winnow score demo my_package_scorer                   # from an installed entry point
    winnow score demo path/to/my_scorer.py:MyScorer       # a class in a file
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from importlib.metadata import entry_points

from winnow.lake.errors import UsageError

from .scorer import Scorer

ENTRY_POINT_GROUP = "winnow.scorers"

BUILTINS = {
    "rps": "winnow.scoring.scorers.rps:RedPajamaSignals",
    "gopher": "winnow.scoring.scorers.gopher:GopherSignals",
    "c4": "winnow.scoring.scorers.c4:C4Signals",
    "fineweb": "winnow.scoring.scorers.fineweb:FineWebSignals",
    "tokens": "winnow.scoring.scorers.tokens:TokenCount",
    "lang": "winnow.scoring.scorers.lang:LanguageId",
    "embed": "winnow.scoring.scorers.embed:Embedding",
    "hf-classifier": "winnow.scoring.scorers.hf_classifier:HFClassifier",
}


class ScorerNotFound(UsageError, LookupError):
    pass


def names() -> list[str]:
    """Every scorer name known here: built-ins and entry points."""
    return sorted(set(BUILTINS) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def resolve(spec: str) -> type[Scorer]:
    """The scorer class for a name, an entry point, or `path/to/file.py:ClassName`."""
    path, sep, cls = spec.rpartition(":")
    if sep and path.endswith(".py"):
        if not os.path.isfile(path):
            raise ScorerNotFound(f"scorer file not found: {path}")
        module_spec = importlib.util.spec_from_file_location(f"winnow_user_scorer_{abs(hash(path))}", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return _check(spec, getattr(module, cls, None))
    if spec in BUILTINS:
        module, _, cls = BUILTINS[spec].partition(":")
        return _check(spec, getattr(importlib.import_module(module), cls))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == spec:
            return _check(spec, ep.load())
    raise ScorerNotFound(f"no scorer named {spec!r}; known: {', '.join(names())}, or path/to/file.py:ClassName")


def _check(spec: str, cls) -> type[Scorer]:
    if not (isinstance(cls, type) and issubclass(cls, Scorer)):
        raise ScorerNotFound(f"{spec} is not a winnow.scoring.Scorer subclass")
    return cls

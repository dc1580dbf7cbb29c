"""Finding a scorer by name: built-ins, the `winnow.scorers` entry-point group, or a file.

    winnow score demo gopher                              # a built-in
    winnow score demo my_package_scorer                   # from an installed entry point
    winnow score demo path/to/my_scorer.py:MyScorer       # a class in a file
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import TYPE_CHECKING, Any

from winnow.lake.errors import UsageError

if TYPE_CHECKING:  # the registry itself stays light: `winnow --help` lists BUILTINS
    from winnow.scoring.scorer import Scorer

ENTRY_POINT_GROUP = "winnow.scorers"

BUILTINS = {
    "rps": "winnow.scoring.scorers.rps:RedPajamaScorer",
    "gopher": "winnow.scoring.scorers.gopher:GopherScorer",
    "c4": "winnow.scoring.scorers.c4:C4Scorer",
    "fineweb": "winnow.scoring.scorers.fineweb:FineWebScorer",
    "tokens": "winnow.scoring.scorers.tokens:TokenCount",
    "lang": "winnow.scoring.scorers.lang:LanguageId",
    "embed": "winnow.scoring.scorers.embed:Embedding",
    "hf-classifier": "winnow.scoring.scorers.hf_classifier:HFClassifier",
    # the seed systems' raters (model scorers on scoring/model.py, and two fitted ones)
    "prrc": "winnow.scoring.scorers.prrc:PRRC",
    "qurater": "winnow.scoring.scorers.qurater:QuRater",
    "datarater": "winnow.scoring.scorers.datarater:DataRater",
    "fineweb-edu": "winnow.scoring.scorers.fineweb_edu:FineWebEdu",
    "fasttext": "winnow.scoring.scorers.fasttext:FastTextRater",
    "dsir": "winnow.scoring.scorers.dsir:DSIR",
    "embedding-head": "winnow.scoring.scorers.embedding_head:EmbeddingHead",
    "minhash": "winnow.scoring.scorers.minhash:MinHash",  # signatures for `winnow dedup --method minhash`
    "para-dup": "winnow.scoring.scorers.para_dup:ParagraphDup",  # paragraphs seen earlier (Dolma's, DCLM's BFF)
    "perplexity": "winnow.scoring.scorers.perplexity:Perplexity",  # a causal LM's perplexity (CCNet, RPv2)
}


class ScorerNotFound(UsageError, LookupError):
    pass


def names() -> list[str]:
    """Every scorer name known here: built-ins and entry points."""
    from importlib.metadata import entry_points

    return sorted(set(BUILTINS) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def resolve(spec: str) -> type[Scorer]:
    """The scorer class for a name, an entry point, or `path/to/file.py:ClassName`."""
    from importlib.metadata import entry_points

    path, sep, cls = spec.rpartition(":")
    if sep and path.endswith(".py"):
        if not os.path.isfile(path):
            raise ScorerNotFound(f"scorer file not found: {path}")
        module_spec = importlib.util.spec_from_file_location(f"winnow_user_scorer_{abs(hash(path))}", path)
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception as e:
            raise ScorerNotFound(f"scorer file {path} cannot be loaded: {type(e).__name__}: {e}") from e
        if not hasattr(module, cls):
            raise ScorerNotFound(f"scorer file {path} has no class {cls!r}")
        return _check(spec, getattr(module, cls))
    if spec in BUILTINS:
        module, _, cls = BUILTINS[spec].partition(":")
        return _check(spec, getattr(importlib.import_module(module), cls))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == spec:
            return _check(spec, ep.load())
    raise ScorerNotFound(f"no scorer named {spec!r}; known: {', '.join(names())}, or path/to/file.py:ClassName")


def params_for(specs: list[str], params: dict[str, Any]) -> list[tuple[type[Scorer], dict[str, Any]]]:
    """Each scorer with the parameters it declares, checked; a name that none of them
    declares is refused with the names they do declare. For one command line that runs
    several scorers with one set of `-p NAME=VALUE`."""
    from winnow.scoring.scorer import ScoreUsageError

    classes = [resolve(spec) for spec in specs]
    if len(classes) == 1:
        return [(classes[0], classes[0].check_params(params))]
    known = {name for cls in classes for name in cls.parameters}
    unknown = [name for name in params if name not in known]
    if unknown:
        declared = ", ".join(sorted(known)) or "none"
        raise ScoreUsageError(f"no scorer of {', '.join(c.name for c in classes)} has parameter(s) "
                              f"{', '.join(unknown)}; their parameters: {declared}")
    return [(cls, cls.check_params({k: v for k, v in params.items() if k in cls.parameters})) for cls in classes]


def _check(spec: str, cls) -> type[Scorer]:
    from winnow.scoring.scorer import Scorer

    if not (isinstance(cls, type) and issubclass(cls, Scorer)):
        raise ScorerNotFound(f"{spec} is not a winnow.scoring.Scorer subclass")
    return cls

"""winnow.scoring: jobs that add one column per metric to the lake's `docs` table.

A scorer (scoring/scorer.py) declares its inputs and output columns and computes them per
Arrow batch; the runner (scoring/runner.py) reads only its inputs, writes only its
columns, resumes, and records provenance in the catalog. Built-in scorers live in
scoring/scorers/, one file each, and are listed in scoring/registry.py.
"""

from winnow.lake import lazy
from winnow.scoring.registry import BUILTINS, ENTRY_POINT_GROUP, ScorerNotFound, names, params_for, resolve

# name -> its module, imported when the name is first read (lake/lazy.py): the registry above
# is light, a scorer's module is imported when it is resolved
__getattr__, __dir__ = lazy.names(__name__, {
    "ImportResult": "winnow.scoring.import_scores",
    "import_scores": "winnow.scoring.import_scores",
    "ScoreResult": "winnow.scoring.runner",
    "score": "winnow.scoring.runner",
    "Param": "winnow.scoring.scorer",
    "ScoreError": "winnow.scoring.scorer",
    "Scorer": "winnow.scoring.scorer",
    "ScoreUsageError": "winnow.scoring.scorer",
    "TextStatsScorer": "winnow.scoring.scorer",
})

__all__ = [
    "BUILTINS",
    "ENTRY_POINT_GROUP",
    "ImportResult",
    "ScoreResult",
    "Param",
    "ScoreError",
    "ScoreUsageError",
    "Scorer",
    "TextStatsScorer",
    "ScorerNotFound",
    "import_scores",
    "names",
    "params_for",
    "resolve",
    "score",
]

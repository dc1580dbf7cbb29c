"""winnow.scoring: jobs that add one column per metric to the lake's `docs` table.

A scorer (scoring/scorer.py) declares its inputs and output columns and computes them per
Arrow batch; the runner (scoring/runner.py) reads only its inputs, writes only its
columns, resumes, and records provenance in the catalog. Built-in scorers live in
scoring/scorers/, one file each, and are listed in scoring/registry.py.
"""

from winnow.scoring.import_scores import ImportResult, import_scores
from winnow.scoring.registry import BUILTINS, ENTRY_POINT_GROUP, ScorerNotFound, names, params_for, resolve
from winnow.scoring.runner import ScoreResult, score
from winnow.scoring.scorer import Param, ScoreError, Scorer, ScoreUsageError, TextStatsScorer

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

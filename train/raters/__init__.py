"""Raters you train yourself (`winnow rater train`): `trainer` trains one (its docstring
says how), `data` reads the labels and splits them, one module per kind (`fasttext`, `head`).
"""

from winnow.lake import lazy

KINDS = ("fasttext", "embedding-head")  # what --kind takes; trainer.KINDS_TABLE trains each

# name -> its module, imported when the name is first read (lake/lazy.py)
__getattr__, __dir__ = lazy.names(__name__, {
    "DEFAULT_FRACTION": "winnow.train.raters.trainer",
    "RATERS_FOLDER": "winnow.train.raters.trainer",
    "KINDS_TABLE": "winnow.train.raters.trainer",
    "PARAMETERS": "winnow.train.raters.trainer",
    "TRAINERS": "winnow.train.raters.trainer",
    "RaterResult": "winnow.train.raters.trainer",
    "train_rater": "winnow.train.raters.trainer",
})

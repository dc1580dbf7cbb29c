"""The optional parts of winnow and what each needs: `need(extra, what)` before a verb writes.

`pip install winnow` is the light core: the lake, ingest, SQL selection, the heuristic
scorers, fastText and DSIR, MinHash, materialization (parquet, jsonl, token shards) and the
report. It installs no torch. What else a user wants comes as an extra of the package
(pyproject.toml's `[project.optional-dependencies]`, the same names):

    raters    the model scorers (hf-classifier, prrc, qurater, datarater, fineweb-edu,
              embed, embedding-head), `rater train --kind embedding-head`, `index`,
              `similar`, `dedup --method semantic`, tokenizers by Hugging Face id
    weights   `weights fit` and `weights sample` (scikit-learn)
    train     `train` and `compare` (torch and torchtitan)
    app       `serve`, the local web app (FastAPI, uvicorn)
    ray       `--engine ray`
    all       every one of them

A verb that needs an extra that is not installed stops before it writes anything, with one
line that names the extra, what is missing and the install command (`MissingExtra`, a usage
error: exit 2). Finding a module does not import it (`importlib.util.find_spec`), so the
check costs nothing when the extra is there.
"""

from __future__ import annotations

import importlib.util

from winnow.lake.errors import UsageError

# extra -> the modules (import names) it brings that winnow imports; pyproject.toml lists
# the distributions (tests/test_extras.py keeps the two in step)
EXTRAS: dict[str, tuple[str, ...]] = {
    "raters": ("torch", "transformers", "sentence_transformers", "sklearn", "lancedb"),
    "weights": ("sklearn",),
    "train": ("torch", "torchtitan", "matplotlib"),
    "app": ("fastapi", "uvicorn"),
    "ray": ("ray",),
}


class MissingExtra(UsageError):
    """A verb needs an optional part of winnow that is not installed."""


def missing(modules) -> list[str]:
    """The modules of `modules` that cannot be imported here (not found, or blocked)."""
    gone = []
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent that fails to import, or sys.modules[name] = None
            found = False
        if not found:
            gone.append(module)
    return gone


def need(extra: str, what: str, modules=None) -> None:
    """Raise `MissingExtra` when any module `what` needs from `extra` (all of the extra's,
    unless `modules` names some) is not installed: `what` is the verb or option, as the
    user wrote it (`winnow train`, `the prrc scorer`, `--engine ray`)."""
    gone = missing(modules if modules is not None else EXTRAS[extra])
    if gone:
        raise MissingExtra(f"{what} needs the {extra!r} extra ({', '.join(gone)} not installed): "
                           f"pip install 'winnow[{extra}]'")

"""A query text as a vector of an embedding column: `winnow similar LAKE --text TEXT`.

The text is embedded by the scorer that wrote the column, made with the parameters the
metrics catalog recorded for it (model, max_length, ...), and refused when the model's
files are no longer those the column was written with (their fingerprint differs): a
vector from another model would be compared with the column's as if it were comparable.
It runs on the CPU (one text), offline when HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from winnow.lake import Lake, catalog
from winnow.lake.extras import need

from winnow.scoring.registry import resolve
from winnow.scoring.scorer import ScoreUsageError


def recorded_scorer(lake: Lake, column: str):
    """The scorer that wrote `column`, made with the parameters the catalog recorded; a
    ScoreUsageError when no scorer wrote it, its job is not done, or its files changed."""
    row = catalog.metric(lake, column)
    if row is None:
        raise ScoreUsageError(f"no scorer wrote column {column!r} (the catalog has no job for it), so there is no "
                              f"model to embed --text with; write it with `winnow score {lake.uri} embed`")
    if row["status"] != "done":
        raise ScoreUsageError(f"the job writing {column!r} ({row['scorer']}) is {row['status']}; run "
                              f"`winnow score {lake.uri} {row['scorer']}` again to finish it first")
    params = json.loads(row["params"] or "{}")
    recorded = params.pop("fingerprint", None)
    cls = resolve(row["scorer"])
    if cls.extra:
        need(cls.extra, f"--text (embedded with the {cls.name} scorer)", cls.needs or None)
    try:
        scorer = cls(**params)
        fingerprint = scorer.fingerprint() if hasattr(scorer, "fingerprint") else None
    except (ValueError, OSError) as e:
        raise ScoreUsageError(f"cannot make {row['scorer']} as it wrote {column!r}: {' '.join(str(e).split())}") from e
    if recorded is not None and fingerprint != recorded:
        raise ScoreUsageError(f"the model of {row['scorer']} is not the one {column!r} was written with (its files "
                              f"changed: {fingerprint} != {recorded}); score the column again with --replace")
    if column not in [f.name for f in scorer.outputs()]:
        raise ScoreUsageError(f"scorer {row['scorer']} as recorded does not write {column!r}")
    return scorer


def embed_query(lake: Lake, column: str, text: str) -> np.ndarray:
    """The float32 vector of `text` in `column`'s space, by the scorer and parameters that
    wrote the column; a ScoreUsageError for an empty text or a column no model can embed into."""
    if not text or not text.strip():
        raise ScoreUsageError("--text is empty: give words to search for")
    scorer = recorded_scorer(lake, column)
    scorer.setup("cpu")
    out = scorer.score(pa.record_batch({"text": pa.array([text], pa.string())}))[column]
    value = out[0] if isinstance(out, (pa.Array, pa.ChunkedArray)) else pa.array(out)[0]
    vector = np.asarray(value.values.to_numpy(zero_copy_only=False) if hasattr(value, "values") else value,
                        dtype=np.float32).reshape(-1)
    if not np.all(np.isfinite(vector)):
        raise ScoreUsageError(f"--text {text!r} gives no vector (the model reads no token of it)")
    return vector

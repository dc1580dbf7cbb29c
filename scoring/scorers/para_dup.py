"""Paragraphs seen earlier in the lake: `winnow score LAKE para-dup [-p fp_rate=0.01]`.

    para_dup_frac        (float32)  the fraction of the document's paragraphs already seen
                                    earlier in the lake
    para_dup_char_frac   (float32)  the fraction of its paragraphs' characters in those

A selection then drops or down-weights by SQL: `WHERE para_dup_frac < 0.8`. A document
without a paragraph (empty, or whitespace only) gets NaN in both, counted.

The rule is Dolma's paragraph dedup (allenai/dolma docs/deduplication.md,
`dedupe.paragraphs`): paragraphs are the text split at newline characters, each one a
key of a Bloom filter, checked then inserted in order, so that the first occurrence of a
paragraph is new and every later one, in the same document or a later one, is a repeat.
Here a paragraph is a line with its surrounding whitespace stripped (a line of whitespace
is no paragraph), its key the xxh3-64 hash of its UTF-8 bytes (`seed` the hash's seed),
and its characters its stripped length. DCLM's BFF (mlfoundations/dclm dedup/bff, run
before its fastText filter) splits paragraphs the same way but decides each one by the
fraction of its 13-gram shingles already in the filter (> 0.8), a near-duplicate test;
this scorer keeps Dolma's exact test of the whole paragraph, which an exact reference can
check. Both size the filter for an expected count at a stated rate; here the count is
the lake's own: every non-empty paragraph of `docs`, counted before the filter is made
(scoring/bloom.py: m = -n ln p / (ln 2)^2 bits, k = m/n ln 2 hashes). Repeats are never
missed; a new paragraph is taken for a repeat with probability at most `fp_rate` (the rate
once the whole lake is in; less while it fills, and less when paragraphs repeat, since the
count includes the repeats).

"Earlier" is the lake's row order, in which `docs` is scanned: fragments in the order of
the manifest (the order of ingest; compaction keeps it), rows in their order. The values
depend on the lake version only: a rerun with `--replace` on the same version gives the
same values, whatever the engine or the workers.

How it runs. The value of a row depends on every row before it, so the work is split:
1. on the engine (`--engine`, `--workers`): each unit (a fragment, or 16,384-row slices)
   reads `id` and `text` and hashes its paragraphs; the keys come back to the job;
2. in the job's process, sequentially: the filter is sized from the count of keys and the
   keys are checked and inserted in row order (numpy, a million at a time: the batch rule
   of scoring/bloom.py gives what one-by-one insertion gives), giving each row its values;
3. the runner writes the columns as for any scorer, in the job's process (`in_process`):
   the scorer looks each row's values up by id, reading no text again.
Memory in the job's process: 12 bytes per paragraph (key and length), 20 per document, and
the filter (fp_rate 0.01: 9.6 bits per paragraph).

Later ingests. A run after more documents were ingested scores only the new rows (the
runner scores the rows whose column is null), against a filter rebuilt from the whole lake
at that version: step 1 reads every row again, the old rows' paragraphs go into the filter
before the new rows' (they are earlier), and their values are left as written. A new row's
values are then exactly those a run over the whole lake with `--replace` would give it (the
filter's bits after a set of keys do not depend on their order, and it is sized from the
same count). An old row keeps the values of its own run, whose filter was sized for the
lake then: they differ from a `--replace` run's only in false positives. The filter is not
kept between runs: rebuilding it costs one read of the text, and a kept one would have to
match exactly the rows it holds (a killed run, a replaced column).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyarrow as pa

from winnow.scoring.bloom import Bloom, sized
from winnow.scoring.scorer import Param, ScoreError, Scorer

HASH = "xxh3_64-splitmix-double-v1"  # the paragraph key and the filter's positions, recorded with the columns
TASK_ROWS = 16384  # rows per unit of the hashing pass
READ_ROWS = 4096  # rows per batch read by a unit


def paragraphs(text: str) -> list[str]:
    """The paragraphs of `text`: its lines, stripped, without the empty ones."""
    return [p for p in (line.strip() for line in text.split("\n")) if p]


def paragraph_keys(texts: list[str], seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keys, characters, paragraphs per text): the uint64 key and the length of every
    paragraph of `texts` in order, and how many each text has."""
    import xxhash

    digest = xxhash.xxh3_64_intdigest
    keys: list[int] = []
    chars: list[int] = []
    counts = np.zeros(len(texts), np.int32)
    for i, text in enumerate(texts):
        found = paragraphs(text or "")
        counts[i] = len(found)
        keys.extend(digest(p.encode("utf-8", "surrogatepass"), seed) for p in found)
        chars.extend(len(p) for p in found)
    return np.array(keys, np.uint64), np.array(chars, np.int32), counts


def repeated_fractions(keys: np.ndarray, chars: np.ndarray, counts: np.ndarray,
                       fp_rate: float, expected: int | None = None) -> tuple[np.ndarray, np.ndarray, Bloom]:
    """(paragraph fraction, character fraction, the filter) per document, for documents whose
    paragraphs' keys are `keys` in order (`counts` per document): the Bloom pass. The filter
    is sized for `expected` keys (default: all of them). NaN for a document without a paragraph."""
    bits, hashes = sized(len(keys) if expected is None else expected, fp_rate)
    bloom = Bloom(bits, hashes)
    seen = bloom.add(keys)
    owner = np.repeat(np.arange(len(counts)), counts)
    repeats = np.bincount(owner, weights=seen, minlength=len(counts))
    repeated_chars = np.bincount(owner, weights=np.where(seen, chars, 0), minlength=len(counts))
    total_chars = np.bincount(owner, weights=chars, minlength=len(counts))
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(counts > 0, repeats / counts, np.nan)
        char_frac = np.where(total_chars > 0, repeated_chars / total_chars, np.where(counts > 0, 0.0, np.nan))
    return frac.astype(np.float32), char_frac.astype(np.float32), bloom


def id_keys(ids: list[str]) -> np.ndarray:
    """uint64 keys of document ids, for the lookup of a row's values."""
    import xxhash

    digest = xxhash.xxh3_64_intdigest
    return np.fromiter((digest(i.encode()) for i in ids), np.uint64, len(ids))


class ParagraphDup(Scorer):
    """The fraction of a document's paragraphs (and of their characters) seen earlier in the
    lake, by a Bloom filter sized from the lake (Dolma's paragraph dedup; DCLM's BFF)."""

    name = "para-dup"
    version = "1"
    inputs = ()  # the writing pass reads `id` only; the hashing pass reads `text` (see the module)
    in_process = True  # its values are computed in the job's process and held there
    parameters = {
        "fp_rate": Param(float, 0.01, "the Bloom filter's false-positive rate once the whole lake is in "
                                      "(DCLM's BFF: 0.01)"),
        "seed": Param(int, 0, "the seed of the paragraphs' hash", minimum=0),
        "prefix": Param(str, "para_dup", "the columns are PREFIX_frac and PREFIX_char_frac"),
    }

    def __init__(self, **params: Any):
        super().__init__(**params)
        if not 0 < self.param("fp_rate") < 1:
            raise ValueError(f"fp_rate={self.param('fp_rate')}: a false-positive rate is between 0 and 1 (exclusive)")
        if not self.param("prefix"):
            raise ValueError("prefix must not be empty")
        self._source: tuple | None = None  # (lake, version, engine), from fit
        self._lookup: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # sorted id keys, values
        self.stats: dict[str, Any] = {}  # what the last pass measured: documents, paragraphs, bits, ...

    def outputs(self) -> list[pa.Field]:
        prefix = self.param("prefix")
        return [pa.field(f"{prefix}_frac", pa.float32()), pa.field(f"{prefix}_char_frac", pa.float32())]

    def fingerprint(self) -> dict:
        return {"hash": HASH}

    def fit(self, lake, version: int, query=None, engine=None) -> None:
        """Remember the lake at `version` and the engine: the pass runs in `setup`, only when
        rows are to be scored."""
        self._source = (lake, version, engine)
        self._lookup = None

    def setup(self, device: str = "cpu") -> None:
        if self._lookup is None and self._source is not None:
            self._lookup = self._pass(*self._source)

    def _pass(self, lake, version: int, engine) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every row's values at `version`, by sorted id key (see the module: hashing on the
        engine, then the ordered Bloom pass here)."""
        t0 = time.perf_counter()
        docs = lake.docs(version)
        units = [(f.fragment_id, offset, min(TASK_ROWS, n - offset))
                 for f in docs.get_fragments() for n in [f.count_rows()] for offset in range(0, n, TASK_ROWS)]
        parts: list = [None] * len(units)
        if engine is None or lake.uri.startswith("memory://"):
            for i, unit in enumerate(units):
                parts[i] = _hash_unit((docs, self.param("seed")), unit)
        else:
            for i, part in engine.map(_hash_unit, units, init=_open_unit, describe=_describe,
                                      args=(lake.uri, lake.storage_options, version, self.param("seed"))):
                parts[i] = part
        t1 = time.perf_counter()
        ids, keys, chars, counts = (np.concatenate([p[j] for p in parts]) if parts else np.zeros(0, t)
                                    for j, t in enumerate([np.uint64, np.uint64, np.int32, np.int32]))
        frac, char_frac, bloom = repeated_fractions(keys, chars, counts, self.param("fp_rate"))
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        if len(ids) > 1 and (ids[1:] == ids[:-1]).any():
            raise ScoreError("para-dup: two document ids share a 64-bit hash; it cannot tell their rows apart")
        self.stats = {"documents": len(counts), "paragraphs": len(keys), "bits": bloom.bits, "hashes": bloom.hashes,
                      "fill": bloom.fill(), "rate_at_end": bloom.rate(), "hash_seconds": t1 - t0,
                      "bloom_seconds": time.perf_counter() - t1}
        return ids, frac[order], char_frac[order]

    def score(self, batch: pa.RecordBatch):
        if self._lookup is None:
            raise ScoreError("para-dup reads the whole lake in order: run it through winnow score, which fits it")
        ids, frac, char_frac = self._lookup
        wanted = id_keys(batch.column("id").to_pylist())
        at = np.minimum(np.searchsorted(ids, wanted), max(len(ids) - 1, 0))
        if not len(ids) or (ids[at] != wanted).any():
            raise ScoreError("para-dup: a row to score is not in the lake version its pass read")
        f, c = frac[at], char_frac[at]
        if (missing := int(np.isnan(f).sum())):
            self.counts["no paragraph"] += missing
        prefix = self.param("prefix")
        return {f"{prefix}_frac": pa.array(f, pa.float32()), f"{prefix}_char_frac": pa.array(c, pa.float32())}


def _open_unit(uri: str, storage_options: dict, version: int, seed: int) -> tuple:
    from winnow.lake import Lake

    return Lake(uri, storage_options).docs(version), seed


def _hash_unit(state: tuple, unit: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(id keys, paragraph keys, their characters, paragraphs per row) of one unit's rows, in order."""
    docs, seed = state
    fragment_id, offset, rows = unit
    parts = []
    for batch in docs.scanner(columns=["id", "text"], fragments=[docs.get_fragment(fragment_id)], offset=offset,
                              limit=rows, batch_size=READ_ROWS).to_batches():
        keys, chars, counts = paragraph_keys(batch.column("text").to_pylist(), seed)
        parts.append((id_keys(batch.column("id").to_pylist()), keys, chars, counts))
    if not parts:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint64), np.zeros(0, np.int32), np.zeros(0, np.int32)
    return tuple(np.concatenate([p[j] for p in parts]) for j in range(4))


def _describe(unit: tuple) -> str:
    fragment_id, offset, rows = unit
    return f"fragment {fragment_id} (rows {offset:,} to {offset + rows:,}, hashing paragraphs)"

"""The `para-dup` scorer (paragraphs seen earlier in the lake, by a Bloom filter) against an
exact reference: a Python set of the paragraphs, filled in the lake's row order."""

from __future__ import annotations

import json
import math
import random

import numpy as np

import winnow
from winnow.scoring.bloom import Bloom, expected_rate, sized
from winnow.scoring.scorers.para_dup import paragraph_keys, paragraphs, repeated_fractions

from .helpers import C4, DATA, GITHUB, OWT

SHARED = [C4, OWT, GITHUB]


def test_bloom_filter_is_sequential_and_keeps_its_rate():
    """The batch rule gives what one-by-one insertion gives; filled with n new keys at
    capacity, the filter takes 200,000 new probes for old at the configured rate (binomial:
    4 standard errors)."""
    rng = np.random.default_rng(0)
    keys = np.concatenate([rng.integers(0, 40, 2000).astype(np.uint64) * np.uint64(2 ** 40 + 7),
                           rng.integers(0, 2 ** 63, 2000, dtype=np.uint64)])
    rng.shuffle(keys)
    batch, single = Bloom(*sized(4000, 0.2)), Bloom(*sized(4000, 0.2))
    assert np.array_equal(batch.add(keys), [single.add(keys[i:i + 1])[0] for i in range(len(keys))])
    for p in (0.01, 0.1):
        n = 100_000
        bloom = Bloom(*sized(n, p))
        assert bloom.add(rng.integers(0, 2 ** 63, n, dtype=np.uint64)).sum() < 3 * p * n  # it fills as it goes
        assert abs(expected_rate(bloom.bits, bloom.hashes, n) - p) < 0.02 * p
        measured = bloom.contains(rng.integers(0, 2 ** 63, 200_000, dtype=np.uint64)).mean()
        assert abs(measured - p) < 4 * math.sqrt(p * (1 - p) / 200_000), (p, measured)


def _planted(path, pool: list[str], n: int, tag: str, rng: random.Random) -> None:
    """`n` documents of 4 to 12 paragraphs: half drawn from `pool` (repeats of earlier ones),
    the rest new; one document in four repeats one of its own paragraphs."""
    with path.open("w") as f:
        for i in range(n):
            paras = [rng.choice(pool) if rng.random() < 0.5 else f"{tag} {i}.{j}: " + " ".join(
                rng.choice(pool).split()[:8]) for j in range(rng.randint(4, 12))]
            if i % 4 == 0:
                paras.append("  " + rng.choice(paras) + " ")  # the same paragraph, other whitespace
            f.write(json.dumps({"text": "\n".join(paras) + "\n\n"}) + "\n")


def _exact(texts: list[str], seen: set) -> list[list[bool]]:
    """Each paragraph of each text in order: whether it came before (the set is filled)."""
    out = []
    for text in texts:
        flags = []
        for p in paragraphs(text):
            flags.append(p in seen)
            seen.add(p)
        out.append(flags)
    return out


def test_para_dup_against_the_exact_reference(lake, tmp_path):
    """Shared data plus 300 planted documents (then 100 more, ingested later). No repeat is
    missed; the false positives match the filter's rate as it filled (4 standard errors);
    the columns are the ordered pass's; a later run scores the new rows only, with the values
    a pass over the whole lake gives them. (~10 s)"""
    rng = random.Random(5)
    pool = [p for path in SHARED for line in path.open() for p in paragraphs(json.loads(line)["text"])]
    first, later = tmp_path / "planted.jsonl", tmp_path / "later.jsonl"
    _planted(first, pool, 300, "planted", rng)
    _planted(later, pool, 100, "later", rng)
    winnow.ingest_files(lake, [str(p) for p in SHARED] + [str(first)], progress=None, workers=1)
    r = winnow.score(lake, "para-dup", params={"fp_rate": 0.05}, workers=2, progress=None)
    assert r.scored == lake.docs().count_rows()
    table = lake.docs().to_table(columns=["id", "text", "para_dup_frac", "para_dup_char_frac"])  # row order
    texts = table.column("text").to_pylist()
    truth = _exact(texts, set())
    keys, chars, counts = paragraph_keys(texts)
    bloom = Bloom(*sized(len(keys), 0.05))
    flags, expected_fp, new = [], 0.0, 0
    for start in range(0, len(keys), 500):  # the filter's rate before each chunk of keys
        part = keys[start:start + 500]
        rate = bloom.rate()
        flags.append(bloom.add(part))
        is_new = ~np.concatenate(truth)[start:start + 500]
        expected_fp += rate * is_new.sum()
        new += is_new.sum()
    flags = np.concatenate(flags)
    exact = np.concatenate(truth)
    assert exact.sum() > 1500 and new > 20_000
    assert not (exact & ~flags).any()  # no repeat missed
    false_positives = int((flags & ~exact).sum())
    assert abs(false_positives - expected_fp) < 4 * math.sqrt(expected_fp) + 1, (false_positives, expected_fp)
    assert bloom.rate() < 0.05  # the count includes the repeats: the filter is not full
    frac, char_frac, _ = repeated_fractions(keys, chars, counts, 0.05)
    assert np.array_equal(table.column("para_dup_frac").to_numpy(), frac)
    assert np.array_equal(table.column("para_dup_char_frac").to_numpy(), char_frac)
    exact_frac = np.array([np.mean(t) for t in truth], np.float32)
    assert (frac >= exact_frac).all() and (frac > exact_frac).sum() <= false_positives
    assert (frac >= 0.8).sum() == winnow.query(lake, "SELECT count(*) n FROM docs WHERE para_dup_frac >= 0.8")[
        "n"][0].as_py() > 0

    # Later: only the new rows are scored, against every earlier row.
    winnow.ingest_files(lake, [str(later)], progress=None, workers=1)
    again = winnow.score(lake, "para-dup", params={"fp_rate": 0.05}, workers=1, progress=None)
    assert again.scored == 100
    after = lake.docs().to_table(columns=["id", "text", "para_dup_frac"])
    old = after.slice(0, len(table))
    assert old.column("id").equals(table.column("id")) and old.column("para_dup_frac").equals(
        table.column("para_dup_frac"))
    keys, chars, counts = paragraph_keys(after.column("text").to_pylist())
    whole, _, _ = repeated_fractions(keys, chars, counts, 0.05)
    assert np.array_equal(after.column("para_dup_frac").to_numpy()[len(table):], whole[len(table):])
    truth = _exact(after.column("text").to_pylist(), set())
    assert all(f >= np.float32(np.mean(t)) for f, t in zip(whole[len(table):], truth[len(table):]))

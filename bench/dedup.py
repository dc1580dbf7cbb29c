"""MinHash dedup benchmark: winnow's signatures and whole pipeline against datatrove's.

    python bench/dedup.py [--docs 1000000] [--only signatures|pipeline|libraries|step] [--workers 2]
                          [--sig-docs 100000] [--peer-docs 20000] [--edits 0.01,0.05] [--keep]
                          [--step-docs 5000] [--step-rounds 2]

Input: a corpus of --docs documents from bench/corpus.py (paragraphs of ../shared/data
resampled, fixed seed, 8 jsonl shards) with planted near-duplicates: 5% of the documents
are replaced by a copy of an earlier document of the same shard with words edited at the
rates of --edits (one rate per copy, in turn): each word is, with that probability,
replaced by another word of the document, deleted, or followed by an inserted word (one
third each). Ids stay as they were, so the ground truth is a list of (copy id, source id).
Both systems read the same documents: datatrove the jsonl, winnow a lake ingested from it.
Every run is a fresh process measured by bench/measure.py: wall seconds, CPU seconds and
peak RSS summed over its process tree; the 1-minute load average is printed around each.

1. signatures: `winnow score LAKE minhash --workers W` (W = 1 and --workers, each on a
   fresh copy of the lake) against datatrove's MinhashDedupSignature (bench/peers/
   datatrove_minhash.py: the same word 5-grams and 14 x 8 hashes, W tasks on W workers,
   local executor) on --sig-docs documents. datatrove runs at ~75 docs/s per core here, so it
   is timed on the first --peer-docs of them (0: all) and docs/s are compared.
2. libraries: rensa 0.5.0 against datasketch 2.0.0, raw signature speed (112 permutations)
   on the word 5-grams of every real document of ../shared/data (1,499: fewer than 2,000 exist).
3. pipeline: on --docs documents, winnow `ingest` -> `score minhash` -> `dedup --method
   minhash --threshold 0.8` against datatrove's signatures -> buckets -> cluster -> filter
   (the filter writes the kept documents as uncompressed jsonl). Two ratios are printed:
   on a lake that already holds the documents (score + dedup; the lake is winnow's premise,
   and ingest serves every later scorer and dedup) and from the raw jsonl (ingest + score +
   dedup), since datatrove reads jsonl in its first and last stage. Recall of the planted
   pairs (both members in one cluster) is printed per edit rate for both systems, so that
   neither wins by doing less. Goal: >= 3x datatrove, winnow's peak RSS <= 4 GB.

4. step (--only step): the signature step alone, in-process, in docs per CPU-second (this
   process's user + sys time around the call, imports and start-up left out), each side in a
   fresh child process so that no cache is warm, alternating, --step-rounds rounds (best kept):
   winnow's `MinHash().signatures`, the step as it was before issue 24 (`words(normalize(t))`,
   the distinct 5-grams as strings, rensa over them), and rensa's bare rate on the same distinct
   shingle sets made beforehand (the physical limit: what is left with no text work). Two
   inputs: every real document of ../shared/data and ../shared/labels (fresh text: most chunks
   are new) and the first --step-docs documents of the bench/corpus.py corpus (resampled
   paragraphs).

Built inputs (the corpora, the lakes, datatrove's files) live under bench/.cache/dedup-<docs>
and are removed at the end unless --keep; with --keep they are reused by the next run.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from datetime import datetime  # noqa: E402

import numpy as np  # noqa: E402
import orjson  # noqa: E402
import psutil  # noqa: E402

from corpus import DATA, build_corpus  # noqa: E402
from measure import measure  # noqa: E402

CACHE = HERE / ".cache"
PY = sys.executable
WINNOW = str(Path(PY).parent / "winnow")
PEER = str(HERE / "peers" / "datatrove_minhash.py")
SHARDS = 8
PLANTED = 0.05  # share of documents replaced by an edited copy
GOAL_RATIO, GOAL_RSS = 3.0, 4 * 2**30


# --- input ---------------------------------------------------------------------------------

def _edit(words: list[str], rate: float, rng: np.random.Generator) -> list[str]:
    """A copy of words with each word, at probability rate (at least one word), substituted by another
    word of the list, deleted, or followed by an inserted word of the list."""
    out = []
    hit = rng.random(len(words)) < rate
    if not hit.any():  # at least one edit: an exact copy would be an exact duplicate, which ingest drops
        hit[rng.integers(0, len(words))] = True
    ops = rng.integers(0, 3, len(words))
    other = rng.integers(0, len(words), len(words))
    for i, w in enumerate(words):
        if not hit[i]:
            out.append(w)
        elif ops[i] == 0:
            out.append(words[other[i]])
        elif ops[i] == 2:
            out += [w, words[other[i]]]
    return out


def planted_corpus(root: Path, n_docs: int, rates: list[float], seed: int = 0) -> tuple[Path, dict]:
    """(the folder of 8 jsonl shards with planted copies, its manifest with the ground truth); cached in root."""
    out = root / "corpus"
    want = {"n_docs": n_docs, "rates": rates, "seed": seed, "planted": PLANTED, "version": 2}
    try:
        m = json.loads((out / "manifest.json").read_text())
        if all(m.get(k) == v for k, v in want.items()):
            print(f"reusing the planted corpus at {out}", flush=True)
            return out, m
    except (OSError, ValueError):
        pass
    base_dir = CACHE / f"corpus-{n_docs}-0"
    existed = (base_dir / "manifest.json").exists()
    base = build_corpus(base_dir, n_docs=n_docs, n_shards=SHARDS, seed=0)
    t0 = time.perf_counter()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rng = np.random.default_rng(seed + 1)
    truth, counts, n_bytes = [], [], 0
    for s, path in enumerate(base):
        lines = path.read_bytes().splitlines()
        n = len(lines)
        copies = np.flatnonzero(rng.random(n) < PLANTED)
        copies = copies[copies > 0]
        sources = (rng.random(len(copies)) * copies).astype(np.int64)  # an earlier document of the shard
        planted = set(copies.tolist())
        for k, (c, src) in enumerate(zip(copies.tolist(), sources.tolist())):
            while src in planted:  # the source must be an original, not another copy
                src = int(rng.integers(0, c))
            doc, source = orjson.loads(lines[c]), orjson.loads(lines[src])
            rate = rates[k % len(rates)]
            text = source["text"]
            while text == source["text"]:  # a substitute can be the same word
                text = " ".join(_edit(source["text"].split(" "), rate, rng))
            doc["text"] = text
            lines[c] = orjson.dumps(doc)
            truth.append((doc["id"], source["id"], rate))
        data = b"\n".join(lines) + b"\n"
        (out / path.name).write_bytes(data)
        counts.append(n)
        n_bytes += len(data)
    if not existed:
        shutil.rmtree(base_dir, ignore_errors=True)  # only the planted corpus is kept
    m = want | {"counts": counts, "bytes": n_bytes, "truth": truth, "seconds": round(time.perf_counter() - t0, 1)}
    (out / "manifest.json").write_text(json.dumps(m))
    print(f"planted {len(truth):,} edited copies ({PLANTED:.0%} of {n_docs:,} documents, word edit rates "
          f"{', '.join(f'{r:.0%}' for r in rates)} in turn) into {out} in {m['seconds']} s", flush=True)
    return out, m


def shard_files(corpus: Path) -> list[str]:
    return [str(p) for p in sorted(corpus.glob("shard-*.jsonl"))]


def subset(corpus: Path, dest: Path, n_docs: int) -> Path:
    """A folder with the first n_docs documents of corpus (in its 8 shards' order), in 8 files."""
    if (dest / "done").exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    lines = []
    for p in shard_files(corpus):
        with open(p, "rb") as f:
            for line in f:
                lines.append(line)
                if len(lines) == n_docs:
                    break
        if len(lines) == n_docs:
            break
    bounds = np.linspace(0, len(lines), SHARDS + 1).astype(int)
    for s in range(SHARDS):
        (dest / f"shard-{s:05d}.jsonl").write_bytes(b"".join(lines[bounds[s]:bounds[s + 1]]))
    (dest / "done").touch()
    return dest


# --- running -------------------------------------------------------------------------------

def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def timed(label: str, cmd: list[str], n_docs: int) -> dict:
    """measure(cmd), printed as one line: seconds, docs/s, CPU seconds, peak RSS, load before/after."""
    before = load()
    r = measure(cmd)
    r.update(label=label, load=f"{before} -> {load()}")
    print(f"  {label:52s} {r['seconds']:8.1f} s {n_docs / r['seconds']:9,.0f} docs/s  cpu {r['cpu_seconds']:7.1f} s"
          f"  peak RSS {r['peak_rss'] / 2**20:7,.0f} MB  (load {r['load']})", flush=True)
    return r


def ingest(corpus: Path, lake: Path, workers: int, n_docs: int) -> dict:
    shutil.rmtree(lake, ignore_errors=True)
    subprocess.run([WINNOW, "init", str(lake)], check=True, capture_output=True)
    return timed(f"winnow ingest ({workers} workers)",
                 [WINNOW, "ingest", str(lake), *shard_files(corpus), "--workers", str(workers), "--no-progress"],
                 n_docs)


def winnow_score(lake: Path, workers: int, n_docs: int) -> dict:
    return timed(f"winnow score minhash ({workers} worker{'s' * (workers > 1)})",
                 [WINNOW, "score", str(lake), "minhash", "--workers", str(workers), "--no-progress"], n_docs)


def winnow_dedup(lake: Path, workers: int, n_docs: int) -> dict:
    r = timed(f"winnow dedup --method minhash --threshold 0.8 ({workers} w.)",
              [WINNOW, "dedup", str(lake), "--method", "minhash", "--threshold", "0.8", "--workers", str(workers),
               "--no-progress"], n_docs)
    print(f"    {r['stdout'].strip().splitlines()[-1] if r['stdout'].strip() else ''}")
    return r


def peer(stage: str, corpus: Path, work: Path, workers: int, n_docs: int) -> dict:
    how = "1 task" if stage == "cluster" else f"{workers} worker{'s' * (workers > 1)}"
    r = timed(f"datatrove {stage} ({how})",
              [PY, PEER, str(corpus), str(work), "--stage", stage, "--workers", str(workers)], n_docs)
    r["result"] = json.loads(r["stdout"].strip().splitlines()[-1])
    return r


# --- 1. signatures -------------------------------------------------------------------------

def signatures(root: Path, n_docs: int, peer_docs: int, workers: int, rates: list[float]) -> None:
    corpus, _ = planted_corpus(root, n_docs, rates)
    base = root / "lake"
    print(f"signatures: {n_docs:,} documents (winnow), the first {peer_docs:,} of them (datatrove); "
          f"word 5-grams, 14 x 8 = 112 hashes", flush=True)
    if not (root / "lake.done").exists():
        ingest(corpus, base, workers, n_docs)
        (root / "lake.done").touch()
    peer_corpus = corpus if peer_docs >= n_docs else subset(corpus, root / f"first-{peer_docs}", peer_docs)
    rows = []
    for w in sorted({1, workers}):
        lake = root / f"lake-{w}w"
        shutil.rmtree(lake, ignore_errors=True)
        shutil.copytree(base, lake)
        ours = winnow_score(lake, w, n_docs)
        shutil.rmtree(lake, ignore_errors=True)
        work = root / f"dt-sigs-{w}w"
        shutil.rmtree(work, ignore_errors=True)
        theirs = peer("signatures", peer_corpus, work, w, peer_docs)
        shutil.rmtree(work, ignore_errors=True)
        rows.append((w, ours, theirs))
    print("signatures, docs/s (whole command; datatrove's includes its executor and spaCy start-up):")
    for w, ours, theirs in rows:
        a, b = n_docs / ours["seconds"], peer_docs / theirs["seconds"]
        ca, cb = n_docs / ours["cpu_seconds"], peer_docs / theirs["cpu_seconds"]
        print(f"  {w} worker(s): winnow {a:,.0f} docs/s vs datatrove {b:,.0f} docs/s = {a / b:.1f}x "
              f"({ca / cb:.1f}x per CPU-second); peak RSS {ours['peak_rss'] / 2**20:,.0f} MB vs "
              f"{theirs['peak_rss'] / 2**20:,.0f} MB", flush=True)


# --- 2. libraries --------------------------------------------------------------------------

def libraries() -> None:
    """rensa vs datasketch: signatures of the word 5-grams of the real documents, 112 permutations."""
    import datasketch
    import rensa

    texts = [orjson.loads(line)["text"] for f in ("openwebtext-1000.jsonl", "c4-sample-449.jsonl",
                                                   "github-sample-50.jsonl") for line in open(DATA / f, "rb")]
    shingles = []
    for t in texts:
        w = re.findall(r"\w+", t.lower())
        shingles.append([" ".join(w[i:i + 5]) for i in range(max(len(w) - 4, 1))])
    encoded = [[s.encode() for s in sh] for sh in shingles]
    n_perm = 112

    def rensa_each():
        for sh in shingles:
            m = rensa.RMinHash(num_perm=n_perm, seed=1)
            m.update(sh)
            m.digest()

    def rensa_bulk():
        rensa.RMinHash.digest_matrix_from_token_sets(shingles, n_perm, 1)

    def datasketch_each():
        for sh in encoded:
            m = datasketch.MinHash(num_perm=n_perm, seed=1)
            m.update_batch(sh)
            m.digest()

    def datasketch_bulk():
        datasketch.MinHash.bulk(encoded, num_perm=n_perm, seed=1)

    print(f"libraries: {len(texts):,} real documents of ../shared/data, {sum(map(len, shingles)):,} word 5-grams, "
          f"{n_perm} permutations, this process, best of 3 (shingling not timed):")
    best = {}
    for name, fn in [("rensa 0.5.0 RMinHash, one per document", rensa_each),
                     ("rensa 0.5.0 RMinHash.digest_matrix_from_token_sets", rensa_bulk),
                     ("datasketch 2.0.0 MinHash.update_batch", datasketch_each),
                     ("datasketch 2.0.0 MinHash.bulk", datasketch_bulk)]:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        best[name] = len(texts) / min(times)
        print(f"  {name:52s} {best[name]:10,.0f} docs/s", flush=True)
    r = max(v for k, v in best.items() if k.startswith("rensa"))
    d = max(v for k, v in best.items() if k.startswith("datasketch"))
    print(f"  rensa / datasketch (best of each): {r / d:.1f}x", flush=True)


# --- 4. the signature step alone ------------------------------------------------------------

def _step_texts(which: str, n_docs: int) -> list[str]:
    if which == "real":
        paths = [DATA / f for f in ("openwebtext-1000.jsonl", "c4-sample-449.jsonl", "github-sample-50.jsonl")]
        paths.append(DATA.parent / "labels" / "dclm-human-labels-218.jsonl")
        return [orjson.loads(line)["text"] for p in paths for line in open(p, "rb")]
    [shard] = build_corpus(CACHE / f"corpus-{n_docs}-1", n_docs=n_docs, n_shards=1, seed=0, quiet=True)
    return [orjson.loads(line)["text"] for line in open(shard, "rb")]


def step_child(side: str, which: str, n_docs: int) -> None:
    """One side of the step on one input, timed in this (fresh) process; prints docs and CPU seconds as JSON."""
    from rensa import RMinHash

    from winnow.scoring.scorers.minhash import MinHash, normalize
    from winnow.scoring.text import words

    texts = _step_texts(which, n_docs)

    def distinct_sets():
        out = []
        for t in texts:
            w = words(normalize(t))
            out.append(list({" ".join(w[i:i + 5]) for i in range(len(w) - 4)}))
        return out

    def before():  # the step before issue 24: text work, distinct shingle strings, rensa over them
        return np.array(RMinHash.digest_matrix_from_token_sets(distinct_sets(), num_perm=112, seed=1).to_rows(),
                        dtype=np.uint32)

    sets = distinct_sets() if side == "rensa" else None
    fn = {"winnow": lambda: MinHash().signatures(texts), "before": before,
          "rensa": lambda: np.array(RMinHash.digest_matrix_from_token_sets(sets, num_perm=112, seed=1).to_rows(),
                                    dtype=np.uint32)}[side]
    t0 = time.process_time()
    sig = fn()
    cpu = time.process_time() - t0
    print(json.dumps({"docs": len(texts), "cpu": cpu, "checksum": int(sig.astype(np.uint64).sum())}))


def step(n_docs: int, rounds: int) -> None:
    sides = {"winnow": "winnow MinHash().signatures", "before": "the step before issue 24",
             "rensa": "rensa alone on pre-made shingle sets"}
    for which in ("real", "corpus"):
        label = ("every real document of ../shared/data and ../shared/labels" if which == "real" else
                 f"the first {n_docs:,} documents of bench/corpus.py (resampled paragraphs, seed 0)")
        if which == "corpus":
            _step_texts(which, n_docs)  # built once, before the timing
        best: dict[str, dict] = {}
        print(f"step: the signature step alone (5-grams, 112 hashes), {label}; each side in a fresh process, "
              f"{rounds} round(s), alternating, best kept:", flush=True)
        for r in range(rounds):
            for side in sides:
                before_load = load()
                cmd = [PY, __file__, "--step-child", side, which, "--step-docs", str(n_docs)]
                done = subprocess.run(cmd, check=True, capture_output=True, text=True)
                out = json.loads(done.stdout.splitlines()[-1])
                rate = out["docs"] / out["cpu"]
                print(f"  round {r + 1}: {sides[side]:40s} {rate:9,.0f} docs per CPU-second ({out['docs']:,} docs, "
                      f"{out['cpu']:.2f} CPU-s; load {before_load} -> {load()}; checksum {out['checksum']})",
                      flush=True)
                if side not in best or rate > best[side]["rate"]:
                    best[side] = out | {"rate": rate}
        w, b, r = (best[k]["rate"] for k in ("winnow", "before", "rensa"))
        same = len({best[k]["checksum"] for k in best}) == 1
        print(f"  best: winnow {w:,.0f}, before {b:,.0f}, rensa alone {r:,.0f} docs per CPU-second: {w / b:.2f}x the "
              f"step before, {w / r:.0%} of rensa's rate (goal 5,000: {'met' if w >= 5000 else 'NOT met'}); "
              f"same signatures on all three sides: {same}", flush=True)


# --- 3. pipeline ---------------------------------------------------------------------------

def _clusters_from_pairs(pairs: np.ndarray, n: int) -> np.ndarray:
    """Connected components over n nodes from (a, b) index pairs; -1 for nodes in none."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(pairs) == 0:
        return np.full(n, -1, dtype=np.int64)
    g = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, label = connected_components(g, directed=False)
    sizes = np.bincount(label)
    return np.where(sizes[label] > 1, label, -1).astype(np.int64)


def datatrove_clusters(work: Path, counts: list[int], tasks: int) -> np.ndarray:
    """Cluster label per document (global order: shard by shard) from datatrove's .dups pairs; -1: none.

    Rank r of the signature stage read shards r, r + tasks, ... (datatrove's get_shard), and its
    doc ids count the documents of its stream from 0."""
    starts = np.concatenate(([0], np.cumsum(counts)))
    offsets = {}
    for r in range(tasks):
        glob = []
        for s in range(r, len(counts), tasks):
            glob.append(np.arange(starts[s], starts[s + 1]))
        offsets[r] = np.concatenate(glob) if glob else np.zeros(0, dtype=np.int64)
    rows = [np.fromfile(p, dtype="<u4").reshape(-1, 4) for p in sorted((work / "buckets").glob("*.dups"))]
    rows = np.concatenate(rows) if rows else np.zeros((0, 4), dtype=np.uint32)
    a = np.array([offsets[int(f)][int(d)] for f, d in rows[:, :2]], dtype=np.int64)
    b = np.array([offsets[int(f)][int(d)] for f, d in rows[:, 2:]], dtype=np.int64)
    return _clusters_from_pairs(np.stack([a, b], axis=1) if len(a) else np.zeros((0, 2), dtype=np.int64),
                                int(starts[-1]))


def winnow_clusters(lake: Path, n_docs: int) -> np.ndarray:
    """Cluster per document (global order by id: the corpus's ids are bench-<index>); -1: none."""
    import winnow

    t = winnow.query(str(lake), "SELECT id, dup_cluster FROM docs")
    idx = np.array([int(i.rsplit("-", 1)[1]) for i in t["id"].to_pylist()], dtype=np.int64)
    out = np.full(n_docs, -1, dtype=np.int64)
    out[idx] = [-1 if c is None else int(c.rsplit("-", 1)[1]) for c in t["dup_cluster"].to_pylist()]  # an id
    return out


def recall(label: np.ndarray, truth: list) -> dict[float, float]:
    """Share of planted (copy, source) pairs in one cluster, per edit rate."""
    found: dict[float, list[int]] = {}
    for copy, source, rate in truth:
        a, b = label[int(copy.rsplit("-", 1)[1])], label[int(source.rsplit("-", 1)[1])]
        found.setdefault(rate, []).append(a >= 0 and a == b)
    return {rate: float(np.mean(v)) for rate, v in sorted(found.items())}


def pipeline(root: Path, n_docs: int, workers: int, rates: list[float]) -> None:
    corpus, manifest = planted_corpus(root, n_docs, rates)
    lake, work = root / "pipeline-lake", root / "pipeline-datatrove"
    print(f"pipeline: {n_docs:,} documents ({manifest['bytes'] / 1e6:,.0f} MB of jsonl in {SHARDS} shards, "
          f"{len(manifest['truth']):,} planted copies), {workers} workers", flush=True)
    ours = {"ingest": ingest(corpus, lake, workers, n_docs)}
    ours["score"] = winnow_score(lake, workers, n_docs)
    ours["dedup"] = winnow_dedup(lake, workers, n_docs)
    shutil.rmtree(work, ignore_errors=True)
    theirs = {s: peer(s, corpus, work, workers, n_docs) for s in ("signatures", "buckets", "cluster", "filter")}
    print(f"  datatrove: {theirs['buckets']['result']['pairs']:,} pairs, "
          f"{theirs['cluster']['result']['removed']:,} removed, {theirs['filter']['result']['kept']:,} kept")

    lake_s = ours["score"]["seconds"] + ours["dedup"]["seconds"]
    raw_s = lake_s + ours["ingest"]["seconds"]
    dt_s = sum(r["seconds"] for r in theirs.values())
    cpu = {"lake": ours["score"]["cpu_seconds"] + ours["dedup"]["cpu_seconds"],
           "dt": sum(r["cpu_seconds"] for r in theirs.values())}
    cpu["raw"] = cpu["lake"] + ours["ingest"]["cpu_seconds"]
    lake_rss = max(ours["score"]["peak_rss"], ours["dedup"]["peak_rss"])
    raw_rss = max(lake_rss, ours["ingest"]["peak_rss"])
    dt_rss = max(r["peak_rss"] for r in theirs.values())
    print("pipeline totals (wall and CPU seconds summed over the steps; peak RSS the largest step's):")
    print(f"  datatrove, 4 stages from jsonl:            {dt_s:8.1f} s  cpu {cpu['dt']:8.1f} s  "
          f"peak RSS {dt_rss / 2**20:7,.0f} MB")
    print(f"  winnow, score + dedup on the lake:         {lake_s:8.1f} s  cpu {cpu['lake']:8.1f} s  "
          f"peak RSS {lake_rss / 2**20:7,.0f} MB  = {dt_s / lake_s:.2f}x datatrove "
          f"({cpu['dt'] / cpu['lake']:.2f}x per CPU-second)")
    print(f"  winnow, ingest + score + dedup from jsonl: {raw_s:8.1f} s  cpu {cpu['raw']:8.1f} s  "
          f"peak RSS {raw_rss / 2**20:7,.0f} MB  = {dt_s / raw_s:.2f}x datatrove "
          f"({cpu['dt'] / cpu['raw']:.2f}x per CPU-second)")
    for name, s, rss in [("on the lake", lake_s, lake_rss), ("from jsonl", raw_s, raw_rss)]:
        ok = dt_s / s >= GOAL_RATIO and rss <= GOAL_RSS
        print(f"  goal (>= {GOAL_RATIO:.0f}x, peak RSS <= 4 GB) {name}: {'met' if ok else 'NOT met'}")

    ours_label = winnow_clusters(lake, n_docs)
    dt_label = datatrove_clusters(work, manifest["counts"], workers)
    rw, rd = recall(ours_label, manifest["truth"]), recall(dt_label, manifest["truth"])
    print("recall of the planted pairs (both in one cluster), winnow (threshold 0.8) / datatrove (LSH, no check):")
    for rate in rw:
        print(f"  {rate:.0%} word edits: {rw[rate]:.4f} / {rd[rate]:.4f}")
    iw, idt = ours_label >= 0, dt_label >= 0
    print(f"  documents in a cluster: winnow {iw.sum():,}, datatrove {idt.sum():,}, both {(iw & idt).sum():,}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--only", choices=["signatures", "libraries", "pipeline", "step"])
    ap.add_argument("--step-docs", type=int, default=5_000, help="corpus documents of the step section")
    ap.add_argument("--step-rounds", type=int, default=2)
    ap.add_argument("--step-child", nargs=2, metavar=("SIDE", "INPUT"), help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sig-docs", type=int, default=100_000)
    ap.add_argument("--peer-docs", type=int, default=20_000, help="datatrove's share of --sig-docs (0: all)")
    ap.add_argument("--edits", default="0.01,0.05", help="word edit rates of the planted copies, in turn")
    ap.add_argument("--keep", action="store_true", help="keep the built inputs (and reuse them next time)")
    a = ap.parse_args()
    if a.step_child:
        return step_child(*a.step_child, a.step_docs)
    rates = [float(x) for x in a.edits.split(",")]
    sig_docs = min(a.sig_docs, a.docs)
    peer_docs = sig_docs if a.peer_docs <= 0 else min(a.peer_docs, sig_docs)

    vm = psutil.virtual_memory().total / 2**30
    print(f"machine: {os.cpu_count()} cores, {vm:.1f} GiB RAM, {platform.platform()}, python "
          f"{platform.python_version()}, {datetime.now():%Y-%m-%d %H:%M}, 1-min load average {load()}; "
          f"input: bench/corpus.py (paragraphs of ../shared/data resampled, seed 0) + planted copies", flush=True)
    roots = []
    try:
        if a.only in (None, "libraries"):
            libraries()
        if a.only in (None, "step"):
            roots.append(CACHE / f"corpus-{a.step_docs}-1")
            step(a.step_docs, a.step_rounds)
        if a.only in (None, "signatures"):
            roots.append(CACHE / f"dedup-{sig_docs}")
            signatures(roots[-1], sig_docs, peer_docs, a.workers, rates)
        if a.only in (None, "pipeline"):
            roots.append(CACHE / f"dedup-{a.docs}")
            pipeline(roots[-1], a.docs, a.workers, rates)
    finally:
        for root in roots:
            if a.keep:
                print(f"inputs kept in {root}")
            else:
                shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

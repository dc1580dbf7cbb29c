"""Materializing a selection: its documents, tokenized and packed into shards for training
(format `tokens`, see train/materialize/shards.py; `megatron` and `datatrove`, the same shards
in Megatron-LM's and datatrove's formats), or as parquet / JSON lines for other trainers, or
as a Hugging Face dataset with a card of its provenance (`hf`, train/materialize/hf.py).

Ids are selected in SQL at the selection's pinned version; text is read from Lance by row
offset (never through a DuckDB join that carries text). The document order is fixed before
anything is written (`shuffle` by a portable hash of (id, seed), or `order` by a column,
a curriculum), so the same selection, tokenizer and seed give byte-identical output.

Token shards are tokenized in parallel (lake/engine.py): the ordered documents are cut
into units of a few MB of text (train/materialize/encode.py), tokenized by the workers of the `local`
engine (processes on this machine; one, this process, for a small job) or of `ray`, and
written in order by this process, which cuts the shards from the documents' token counts
by the same rule as a one-process run. So the shards, their manifest and checksums are
the same bytes whatever the engine and the number of workers. A byte-level BPE
tokenizer.json (GPT-2's kind) is encoded by train/materialize/bpe.py's exact fast encoder.

Every option, the engine, the output folder, the columns and the selection's ids are
checked before anything is written. The output folder is then one of:
- new or empty: written from the start;
- a finished materialization of the same plan: left as it is (`already`);
- an unfinished one of the same plan (`progress.json`, a run that failed or was killed):
  resumed after its last finished shard;
- anything else that is a materialization (another plan, damaged): refused, unless
  `overwrite`, which always starts over (also on an unfinished run of the same plan).
  A folder holding other files is refused even with `overwrite`.
A run that fails removes its temporary files; it keeps its finished shards and
`progress.json` (so that the same call resumes), or, when no shard was finished, removes
what it wrote. A worker that dies has its unit run again (up to the engine's limit).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winnow.lake import Lake, display
from winnow.lake.engine import Engine, LocalEngine, reach
from winnow.lake.errors import UsageError, WinnowError, check, positive
from winnow.lake.killpoints import step
from winnow.lake.progress import Progress
from winnow.lake.tokenizer import load_tokenizer
from winnow.lake.version import WINNOW_VERSION
from winnow.sql.connection import load_macros
from winnow.sql.selections import Selection, check_seed, evaluate, get

from winnow.train.materialize import OUTPUT_FORMATS, encode, hf
from winnow.train.materialize.bpe import fast_encoder
from winnow.train.materialize.shards import (CHECKSUM, FORMAT_VERSION, TOKEN_OUTPUTS, ShardError, ShardWriter,
                                             file_checksum, layout, open_shards)

DEFAULT_SHARD_TOKENS = 1 << 28
DEFAULT_SHARD_DOCS = 100_000  # parquet / jsonl
CHUNK_DOCS = 1024  # parquet / jsonl: documents taken from Lance at a time
UNITS_PER_WORKER = 8  # units of work per worker (token shards), for balance
UNIT_BYTES = (1 << 18, 1 << 23)  # the least and most text in one unit: 256 KB to 8 MB
BYTES_PER_PROCESS = 1 << 26  # local engine, no --workers: a process more per 64 MB of text


class MaterializeError(WinnowError):
    """A materialization that failed while writing (one clear line)."""


class MaterializeUsageError(MaterializeError, UsageError):
    """A materialization asked for with a bad option, output folder, column or selection."""


@display.shown
@dataclass
class MaterializeResult:
    out: str
    format: str
    documents: int
    tokens: int
    shards: int
    seconds: float
    resumed_from_shard: int = 0
    already: bool = False  # the folder already held this materialization: nothing was written
    engine: str = "local"
    workers: int = 1  # that tokenized (token shards); parquet / jsonl are written by this process
    encoder: str | None = None  # what produced the token ids: the tokenizer's library, or the fast BPE

    def _summary(self) -> str:
        return (f"{self.out!r}, {self.format}: {self.documents:,} documents, {self.tokens:,} tokens, "
                f"{self.shards:,} shard(s)")

    def _view(self) -> display.View:
        v = display.View(f"materialize {self.format} → {self.out}", [
            ("documents", self.documents), ("tokens", self.tokens), ("shards", self.shards),
            ("seconds", round(self.seconds, 2)),
            ("tokens/s", round(self.tokens / self.seconds) if self.seconds and self.tokens else None),
            ("engine", f"{self.engine}, {self.workers} worker(s)"), ("encoder", self.encoder)])
        if self.already:
            v.fields.append(("already there", "nothing was written"))
        elif self.resumed_from_shard:
            v.fields.append(("resumed from shard", self.resumed_from_shard))
        return v


def check_options(format: str, tokenizer, seq_len: int, shuffle: int | None, order: str | None,
                  columns: list[str] | None, shard_tokens: int, shard_docs: int) -> None:
    """Refuse a bad option (a UsageError naming it), before anything is read or written."""
    check(format in OUTPUT_FORMATS, f"--format {format!r}: use one of {', '.join(OUTPUT_FORMATS)}")
    if format in TOKEN_OUTPUTS:
        check(tokenizer is not None, f"--format {format} needs --tokenizer")
        check(not columns, f"--column {columns[0] if columns else ''}: columns are kept only with --format "
                           "parquet or jsonl or hf (token shards hold token ids)")
    else:
        check(tokenizer is None, f"--tokenizer: --format {format} writes text, not tokens (drop --tokenizer)")
    check(shuffle is None or order is None, "give --shuffle or --order, not both")
    for value, option in ((seq_len, "--seq-len"), (shard_tokens, "--shard-tokens"), (shard_docs, "--shard-docs")):
        positive(value, option)
    if shuffle is not None:
        check_seed(shuffle, "--shuffle")


def check_out(out: Path) -> None:
    """Refuse an output path that cannot be a folder (a file, or under a file)."""
    check(not out.exists() or out.is_dir(), f"--out {out} is a file, not a folder")
    parent = next((p for p in out.parents if p.exists()), None)
    check(parent is None or parent.is_dir(), f"--out {out}: {parent} is a file, not a folder")


def check_columns(columns: list[str] | None, names: list[str]) -> None:
    for c in columns or []:
        check(c in names, f"--column {c!r}: docs has no such column (it has {', '.join(names)})")


def ordered_ids(lake: Lake, sel: Selection, shuffle: int | None, order: str | None, desc: bool) -> pa.Array:
    """The selected ids in training order."""
    rows = evaluate(lake, sel)
    if order is not None:
        if order not in rows.column_names:
            docs = lake.docs(sel.lake_version)
            check(order in docs.schema.names,
                  f"--order {order!r}: neither the selection {sel.name!r} nor docs has such a column")
            extra = docs.to_table(columns=["id", order], filter=pc.field("id").isin(rows["id"]))
            rows = pa.table({"id": extra["id"], order: extra[order]})
        keys = [(order, "descending" if desc else "ascending"), ("id", "ascending")]
        try:
            return rows.select(["id", order]).sort_by(keys)["id"].combine_chunks()
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid) as e:
            raise UsageError(f"--order {order!r}: cannot sort by a column of type {rows[order].type}") from e
    seed = sel.seed if shuffle is None else shuffle
    con = duckdb.connect()
    load_macros(con)
    con.register("ids", rows.select(["id"]))
    result = con.sql(f"SELECT id FROM ids ORDER BY uniform(id, {int(seed)}), id").to_arrow_table()
    return result["id"].combine_chunks()


def _offsets(docs, sel: Selection, ids: pa.Array) -> np.ndarray:
    """Row offsets of `ids` in docs at the pinned version (docs rows are never deleted); one
    clear error for an id docs does not have."""
    all_ids = docs.to_table(columns=["id"])["id"]
    pos = pc.index_in(ids, value_set=all_ids)
    if pos.null_count:
        missing = ids.filter(pc.is_null(pos))
        more = f" (and {len(missing) - 1:,} more)" if len(missing) > 1 else ""
        raise MaterializeUsageError(
            f"selection {sel.name!r}: id {missing[0].as_py()!r}{more} is not in docs at the selection's version "
            f"{sel.lake_version}; redefine the selection")
    return pos.to_numpy()


def materialize(
    lake: Lake,
    name: str,
    out: str | os.PathLike,
    *,
    tokenizer: str | None = None,
    format: str = "tokens",
    seq_len: int = 2048,
    shuffle: int | None = None,
    order: str | None = None,
    desc: bool = False,
    columns: list[str] | None = None,
    bos: bool = True,
    eos: bool = True,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    shard_docs: int = DEFAULT_SHARD_DOCS,
    overwrite: bool = False,
    progress: Progress | None = None,
    engine: Engine | None = None,
) -> MaterializeResult:
    """Write selection `name` into folder `out` (see the module's docstring for what happens
    to what `out` already holds). `engine` says where token shards are tokenized (default: a
    local engine): its `workers`, else, on an engine that runs in this process (local), one
    process more per 64 MB of text up to the engine's size; elsewhere (Ray), the engine's
    size. Returns what was written (`already` when nothing was)."""
    t0 = time.perf_counter()
    columns = list(columns) if columns else []
    check_options(format, tokenizer, seq_len, shuffle, order, columns, shard_tokens, shard_docs)
    eng = engine if engine is not None else LocalEngine()
    workers = eng.workers
    reach(eng, lake.uri, UsageError)
    if format == "tokens" and not lake.uri.startswith("memory://"):
        eng.warm(encode.encode, encode.worker)  # while the selection and the tokenizer load here
    out = Path(out)
    check_out(out)
    sel = get(lake, name)
    docs = lake.docs(sel.lake_version)
    check_columns(columns, docs.schema.names)
    tokens = format in TOKEN_OUTPUTS
    tok = load_tokenizer(tokenizer) if tokens else None
    fast = fast_encoder(tok)[0] if tok is not None else None
    ids = ordered_ids(lake, sel, shuffle, order, desc)
    if len(ids) == 0:
        raise MaterializeUsageError(f"selection {sel.name} has no documents; nothing to materialize")
    offsets = _offsets(docs, sel, ids)
    plan = {
        "selection": {"name": sel.name, "sql": sel.sql, "lake_version": sel.lake_version, "seed": sel.seed,
                      "lake": lake.uri},
        "order": {"by": order, "descending": desc} if order else {"shuffle_seed": sel.seed if shuffle is None else shuffle},
        "output": format, "columns": columns, "bos": bos, "eos": eos, "seq_len": seq_len,
        "shard_tokens": shard_tokens, "shard_docs": shard_docs,
        "tokenizer": None if tok is None else {"name": tok.name, "sha256": tok.sha256, "vocab_size": tok.vocab_size,
                                               "bos_id": tok.bos_id, "eos_id": tok.eos_id},
        "ids_sha256": hashlib.sha256("\n".join(ids.to_pylist()).encode()).hexdigest(),
    }
    state, found = _existing(out, plan)
    if state == "finished" and not overwrite:
        (out / "progress.json").unlink(missing_ok=True)  # a run killed right after its manifest
        return MaterializeResult(str(out), format, found["documents"], found["tokens"],
                                 len(found["shards"]), time.perf_counter() - t0, already=True, engine=eng.name)
    created = not out.exists()
    done = _prepare(out, plan, state, found, overwrite)
    step("materialize:started")
    start_doc = sum(s["documents"] for s in done)
    used = 1
    if progress:
        progress.start(f"materialize {sel.name}", len(ids), "docs")
        progress.advance(start_doc, tokens=sum(s.get("tokens", 0) for s in done))
    try:
        if tokens:
            nbytes = pc.fill_null(docs.take(offsets[start_doc:], columns=["n_bytes"])["n_bytes"], 0).to_numpy()
            used = _workers(eng, workers, lake, int(nbytes.sum()))
            if used != eng.workers:
                eng = eng.with_workers(used)
            job = (lake, sel, docs, tok, fast, used)
            shards = _write_tokens(eng, job, ids, offsets, nbytes, out, plan, done, start_doc, progress)
        else:
            shards = _write_documents(docs, ids, offsets, out, plan, done, start_doc, progress)
        manifest = {
            "format": layout(format).format if tokens else f"winnow-{format}",
            "format_version": FORMAT_VERSION,
            **plan,
            "dtype": layout(format).dtype(tok.vocab_size).name if tok else None,
            # where the tokenizer was read from (not part of the plan: the sha256 is its identity)
            "tokenizer_path": None if tok is None else (os.path.abspath(tok.spec) if os.path.exists(tok.spec) else tok.spec),
            "documents": sum(s["documents"] for s in shards),
            "tokens": sum(s.get("tokens", 0) for s in shards),
            "shards": shards,
            "winnow_version": WINNOW_VERSION,
            "created_at": datetime.now(timezone.utc).isoformat(),
        }
        if format == "hf":
            hf.write_card(out, lake, sel, manifest)
        _write_json(out / "manifest.json", manifest)
        step("materialize:manifest")
    except BaseException as e:
        kept = _after_failure(out, created)
        if isinstance(e, OSError):
            raise MaterializeError(f"{out}: materialization failed: {e.strerror or e}; {kept}") from e
        raise
    finally:
        if progress:
            progress.stop()
    (out / "progress.json").unlink(missing_ok=True)
    encoder = None if tok is None else ("fast byte-level BPE (tiktoken)" if fast else tok.kind)
    return MaterializeResult(str(out), format, manifest["documents"], manifest["tokens"], len(shards),
                             time.perf_counter() - t0, resumed_from_shard=len(done), engine=eng.name, workers=used,
                             encoder=encoder)


def _workers(eng: Engine, workers: int | None, lake: Lake, text_bytes: int) -> int:
    """How many workers tokenize: --workers; on an engine that runs in this process, one
    process more per BYTES_PER_PROCESS of text (a local worker costs ~0.15 CPU-seconds to
    start, the fork server it comes from ~0.3 once: bench/workers.py) up to the engine's
    size, and one for a memory:// lake (its store lives in this process); elsewhere the
    engine's size (Ray: the cluster's CPUs)."""
    if lake.uri.startswith("memory://"):
        return 1
    if workers:
        return workers
    if not eng.runs_in_process:
        return eng.size(0)
    return max(1, min(eng.size(0), text_bytes // BYTES_PER_PROCESS))


def _read_json(path: Path):
    try:
        return json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _existing(out: Path, plan: dict) -> tuple[str, object]:
    """What `out` holds: ("empty", None), ("finished", manifest), ("partial", finished shards),
    ("other", what), ("damaged", what) or ("foreign", None)."""
    if not out.exists() or not any(out.iterdir()):
        return "empty", None
    manifest_path, progress_path = out / "manifest.json", out / "progress.json"
    if manifest_path.is_file():
        manifest = _read_json(manifest_path)
        if not isinstance(manifest, dict):
            return "damaged", f"{manifest_path} is not readable JSON"
        if any(manifest.get(k) != v for k, v in plan.items()):
            return "other", "a materialization of another plan"
        problem = _damage(out, manifest)
        return ("damaged", problem) if problem else ("finished", manifest)
    if progress_path.is_file():
        state = _read_json(progress_path)
        if not isinstance(state, dict) or not isinstance(state.get("shards"), list):
            return "damaged", f"{progress_path} is not readable JSON"
        if state.get("plan") != plan:
            return "other", "an unfinished materialization of another plan"
        files = [str(entry.get("file")) for entry in state["shards"]]
        if plan["output"] in TOKEN_OUTPUTS:
            files = [part for f in files for part in layout(plan["output"]).files(f)]
        missing = next((f for f in files if not (out / f).is_file()), None)
        if missing:
            return "damaged", f"an unfinished materialization whose {missing} is missing"
        return "partial", state["shards"]
    return "foreign", None


def _damage(out: Path, manifest: dict) -> str | None:
    """What is wrong with the files of a finished materialization (None: nothing found)."""
    if manifest.get("output") in TOKEN_OUTPUTS:
        try:
            open_shards(out, verify=False)
        except ShardError as e:
            return str(e)
        return None
    files = [str(entry.get("file")) for entry in manifest.get("shards") or []]
    for file in files + (["README.md"] if manifest.get("output") == "hf" else []):
        if not (out / file).is_file():
            return f"{out / file} is missing"
    return None


def _prepare(out: Path, plan: dict, state: str, found, overwrite: bool) -> list[dict]:
    """Shards finished by an earlier run of the same plan (resumed); a fresh folder otherwise."""
    if state == "foreign":
        raise MaterializeUsageError(f"--out {out} holds files that are not a winnow materialization; choose an "
                                    "empty or new folder (--overwrite replaces only a materialization)")
    if not overwrite:
        if state == "partial":
            for tmp in out.rglob("*.tmp"):
                tmp.unlink()
            return found
        if state in ("other", "damaged"):
            raise MaterializeUsageError(f"--out {out} holds {found} (pass --overwrite to start over)")
    try:
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
    except OSError as e:
        raise MaterializeUsageError(f"--out {out}: cannot create the folder ({e.strerror or e})") from e
    _record(out, plan, [])
    return []


def _after_failure(out: Path, created: bool) -> str:
    """Tidy up after a failed run: temporary files go; finished shards and progress.json stay
    for a resume, or, when no shard was finished, everything this run wrote goes. Says which."""
    for tmp in out.rglob("*.tmp"):
        tmp.unlink(missing_ok=True)
    state = _read_json(out / "progress.json")
    finished = len(state.get("shards", [])) if isinstance(state, dict) else 0
    if finished:
        return f"{finished} finished shard(s) kept in {out}: run it again to resume"
    if created:
        shutil.rmtree(out, ignore_errors=True)
    else:
        for path in out.iterdir():
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    return "no shard was finished, nothing kept"


def _record(out: Path, plan: dict, shards: list[dict]) -> None:
    _write_json(out / "progress.json", {"plan": plan, "shards": shards})


def _write_json(path: Path, value) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(value, indent=1, default=str))
    os.replace(tmp, path)


def _chunks(n: int, start: int):
    for i in range(start, n, CHUNK_DOCS):
        yield i, min(i + CHUNK_DOCS, n)


def _ranges(nbytes: np.ndarray, start: int, workers: int) -> list[tuple[int, int]]:
    """Documents `start` onwards cut into consecutive units of about the same text:
    UNITS_PER_WORKER per worker, each within UNIT_BYTES (a longer document is a unit alone)."""
    if not len(nbytes):
        return []
    size = min(max(int(nbytes.sum()) // (UNITS_PER_WORKER * workers), UNIT_BYTES[0]), UNIT_BYTES[1])
    unit = (np.cumsum(nbytes) - nbytes) // size  # the unit a document starts in
    cuts = [0, *(np.flatnonzero(np.diff(unit)) + 1).tolist(), len(nbytes)]
    return [(start + a, start + b) for a, b in zip(cuts, cuts[1:])]


def _in_order(results):
    """Engine results `(index, result)`, which come in any order, in index order."""
    waiting, upto = {}, 0
    for k, result in results:
        waiting[k] = result
        while upto in waiting:
            yield upto, waiting.pop(upto)
            upto += 1


def _write_tokens(eng: Engine, job, ids, offsets, nbytes, out, plan, done, start_doc, progress) -> list[dict]:
    """Tokenize documents `start_doc` onwards on `eng` and write them, in order, into shards
    after the finished ones (`done`); returns every shard's manifest entry."""
    lake, sel, docs, tok, fast, workers = job
    shards = list(done)
    id_list = ids.to_pylist()
    units = [encode.Unit(a, b, offsets[a:b], id_list[a:b]) for a, b in _ranges(nbytes, start_doc, workers)]
    threads = eng.threads_per_worker(workers)
    encode.keep(tok, lake.uri, sel.lake_version, docs)  # a worker in this process reuses them
    prefix = [tok.bos_id] if plan["bos"] and tok.bos_id is not None else []
    suffix = [tok.eos_id] if plan["eos"] and tok.eos_id is not None else []
    args = (lake.uri, lake.storage_options, sel.lake_version, encode.portable(tok, fast), prefix, suffix,
            tok.vocab_size, threads)
    writer = ShardWriter(out, tok.vocab_size, plan["shard_tokens"], first_shard=len(done),
                         layout=layout(plan["output"]), tokenizer=tok.name)
    try:
        with closing(eng.map(encode.encode, units, init=encode.worker, args=args, describe=str)) as results:
            for k, (tokens, lengths) in _in_order(results):
                for entry in writer.add_many(units[k].ids, tokens, lengths):
                    shards.append(entry)
                    _record(out, plan, shards)
                    step("materialize:shard")
                if progress:
                    progress.advance(len(lengths), tokens=int(lengths.sum()))
        last = writer.close_shard()
        if last:
            shards.append(last)
    finally:
        writer.abandon()
    return shards


def _write_documents(docs, ids, offsets, out, plan, done, start_doc, progress) -> list[dict]:
    shards = list(done)
    columns = ["id", "text", *[c for c in plan["columns"] if c not in ("id", "text")]]
    per_shard = plan["shard_docs"]
    index = len(done)
    pos = start_doc
    count = -(-len(ids) // per_shard)
    while pos < len(ids):
        end = min(pos + per_shard, len(ids))
        if plan["output"] == "hf":  # the Hub's names (push_to_hub's), which the card's data_files match
            name = f"{hf.DATA}/train-{index:05d}-of-{count:05d}.parquet"
            (out / hf.DATA).mkdir(exist_ok=True)
        else:
            name = f"part-{index:05d}.{'parquet' if plan['output'] == 'parquet' else 'jsonl'}"
        tmp = out / (name + ".tmp")
        parts = [docs.take(offsets[a:b], columns=columns) for a, b in _chunks(end, pos)]
        table = pa.concat_tables(parts) if parts else None
        if plan["output"] in ("parquet", "hf"):
            pq.write_table(table, tmp)
        else:
            with open(tmp, "wb") as f:
                for row in table.to_pylist():
                    f.write(orjson.dumps(row, default=str) + b"\n")
        os.replace(tmp, out / name)
        shards.append({"file": name, "documents": end - pos, CHECKSUM: file_checksum(out / name)})
        _record(out, plan, shards)
        step("materialize:shard")
        if progress:
            progress.advance(end - pos)
        pos, index = end, index + 1
    return shards

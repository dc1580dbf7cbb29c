"""A selection as a Hugging Face dataset (`--format hf`): the folder `datasets.load_dataset(DIR)`
opens offline, laid out as `push_to_hub` lays out a dataset on the Hub, so it can be
uploaded as it is.

    README.md                             the dataset card: YAML metadata (the data files of the
                                          `train` split, its features and row count, which
                                          `datasets` checks on load) and the provenance below
    data/train-00000-of-00003.parquet     the documents' `id`, `text` and `--column`s, in the
                                          materialization's order
    manifest.json                         winnow's: the plan, per file its rows and xxh3_128

The card records where every row came from: the selection's SQL, seed, pinned lake version
and the lake, the selections it leaves out (each with its own SQL, seed and version), every
score column its SQL reads with the scorer, scorer version and parameters that wrote it (the
catalog's row in effect at the pinned version), the documents, characters, bytes and tokens,
and the order. `load_from_disk` is not the reader: it opens `save_to_disk`'s Arrow files, and
`load_dataset(DIR)["train"].save_to_disk(...)` makes them.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winnow.lake import Lake
from winnow.sql.selections import Selection, get

DATA = "data"  # the folder of the parquet files


def used_columns(sql: str, names: list[str]) -> list[str]:
    """The columns of `names` but `id` that `sql` names as identifiers (not in strings or
    comments), in the order of `names`; DuckDB's tokenizer finds them, compared case-insensitively."""
    starts = duckdb.tokenize(sql)
    found = set()
    for k, (at, kind) in enumerate(starts):
        if kind != duckdb.token_type.identifier:
            continue
        end = starts[k + 1][0] if k + 1 < len(starts) else len(sql)
        word = sql[at:end].strip().rstrip(",;()").strip()
        found.add(word[1:-1] if word.startswith('"') and word.endswith('"') else word.lower())
    return [n for n in names if n != "id" and (n in found or n.lower() in found)]


def metric_rows(lake: Lake, columns: list[str], version: int) -> dict[str, dict]:
    """Each metric column's catalog row in effect at lake `version`: its last `done` row that
    version had (the latest `done` row for a column scored later, which says so by its version)."""
    log = lake.dataset("metrics").to_table()
    rows = {}
    for row in log.filter(pc.is_in(log["metric"], value_set=pa.array(columns, pa.string()))).to_pylist():
        if row["status"] != "done":
            continue
        before = row["lake_version"] is None or row["lake_version"] <= version
        kept = rows.get(row["metric"])
        if kept is None or before or not kept["_before"]:
            rows[row["metric"]] = {**row, "_before": before}
    return rows


def _yaml(value) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON scalar is a YAML flow scalar


def _features(schema: pa.Schema) -> list[str]:
    types = {pa.string(): "string", pa.large_string(): "large_string", pa.int64(): "int64", pa.int32(): "int32",
             pa.float64(): "float64", pa.float32(): "float32", pa.bool_(): "bool"}
    lines = []
    for field in schema:
        if field.type not in types:
            return []  # a type the card does not spell: `datasets` reads the features from the parquet files
        lines += [f"  - name: {_yaml(field.name)}", f"    dtype: {types[field.type]}"]
    return lines


def _fence(sql: str) -> str:
    return "```sql\n" + sql.strip() + "\n```"


def card(lake: Lake, sel: Selection, manifest: dict, schema: pa.Schema, totals: dict) -> str:
    """The dataset card's text (see the module)."""
    docs = lake.docs(sel.lake_version)
    excluded = [get(lake, name) for name in sel.exclude]
    columns = used_columns(sel.sql, docs.schema.names)
    for other in excluded:
        columns += [c for c in used_columns(other.sql, docs.schema.names) if c not in columns]
    metrics = metric_rows(lake, columns, sel.lake_version)
    features = _features(schema)
    head = ["---", "configs:", "- config_name: default", "  data_files:", "  - split: train",
            f"    path: {DATA}/train-*.parquet", "dataset_info:"]
    if features:
        head += ["  features:", *features]
    head += ["  splits:", "  - name: train", f"    num_examples: {manifest['documents']}",
             "tags:", "- winnow", f"- winnow-selection-{sel.name}", "---", ""]
    order = manifest["order"]
    how = (f"by `{order['by']}` {'descending' if order['descending'] else 'ascending'}, then id" if "by" in order
           else f"shuffled by `uniform(id, {order['shuffle_seed']})` (seed {order['shuffle_seed']})")
    tokens = (f"{totals['tokens']:,} ({totals['tokens_by']})" if totals.get("tokens") is not None
              else "not counted (the lake has no `n_tokens` column: `winnow score LAKE tokens`)")
    body = [
        f"# {sel.name}", "",
        f"The documents of the winnow selection `{sel.name}`, materialized by winnow {manifest['winnow_version']} "
        f"at {manifest['created_at']}.", "",
        "## Contents", "",
        "| | |", "|---|---|",
        f"| documents | {manifest['documents']:,} |",
        f"| characters | {totals['chars']:,} |",
        f"| bytes of text (UTF-8) | {totals['bytes']:,} |",
        f"| tokens | {tokens} |",
        f"| files | {len(manifest['shards'])} parquet file(s) under `{DATA}/` |",
        f"| columns | {', '.join(f'`{c}`' for c in schema.names)} |",
        f"| order | {how} |", "",
        "## Provenance", "",
        f"- lake: `{manifest['selection']['lake']}`, version {sel.lake_version} "
        f"(pinned by the Lance tag `{sel.tag}`)",
        f"- seed: {sel.seed} (the SQL's `seed()`)",
        f"- selection created at: {sel.created_at}",
        "- excludes: " + (", ".join(f"`{o.name}`" for o in excluded) if excluded else "nothing"), "",
        "The selection's SQL:", "", _fence(sel.sql), "",
    ]
    for other in excluded:
        body += [f"### Excluded: `{other.name}`", "",
                 f"Its documents (seed {other.seed}, lake version {other.lake_version}, created {other.created_at}) "
                 "are not in `docs` for the SQL above:", "", _fence(other.sql), ""]
    body += ["## Score columns", ""]
    if columns:
        body += ["| column | scorer | version | parameters | rows scored | scored at lake version |",
                 "|---|---|---|---|---|---|"]
        for c in columns:
            m = metrics.get(c)
            if m is None:
                body.append(f"| `{c}` | (a column of the lake itself) | | | | |")
            else:
                params = json.dumps(json.loads(m["params"] or "{}"), sort_keys=True).replace("|", "\\|")
                body.append(f"| `{c}` | `{m['scorer']}` | {m['scorer_version']} | `{params}` | {m['rows']:,} | "
                            f"{m['lake_version']} |")
    else:
        body.append("The SQL reads no column of `docs` but its ids.")
    body += ["", "## Selecting it again", "",
             "On the lake at that version, the SQL with the seed (and the exclusions) gives these ids again:", "",
             "```sh", f"winnow select create {manifest['selection']['lake']} {sel.name} \"$SQL\" --seed {sel.seed}"
             + "".join(f" --exclude {o.name}" for o in excluded), "```", ""]
    return "\n".join(head + body)


def write_card(out: Path, lake: Lake, sel: Selection, manifest: dict) -> None:
    """Write `out/README.md` for a finished `hf` materialization (its files all written)."""
    files = [out / entry["file"] for entry in manifest["shards"]]
    schema = pq.read_schema(files[0])
    ids = pa.concat_arrays([pq.read_table(f, columns=["id"])["id"].combine_chunks() for f in files])
    docs = lake.docs(sel.lake_version)
    wanted = ["n_chars", "n_bytes", *(["n_tokens"] if "n_tokens" in docs.schema.names else [])]
    rows = docs.to_table(columns=wanted, filter=pc.field("id").isin(ids))
    totals = {"chars": pc.sum(rows["n_chars"]).as_py() or 0, "bytes": pc.sum(rows["n_bytes"]).as_py() or 0}
    if "n_tokens" in wanted and rows["n_tokens"].null_count == 0:
        tokenizer = json.loads((metric_rows(lake, ["n_tokens"], sel.lake_version).get("n_tokens") or
                                {"params": "{}"})["params"] or "{}").get("tokenizer")
        totals["tokens"] = pc.sum(rows["n_tokens"]).as_py() or 0
        totals["tokens_by"] = "the lake's `n_tokens`" + (f", tokenizer `{tokenizer}`" if tokenizer else "")
    tmp = out / "README.md.tmp"
    tmp.write_text(card(lake, sel, manifest, schema, totals))
    tmp.replace(out / "README.md")

"""The lake's tables and their Arrow schemas.

`docs` holds each document once; scorers later add one column per metric beside these.
`rejects` keeps every input record that did not become a document, with its reason.
"""

import pyarrow as pa

# Rows per fragment of `docs` at most (Lance's default is 1,048,576). A scoring job writes
# each fragment's column as one file, rewritten at each of its commits (every --commit-rows
# rows) until the fragment is done: smaller fragments bound that rewriting (measured: a
# 1M-row fragment scored with `minhash` left 7.1 GB of superseded column files).
FRAGMENT_ROWS = 1 << 17

DOCS = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        # Stored uncompressed by default: Lance's default string compression writes at
        # ~60 MB/s on one core (10x slower) and scans 3x slower, for 1.6x less disk.
        # `winnow init --compress-text` keeps Lance's compression instead.
        pa.field("text", pa.string(), nullable=False, metadata={"lance-encoding:compression": "none"}),
        pa.field("source", pa.string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("meta", pa.string()),  # JSON object: the input's other fields
        pa.field("n_chars", pa.int64(), nullable=False),
        pa.field("n_bytes", pa.int64(), nullable=False),
        pa.field("content_hash", pa.string(), nullable=False),  # xxh3-128 of the UTF-8 text, hex
        pa.field("ingest_id", pa.string(), nullable=False),
        pa.field("input_row", pa.int64(), nullable=False),  # 1-based position in its input
    ]
)

REJECTS = pa.schema(
    [
        pa.field("ingest_id", pa.string(), nullable=False),
        pa.field("input", pa.string(), nullable=False),
        pa.field("input_row", pa.int64(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),  # a stable code: see ingest/documents.py
        pa.field("detail", pa.string()),  # the error message, for people
        pa.field("raw", pa.string()),  # the record as read, truncated
    ]
)

# Catalog: one row per state change of an ingest; the latest row of an ingest_id is its state.
INGESTS = pa.schema(
    [
        pa.field("ingest_id", pa.string(), nullable=False),
        pa.field("input", pa.string(), nullable=False),
        pa.field("fingerprint", pa.string(), nullable=False),  # xxh3-128 of the input's bytes
        pa.field("format", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),  # running | done | failed
        pa.field("n_read", pa.int64()),
        pa.field("n_written", pa.int64()),
        pa.field("n_duplicates", pa.int64()),
        pa.field("n_rejected", pa.int64()),
        pa.field("started_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("ended_at", pa.timestamp("us", tz="UTC")),
        pa.field("lake_version", pa.int64()),  # lake version this ingest's last commit produced
        pa.field("winnow_version", pa.string(), nullable=False),
        # JSON object: the options that decide what the input yields (see ingest/identity.py)
        pa.field("options", pa.string()),
    ]
)

# Catalog: one row per state change of a metric job; the latest row of a column is its state.
METRICS = pa.schema(
    [
        pa.field("metric", pa.string(), nullable=False),  # the column name in docs
        pa.field("scorer", pa.string(), nullable=False),
        pa.field("scorer_version", pa.string(), nullable=False),
        pa.field("params", pa.string()),  # JSON object
        pa.field("status", pa.string(), nullable=False),  # running | done | failed
        pa.field("rows", pa.int64()),  # rows holding a value once done
        pa.field("seconds", pa.float64()),
        pa.field("lake_version", pa.int64()),  # lake version the job's last commit produced
        pa.field("at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("winnow_version", pa.string(), nullable=False),
        pa.field("error", pa.string()),  # why a failed job failed (one line)
    ]
)

# Catalog: named selections, each pinned to the lake version it reads (latest row wins).
SELECTIONS = pa.schema(
    [
        pa.field("name", pa.string(), nullable=False),
        pa.field("sql", pa.string(), nullable=False),
        pa.field("lake_version", pa.int64(), nullable=False),  # lake version; also a Lance tag
        pa.field("seed", pa.int64(), nullable=False),
        pa.field("documents", pa.int64()),  # at creation
        pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("winnow_version", pa.string(), nullable=False),
        pa.field("exclude", pa.list_(pa.string())),  # selections whose documents it leaves out
    ]
)

# A point of a loss curve: tokens trained so far, and the loss there.
CURVE = pa.list_(pa.struct([pa.field("tokens", pa.int64()), pa.field("loss", pa.float64())]))

# Catalog: training runs of `winnow compare`, one row per finished run (latest row of a run_id wins).
# A run is identified by what decides its result (run_id: a hash of the fields marked "key").
RUNS = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("selection", pa.string(), nullable=False),  # key
        pa.field("lake_version", pa.int64(), nullable=False),  # key: the selection's pinned version
        pa.field("flavor", pa.string(), nullable=False),  # key
        pa.field("config_hash", pa.string(), nullable=False),  # key: sha256 of the run's configuration
        pa.field("tokens", pa.int64(), nullable=False),  # key: the token budget asked for
        pa.field("seed", pa.int64(), nullable=False),  # key
        pa.field("validation", pa.string(), nullable=False),  # key: the validation selection
        pa.field("validation_version", pa.int64(), nullable=False),  # key: its pinned version
        pa.field("steps", pa.int64(), nullable=False),
        pa.field("tokens_per_step", pa.int64(), nullable=False),
        pa.field("train_loss", CURVE),
        pa.field("validation_loss", CURVE),
        pa.field("tokens_per_second", pa.float64()),  # mean over the logged steps, all ranks together
        pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("run_folder", pa.string(), nullable=False),
        pa.field("winnow_version", pa.string(), nullable=False),
    ]
)

# Catalog: statistics of docs' columns per lake version (sql/stats.py), computed once when a
# query first normalizes a column at that version, so that `zscore(x)` is arithmetic on constants.
# `column` is a column name or an SQL expression over docs' columns; NaN and NULL are unknown.
COLUMN_STATS = pa.schema(
    [
        pa.field("column", pa.string(), nullable=False),
        pa.field("lake_version", pa.int64(), nullable=False),
        pa.field("count", pa.int64(), nullable=False),  # known values
        pa.field("unknown", pa.int64(), nullable=False),  # NULL or NaN
        pa.field("mean", pa.float64()),  # NULL when no value is known
        pa.field("std", pa.float64()),  # population standard deviation
        pa.field("min", pa.float64()),
        pa.field("max", pa.float64()),
        pa.field("computed_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("winnow_version", pa.string(), nullable=False),
    ]
)

LAKE = pa.schema(
    [
        pa.field("format_version", pa.int32(), nullable=False),
        pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("winnow_version", pa.string(), nullable=False),
    ]
)

FORMAT_VERSION = 1


def docs_schema(compress_text: bool = False) -> pa.Schema:
    """The `docs` schema a new lake is created with."""
    if not compress_text:
        return DOCS
    i = DOCS.get_field_index("text")
    return DOCS.set(i, DOCS.field(i).remove_metadata())

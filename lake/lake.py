"""A lake: Lance datasets under one URI, opened with one set of storage options.

Layout under the lake's URI:

    docs.lance               the documents, one column per metric added beside them
    rejects.lance            input records that did not become documents, with reasons
    _catalog/lake.lance      format version and creation time (marks a lake)
    _catalog/ingests.lance   one row per state change of an ingest
    _catalog/metrics.lance   one row per state change of a metric column (scorer, version, ...)
    _catalog/selections.lance  named selections: SQL, seed, the lake version they are pinned to
    _catalog/runs.lance      training runs of `winnow compare`: keys, loss curves, tokens/s

Every `Lake.dataset()` call returns a fresh snapshot; record its `.version` with
anything derived from it.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import lance
import pyarrow as pa
from lance.dataset import LanceDataset

from winnow.lake import schema
from winnow.lake.errors import UsageError, WinnowError
from winnow.lake.version import WINNOW_VERSION

TABLES = {
    "docs": ("docs.lance", schema.DOCS),
    "rejects": ("rejects.lance", schema.REJECTS),
    "lake": ("_catalog/lake.lance", schema.LAKE),
    "ingests": ("_catalog/ingests.lance", schema.INGESTS),
    "metrics": ("_catalog/metrics.lance", schema.METRICS),
    "selections": ("_catalog/selections.lance", schema.SELECTIONS),
    "runs": ("_catalog/runs.lance", schema.RUNS),
    "column_stats": ("_catalog/column_stats.lance", schema.COLUMN_STATS),
}
CATALOG_TABLES = ("ingests", "metrics", "selections", "runs", "column_stats")
STORAGE_OPTIONS_ENV = "WINNOW_STORAGE_OPTIONS"
SESSION_CACHE_BYTES = 256 << 20


class LakeError(WinnowError):
    """A lake cannot be created, opened or read as asked."""


class LakeNotFound(LakeError, UsageError):
    """No lake where the user pointed, or one already there when creating."""


class LakeUsageError(LakeError, UsageError):
    """A lake that cannot be reached as given: a storage option is missing or wrong."""


class TableNotFound(LakeError):
    """A table of the lake is not there (a lake not yet created, or created by an older winnow)."""


# What the object store said -> the setting that is missing (named in the error line).
STORE_HINTS = (
    ("resolve region", "the bucket's region: -o aws_region=REGION (or AWS_REGION)"),
    ("credential", "credentials: -o aws_access_key_id=... -o aws_secret_access_key=... (or AWS_* variables)"),
    ("InvalidAccessKeyId", "credentials: -o aws_access_key_id=... -o aws_secret_access_key=..."),
    ("SignatureDoesNotMatch", "credentials: -o aws_secret_access_key=..."),
    ("error sending request", "a reachable endpoint: -o aws_endpoint=URL (-o allow_http=true for http://)"),
    ("builder error", "a reachable endpoint: -o aws_endpoint=URL (-o allow_http=true for http://)"),
    ("HTTP", "-o allow_http=true for an http:// endpoint"),
)
STORAGE_HELP = f"storage options are -o KEY=VALUE or {'WINNOW_STORAGE_OPTIONS'} (a JSON object)"


def clean_message(e: BaseException) -> str:
    """An error from Lance or Arrow as one line, without the Rust source locations it carries."""
    text = " ".join(str(e).split())
    text = re.sub(r",? ?/\S+\.rs:\d+:\d+", "", text)
    return text.replace("LanceError(IO): ", "")


def _is_not_found(e: BaseException) -> bool:
    text = str(e)
    return "was not found" in text or "Not found" in text or isinstance(e, FileNotFoundError)


def _normalize_uri(uri: str | os.PathLike) -> str:
    uri = os.fspath(uri)
    if "://" in uri:
        return uri.rstrip("/")
    return str(Path(uri).expanduser().resolve())


def storage_options_from_env(options: dict[str, str] | None = None) -> dict[str, str]:
    """Storage options: `WINNOW_STORAGE_OPTIONS` (a JSON object) overridden by `options`.

    Lance also reads the object stores' usual variables (AWS_*, GOOGLE_*, AZURE_*) itself.
    """
    merged: dict[str, str] = {}
    env = os.environ.get(STORAGE_OPTIONS_ENV)
    if env:
        try:
            merged.update({str(k): str(v) for k, v in json.loads(env).items()})
        except (ValueError, AttributeError) as e:
            raise LakeError(f"{STORAGE_OPTIONS_ENV} is not a JSON object: {e}") from e
    merged.update(options or {})
    return merged


class Lake:
    """A winnow lake at a local path or any URI Lance supports (s3://, gs://, az://, memory://)."""

    def __init__(self, uri: str, storage_options: dict[str, str] | None = None):
        if not str(uri).strip():
            raise LakeNotFound("the lake's path or URI is empty")
        self.uri = _normalize_uri(uri)
        self.storage_options = storage_options_from_env(storage_options)
        # One session per Lake: its caches, and the object store a memory:// lake lives in
        # (a session with zero-sized caches keeps no store alive between calls).
        self.session = lance.Session(index_cache_size_bytes=SESSION_CACHE_BYTES, metadata_cache_size_bytes=SESSION_CACHE_BYTES)
        self._held: dict[str, LanceDataset] = {}  # memory:// only: keeps each table's store alive

    # -- creating and opening -------------------------------------------------------------

    @classmethod
    def create(cls, uri, storage_options: dict[str, str] | None = None, compress_text: bool = False) -> "Lake":
        """A new, empty lake; `compress_text` trades ingest and scan speed for disk (schema.DOCS)."""
        lake = cls(uri, storage_options)
        if "://" not in lake.uri and Path(lake.uri).exists() and not Path(lake.uri).is_dir():
            raise LakeNotFound(f"cannot create a lake at {lake.uri}: it is a file, not a folder")
        if lake._exists("lake"):
            raise LakeNotFound(f"a lake already exists at {lake.uri}")
        lake._write("docs", schema_table(schema.docs_schema(compress_text)), mode="create")
        for name in ("rejects", *CATALOG_TABLES):
            lake._write(name, schema_table(TABLES[name][1]), mode="create")
        marker = pa.table(
            {
                "format_version": [schema.FORMAT_VERSION],
                "created_at": [datetime.now(timezone.utc)],
                "winnow_version": [WINNOW_VERSION],
            },
            schema=schema.LAKE,
        )
        lake._write("lake", marker, mode="create")  # written last: marks a complete lake
        return lake

    @classmethod
    def open(cls, uri, storage_options: dict[str, str] | None = None) -> "Lake":
        lake = cls(uri, storage_options)
        lake.check_format()
        for name in CATALOG_TABLES:  # tables added to the catalog after the lake was created
            if not lake._exists(name):
                lake._write(name, schema_table(TABLES[name][1]), mode="create")
            else:
                lake._add_missing_fields(name)
        return lake

    @property
    def local_path(self) -> str | None:
        """The lake's folder on the local disk, as given (`file://` taken off); None when the
        lake is in an object store."""
        if self.uri.startswith("file://"):
            return self.uri[len("file://"):]
        return None if "://" in self.uri else self.uri

    def check_format(self) -> None:
        """Read only: a LakeNotFound when no lake is at the URI, a LakeError when its format
        is not the one this winnow reads. A plain file, or a URI whose scheme no store
        knows, holds no lake either (not the store's error about walking a folder)."""
        local = self.local_path
        if local is not None and os.path.exists(local) and not os.path.isdir(local):
            raise LakeNotFound(f"no winnow lake at {self.uri}: it is a file, not a lake's folder")
        try:
            present = self._exists("lake")
        except LakeError as e:
            if "No object store provider found for scheme" in str(e):
                scheme = self.uri.split("://", 1)[0]
                raise LakeNotFound(f"no winnow lake at {self.uri}: no store knows the scheme {scheme}:// "
                                   "(a local path, file://, s3://, gs://, az:// or memory://)") from e
            if "Not a directory" in str(e):
                raise LakeNotFound(f"no winnow lake at {self.uri}: a file is on its path") from e
            raise
        if not present:
            raise LakeNotFound(f"no winnow lake at {self.uri} (create one with `winnow init {self.uri}`)")
        fmt = self.dataset("lake").to_table(columns=["format_version"])["format_version"][0].as_py()
        if fmt != schema.FORMAT_VERSION:
            raise LakeError(f"lake at {self.uri} has format {fmt}; this winnow reads {schema.FORMAT_VERSION}")

    def _add_missing_fields(self, name: str) -> None:
        """Catalog fields added by a newer winnow: added to an older lake's table as null
        columns (schema only, no data rewritten), so its logs keep appending."""
        ds = self.dataset(name)
        missing = [f for f in TABLES[name][1] if f.name not in ds.schema.names]
        if not missing:
            return
        try:
            ds.add_columns([f.with_nullable(True) for f in missing])
        except OSError as e:  # another process added them first
            if not all(f.name in self.dataset(name).schema.names for f in missing):
                raise self.store_error(e, f"cannot add {[f.name for f in missing]} to table {name!r}") from e

    # -- tables ---------------------------------------------------------------------------

    def table_uri(self, name: str) -> str:
        return f"{self.uri}/{TABLES[name][0]}"

    def dataset(self, name: str = "docs", version: int | str | None = None) -> LanceDataset:
        """A snapshot of one table (the latest, or `version`: a number or a tag)."""
        try:
            ds = lance.dataset(
                self.table_uri(name),
                version=version,
                storage_options=self.storage_options or None,
                session=self.session,
            )
        except (ValueError, OSError) as e:
            if _is_not_found(e):
                raise TableNotFound(f"the lake at {self.uri} has no table {name!r} ({clean_message(e)})") from e
            raise self.store_error(e, f"cannot open table {name!r} of the lake at {self.uri}") from e
        return self._hold(name, ds)

    def store_error(self, e: BaseException, doing: str) -> "LakeError":
        """A Lance/Arrow failure as one line, naming the storage setting that is likely missing."""
        text = clean_message(e)
        hint = next((h for key, h in STORE_HINTS if key.lower() in text.lower()), None)
        if hint and "://" in self.uri and not self.uri.startswith(("memory://", "file://")):
            given = ", ".join(sorted(self.storage_options)) or "none"
            text = text if len(text) <= 200 else text[:200] + "…"
            return LakeUsageError(f"{doing}: {text}; it needs {hint} ({STORAGE_HELP}; given: {given})")
        return LakeError(f"{doing}: {text}")

    def _hold(self, name: str, ds: LanceDataset) -> LanceDataset:
        if self.uri.startswith("memory://"):
            self._held[name] = ds
        return ds

    def docs(self, version: int | str | None = None) -> LanceDataset:
        return self.dataset("docs", version)

    def append(self, name: str, table: pa.Table | pa.RecordBatchReader) -> LanceDataset:
        """Append rows to a table; Lance rebases appends onto concurrent commits."""
        return self._write(name, table, mode="append")

    def _write(self, name: str, data, mode: str) -> LanceDataset:
        try:
            ds = lance.write_dataset(
                data,
                self.table_uri(name),
                schema=TABLES[name][1] if mode == "create" else None,
                mode=mode,
                max_rows_per_file=schema.FRAGMENT_ROWS,
                storage_options=self.storage_options or None,
                session=self.session,
            )
        except OSError as e:  # the store: unreachable, no credentials, no region, not writable
            raise self.store_error(e, f"cannot write table {name!r} of the lake at {self.uri}") from e
        except ValueError as e:
            if "LanceError(IO)" not in str(e):
                raise
            raise self.store_error(e, f"cannot write table {name!r} of the lake at {self.uri}") from e
        return self._hold(name, ds)

    def pin(self, tag: str, version: int) -> None:
        """Tag a lake version so that cleaning old versions never removes it."""
        docs = self.docs()
        if tag in docs.tags.list():
            docs.tags.update(tag, version)
        else:
            docs.tags.create(tag, version)

    def cleanup(self, older_than_seconds: float = 7 * 86400) -> int:
        """Remove lake versions older than this, except tagged (pinned) ones; bytes freed."""
        from datetime import timedelta

        stats = self.docs().cleanup_old_versions(
            older_than=timedelta(seconds=older_than_seconds), error_if_tagged_old_versions=False
        )
        return stats.bytes_removed

    def _exists(self, name: str) -> bool:
        """Whether a table is there; a store that cannot be reached is an error, not a no."""
        try:
            self.dataset(name)
            return True
        except TableNotFound:
            return False

    def __repr__(self) -> str:
        return f"Lake({self.uri!r})"  # reads nothing: `print(winnow.info(lake))` for the lake's figures

    def _repr_html_(self) -> str:
        """In a notebook: documents, sources, versions and each score column's distribution
        (lake/info.py `lake_view`, lake/display.py)."""
        from winnow.lake.display import html
        from winnow.lake.info import lake_view

        return html(lake_view(self))


def schema_table(s: pa.Schema) -> pa.Table:
    """An empty table of schema `s`."""
    return pa.Table.from_batches([], schema=s)

"""Parquet: one document per row; every column but the text becomes a field."""

from __future__ import annotations

from typing import BinaryIO, Iterator

import pyarrow.parquet as pq

from .base import Reject

BATCH_ROWS = 4096


def read(stream: BinaryIO, start_row: int = 0) -> Iterator[tuple[int, dict | Reject]]:
    reader = pq.ParquetFile(stream)
    row = 0
    for batch in reader.iter_batches(batch_size=BATCH_ROWS):
        if row + batch.num_rows <= start_row:
            row += batch.num_rows
            continue
        for fields in batch.to_pylist():
            row += 1
            if row > start_row:
                yield row, fields

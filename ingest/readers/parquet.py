"""Parquet: one document per row; every column but the text becomes a field."""

from __future__ import annotations

from typing import BinaryIO, Iterator

import pyarrow.parquet as pq

from winnow.ingest.readers.base import Reader

BATCH_ROWS = 4096


class Parquet(Reader):
    name = "parquet"
    suffixes = (".parquet",)
    compressions = ()  # parquet compresses inside the file
    decompress = False

    def units(self, stream: BinaryIO) -> Iterator[dict]:
        for batch in pq.ParquetFile(stream).iter_batches(batch_size=BATCH_ROWS):
            yield from batch.to_pylist()

"""A scorer that fails part-way (for tests of failed jobs): its score() raises once it has
scored `fail_after` rows in this process, when that parameter is not 0 (environment
variable FLAKY_FAIL_AFTER, so that a second run with the same parameters can succeed)."""

import os

import pyarrow as pa

from winnow.scoring import Scorer


class Flaky(Scorer):
    name = "flaky"
    version = "1"
    inputs = ("text",)

    def __init__(self, **params):
        super().__init__(**params)
        self.done = 0

    def outputs(self):
        return [pa.field("flaky_len", pa.int64())]

    def score(self, batch):
        fail_after = int(os.environ.get("FLAKY_FAIL_AFTER", "0"))
        if fail_after and self.done >= fail_after:
            raise ValueError(f"flaky gave up after {self.done} rows")
        self.done += batch.num_rows
        return {"flaky_len": [len(t) for t in batch.column("text").to_pylist()]}

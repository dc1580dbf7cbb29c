"""The scorer contract: what a metric job declares and computes.

A scorer is one small class:

    class Shouting(Scorer):
        name = "shouting"                 # the name users pass to `winnow score`
        version = "1"                     # bump when its values change
        inputs = ("text",)                # columns of `docs` it reads (and nothing else)

        def outputs(self):                # the columns it writes, with Arrow types
            return [pa.field("shouting_frac_upper", pa.float32())]

        def score(self, batch):           # Arrow batch in (its inputs), Arrow columns out
            texts = batch.column("text").to_pylist()
            return {"shouting_frac_upper": [sum(c.isupper() for c in t) / len(t) for t in texts]}

`setup(device)` runs once per worker before the first batch (load a model, pick a
device); parameters (a tokenizer path, a model id) arrive as keyword arguments and are
recorded in the catalog with the scorer's name and version. A scorer returns a value for
every row: no nulls (use NaN for an undefined float), since a null marks a row that is
not scored yet.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

import pyarrow as pa


class Scorer:
    name: ClassVar[str]
    version: ClassVar[str] = "1"
    inputs: ClassVar[tuple[str, ...]] = ("text",)
    uses_model: ClassVar[bool] = False  # True: batched on --device, one worker per device

    def __init__(self, **params: Any):
        self.params = params

    def outputs(self) -> list[pa.Field]:
        raise NotImplementedError

    def setup(self, device: str = "cpu") -> None:
        """Once per worker, before the first batch."""

    def score(self, batch: pa.RecordBatch) -> Mapping[str, pa.Array | Sequence]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, version={self.version!r}, params={self.params!r})"


class TextStatsScorer(Scorer):
    """A scorer whose `stats(text)` returns one value per declared field, in order.

    Subclasses set `fields` (name, Arrow type) and `stats`; batching, the transpose into
    columns and the types are done here once.
    """

    fields: ClassVar[list[tuple[str, pa.DataType]]]

    @staticmethod
    def stats(text: str) -> tuple:
        raise NotImplementedError

    def outputs(self) -> list[pa.Field]:
        return [pa.field(name, typ) for name, typ in self.fields]

    def score(self, batch: pa.RecordBatch):
        rows = [self.stats(t or "") for t in batch.column("text").to_pylist()]
        columns = list(zip(*rows)) if rows else [() for _ in self.fields]
        return {name: pa.array(col, type=typ) for (name, typ), col in zip(self.fields, columns)}

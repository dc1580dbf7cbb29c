"""A scorer defined in a file, as a user writes one: the fraction of uppercase letters."""

import pyarrow as pa

from winnow.scoring import Param, Scorer


class UpperFraction(Scorer):
    name = "upper"
    version = "1"
    inputs = ("text",)
    parameters = {"column": Param(str, "upper_frac", "the output column's name")}

    def outputs(self):
        return [pa.field(self.param("column"), pa.float32())]

    def score(self, batch):
        texts = batch.column("text").to_pylist()
        letters = [sum(c.isalpha() for c in t) for t in texts]
        upper = [sum(c.isupper() for c in t) for t in texts]
        return {self.outputs()[0].name: [u / n if n else float("nan") for u, n in zip(upper, letters)]}

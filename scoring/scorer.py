"""The scorer contract: what a metric job declares and computes.

A scorer is one small class:

    class Shouting(Scorer):
        '''The fraction of uppercase letters.'''
        name = "shouting"                 # the name users pass to `winnow score`
        version = "1"                     # bump when its values change
        inputs = ("text",)                # columns of `docs` it reads (and nothing else)
        parameters = {                    # what `-p NAME=VALUE` may set: typed, with help
            "column": Param(str, "shouting_frac_upper", "the output column's name"),
        }

        def outputs(self):                # the columns it writes, with Arrow types
            return [pa.field(self.param("column"), pa.float32())]

        def score(self, batch):           # Arrow batch in (its inputs), Arrow columns out
            texts = batch.column("text").to_pylist()
            return {self.param("column"): [sum(c.isupper() for c in t) / len(t) for t in texts]}

Parameters arrive as keyword arguments (strings from the command line, or Python values)
and are checked against `parameters` when the scorer is made: an undeclared name is
refused with the list of declared ones, a value is converted to the declared type (or
refused), a required one must be given. `self.params` holds the values given (typed):
they are recorded in the catalog with the scorer's name and version; `self.param(name)`
reads one, or its default. `winnow score --help NAME` lists them.

`setup(device)` runs once per worker before the first batch (load a model, pick a
device). A scorer returns a value for every row: no nulls (use NaN for an undefined
float), since a null marks a row that is not scored yet; it counts the rows it could not
score, by reason, in `self.counts` (the runner's summary reports them).

Optional hooks, each run by the runner before anything is written:
- `fingerprint() -> dict`: the identity of the files behind the columns (a tokenizer's or a
  model's hash), recorded in the catalog with the parameters.
- `fit(lake, version, query)`: fit what the scorer needs from the lake itself (DSIR's
  models). `query(sql) -> pyarrow.Table` runs read-only SQL over the lake at `version` (None
  when the scoring layer is called on its own). `fitted_params() -> dict` then names the
  declared parameters that let a fresh copy in a worker process load what was fitted. A
  `fit` that takes an `engine` keyword is handed the job's engine (lake/engine.py), to run
  units of its own (para-dup hashes the lake's paragraphs on it).
- `in_process = True` (a class attribute): the runner calls `score` in the job's process
  only, never in workers, so what `fit` or `setup` computed there serves every row (an
  order-dependent scorer such as para-dup, whose values come from one ordered pass).
- `score_stream(batches)`: the columns of each batch in order, for scorers that work ahead
  (ModelScorer tokenizes in a background thread); by default, `score` on each batch.
"""

from __future__ import annotations

import inspect
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Iterator, Mapping, Sequence

import pyarrow as pa

from winnow.lake.errors import UsageError, WinnowError


class ScoreError(WinnowError):
    """A scoring job that failed (one clear line)."""


class ScoreUsageError(ScoreError, UsageError):
    """A scoring job asked wrongly: a parameter, a filter, a column, a file."""


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean"}


@dataclass(frozen=True)
class Param:
    """One declared parameter of a scorer.

    type      str, int, float or bool: a value given as text is converted to it
    default   what the scorer uses when it is not given (None: the help says what happens)
    help      one line for `winnow score --help SCORER`
    required  it must be given
    minimum   for int and float: the smallest value allowed
    """

    type: type
    default: Any = None
    help: str = ""
    required: bool = False
    minimum: float | None = None

    def convert(self, value: Any) -> Any:
        """`value` as this parameter's type; a ValueError says why it cannot be."""
        kind = _TYPE_NAMES.get(self.type, self.type.__name__)
        if self.type is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
                return value.strip().lower() in _TRUE
            raise ValueError(f"is not a {kind} (use true or false)")
        if self.type is str:
            if isinstance(value, (str, os.PathLike)):
                return os.fspath(value)
            raise ValueError(f"is not a {kind}")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"is not an {kind}" if self.type is int else f"is not a {kind}")
        try:
            if self.type is int:
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                converted = int(value.strip()) if isinstance(value, str) else int(value)
            else:
                converted = self.type(value.strip() if isinstance(value, str) else value)
        except (ValueError, TypeError):
            raise ValueError(f"is not an {kind}" if self.type is int else f"is not a {kind}") from None
        if self.minimum is not None and converted < self.minimum:
            raise ValueError(f"must be >= {self.minimum:g}")
        return converted

    def describe_type(self) -> str:
        return _TYPE_NAMES.get(self.type, self.type.__name__)


def convert_params(declared: Mapping[str, Param], params: Mapping[str, Any] | None, what: str,
                   error: type[Exception] = ScoreUsageError) -> dict[str, Any]:
    """The given `params` (NAME -> VALUE, as `-p NAME=VALUE` gives them), each converted to its
    `declared` Param; `error` (a usage error) names an undeclared one with the declared ones, a
    bad value, an empty or missing required one, each message led by `what` ("scorer gopher",
    "--kind fasttext"). A value of None counts as not given. Scorers and rater trainers share it."""
    values: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if key not in declared:
            known = f"its parameters: {', '.join(declared)}" if declared else "it takes no parameters"
            raise error(f"{what} has no parameter {key!r}; {known}")
        if value is None:
            continue
        try:
            values[key] = declared[key].convert(value)
        except ValueError as e:
            raise error(f"{what}: parameter {key}={value!r} {e}") from None
        if declared[key].required and values[key] == "":
            raise error(f"{what}: parameter {key} is empty; {declared[key].help}")
    for key, p in declared.items():
        if p.required and key not in values:
            raise error(f"{what}: parameter {key} is required (-p {key}=VALUE): {p.help}")
    return values


class Scorer:
    name: ClassVar[str]
    version: ClassVar[str] = "1"
    inputs: ClassVar[tuple[str, ...]] = ("text",)
    uses_model: ClassVar[bool] = False  # True: batched on --device, one worker per device
    in_process: ClassVar[bool] = False  # True: scored in the job's process only (see the module)
    extra: ClassVar[str | None] = None  # the optional part of winnow it needs (lake/extras.py), if any
    needs: ClassVar[tuple[str, ...]] = ()  # the modules of that extra it imports (default: all of them)
    parameters: ClassVar[Mapping[str, Param]] = {}  # what -p NAME=VALUE may set

    def __init__(self, **params: Any):
        self.params = self.check_params(params)
        self.counts: Counter = Counter()  # rows given NaN, by reason: the runner reports them

    @classmethod
    def check_params(cls, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """The given parameters, each converted to its declared type; a `ScoreUsageError`
        names an undeclared one (with the declared ones), a bad value, a missing required one.
        A value of None counts as not given."""
        return convert_params(cls.parameters, params, f"scorer {cls.name}")

    def param(self, name: str) -> Any:
        """A parameter's value: the one given, or the declared default."""
        return self.params.get(name, self.parameters[name].default)

    @classmethod
    def describe(cls) -> str:
        """What `winnow score --help NAME` prints: the scorer, its summary and its parameters."""
        doc = inspect.getdoc(cls) if cls.__doc__ else inspect.getdoc(inspect.getmodule(cls))
        summary = (doc or "").strip().split("\n\n")[0].replace("\n", " ")
        lines = [f"scorer {cls.name} v{cls.version} ({cls.__module__}:{cls.__qualname__})"]
        if summary:
            lines.append(summary)
        if not cls.parameters:
            lines.append("parameters: none")
            return "\n".join(lines)
        lines.append("parameters (-p NAME=VALUE):")
        rows = []
        for key, p in cls.parameters.items():
            shown = str(p.default).lower() if isinstance(p.default, bool) else p.default
            default = "required" if p.required else ("optional" if p.default is None else f"default: {shown}")
            rows.append((key, p.describe_type(), default, p.help))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for r in rows:
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3])
        return "\n".join(lines)

    def outputs(self) -> list[pa.Field]:
        raise NotImplementedError

    def setup(self, device: str = "cpu") -> None:
        """Once per worker, before the first batch."""

    def score(self, batch: pa.RecordBatch) -> Mapping[str, pa.Array | Sequence]:
        raise NotImplementedError

    def score_stream(self, batches: Iterable[pa.RecordBatch]) -> Iterator[Mapping[str, pa.Array | Sequence]]:
        """The columns of each batch, in the batches' order."""
        for batch in batches:
            yield self.score(batch)

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

"""Every `>>>` example in the packages' docstrings runs, on a small real lake.

Modules are found by name from pyproject's package list (the folders lake/, ingest/, ...
import as winnow.lake, winnow.ingest, ...), and only those whose source holds `>>>` are
imported (train/llm/cpu.py must be imported before torchtitan: it is a torchrun entry point).
Each docstring's examples run in order, on a copy of one lake made for them: 60 labelled
DCLM pages, 30 C4 and 30 OpenWebText documents, scored with gopher, tokens and embed, with
the selections the examples name (`val` and `top` added to the copy unless the docstring
creates them itself). An example that shows output must print it;
one that shows none must run without an error (the examples illustrate calls whose figures
depend on the data). The few examples not run are listed in NOT_RUN with the reason (and
where the suite runs the same call); an entry that matches no example fails.
"""

from __future__ import annotations

import doctest
import importlib
import re
import importlib.util
import pkgutil
import shutil
import tomllib

import pytest

import winnow

from .helpers import C4, OWT, ROOT, SHARED

SP = str(SHARED / "tokenizers" / "llama-style-sp32k.model")
LABELS = SHARED / "labels" / "dclm-human-labels-218.jsonl"
# (docstring, the start of an example's source): why the example is not run here
NOT_RUN = {
    ("winnow.serve", 'winnow.serve("demo"'): "serves until Ctrl-C (tests/test_serve.py runs `winnow serve`)",
    ("winnow.views.serve.server.serve", 'serve("lake"'): "serves until Ctrl-C (tests/test_serve.py)",
    ("winnow.views.serve.app.create_app", "uvicorn.run("): "serves until Ctrl-C (tests/test_serve.py)",
    ("winnow.select", 'winnow.select(lake, "top"'): "fasttext_oh_eli5 is the column of DCLM's fastText rater, "
                                                    "downloaded from the Hugging Face Hub (no network in tests)",
    ("winnow.compare", "r = winnow.compare("): "trains tiny on each selection, minutes on a CPU "
                                               "(tests/test_compare.py runs `winnow compare`)",
    ("winnow.compare", "[(x.selection"): "reads the compare above",
    ("winnow.weights_sample", "winnow.compare("): "trains tiny on 8 selections (tests/test_weights_runs.py "
                                                   "compares 3 and fits their weights)",
    ("winnow.weights_fit", 'r = winnow.weights_fit(lake, "learned", runs='): "needs the compare of a sample's "
                                                                             "selections (tests/test_weights_runs.py)",
    ("winnow.weights_fit", "r.loo_spearman"): "reads the fit above",
    ("winnow.train.weights.runs.fit_runs", "r = fit_runs("): "needs the compare of a sample's selections "
                                                            "(tests/test_weights_runs.py)",
    ("winnow.train.weights.runs.fit_runs", "r.loo_spearman"): "reads the fit above",
    ("winnow.pretrain", "r = winnow.pretrain("): "trains tiny with torchrun on the CPU (tests/test_train.py runs "
                                                 "`winnow train`)",
    ("winnow.pretrain", "r.returncode"): "reads the run above",
}
CREATES = re.compile(r'(?:select|create)\(lake, "(\w+)"')
VAL = "SELECT id FROM docs WHERE uniform(id, seed()) < 0.1"
TOP = "WITH c AS (SELECT id, n_tokens, gopher_word_count AS score FROM docs) SELECT * FROM top_k(c, 20000)"


def modules_with_examples() -> list[str]:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    names = []
    for package in packages:
        names.append(package)
        names += [f"{package}.{m.name}" for m in pkgutil.iter_modules(importlib.import_module(package).__path__)
                  if not m.ispkg]
    return sorted(n for n in names if ">>>" in open(importlib.util.find_spec(n).origin).read())


def docstrings() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = [t for name in modules_with_examples() for t in finder.find(importlib.import_module(name)) if t.examples]
    return sorted(found, key=lambda t: t.name)


DOCSTRINGS = docstrings()


class Shown(doctest.OutputChecker):
    """An example with no output shown passes whatever it prints; one with output must match it."""

    def check_output(self, want, got, optionflags):
        return want == "" or super().check_output(want, got, optionflags)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("docstrings")
    small = root / "inputs"
    small.mkdir()
    for path, n in ((LABELS, 60), (C4, 30), (OWT, 30)):  # the first lines; ids as in the full files (owt-1000-0005)
        (small / path.name).write_text("".join(path.read_text().splitlines(keepends=True)[:n]))
    (small / "more-c4.jsonl").write_text("".join(C4.read_text().splitlines(keepends=True)[30:170]))
    lake = winnow.init(root / "lake")
    winnow.ingest_files(lake, [str(small / p.name) for p in (LABELS, C4, OWT)], workers=1)
    winnow.score(lake, "gopher", workers=1)
    winnow.score(lake, "tokens", params={"tokenizer": SP}, workers=1)
    winnow.score(lake, "embed", workers=1)
    winnow.select(lake, "validation", VAL, seed=1)
    winnow.select(lake, "random", "SELECT id FROM docs WHERE uniform(id, seed()) < 0.3", seed=3,
                  exclude=["validation"])
    winnow.select(lake, "sampled", "SELECT id FROM docs WHERE uniform(id, seed()) < 0.5", seed=4)
    return root / "lake"


def prepared(lake, test: doctest.DocTest, inputs):
    """`val` and `top` on the lake, unless the docstring's own examples create them; for
    `winnow.index`, the 256 documents an IVF-PQ index needs at least (its example embeds them)."""
    if test.name == "winnow.index":
        winnow.ingest_files(lake, [str(inputs / "more-c4.jsonl")], workers=1)
    created = {name for e in test.examples for name in CREATES.findall(e.source)}
    if "val" not in created:
        winnow.select(lake, "val", VAL, seed=1)
    if "top" not in created:
        winnow.select(lake, "top", TOP, exclude=["validation"])
    return lake


def test_every_module_with_examples_is_collected():
    names = {t.name for t in DOCSTRINGS}
    assert {"winnow.dedup", "winnow.ingest.runner.ingest", "winnow.sql.connection.query",
            "winnow.views.report"} <= names
    assert sum(len(t.examples) for t in DOCSTRINGS) >= 53


def not_run(test: doctest.DocTest) -> list[doctest.Example]:
    return [e for e in test.examples for (name, start) in NOT_RUN if name == test.name and e.source.startswith(start)]


def test_every_example_not_run_is_one_example():
    matched = {(t.name, start): [e for e in t.examples if e.source.startswith(start)]
               for t in DOCSTRINGS for (name, start) in NOT_RUN if name == t.name}
    assert {k: len(v) for k, v in matched.items()} == dict.fromkeys(NOT_RUN, 1)


@pytest.mark.parametrize("test", DOCSTRINGS, ids=[t.name for t in DOCSTRINGS])
def test_docstring_examples_run(test, base, tmp_path, monkeypatch, request):
    if "engine=\"ray\"" in "".join(e.source for e in test.examples):
        request.getfixturevalue("ray_cluster")
    (tmp_path / "shared").symlink_to(SHARED)  # the examples' ../shared/data, from the working folder
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    lake = prepared(winnow.open(shutil.copytree(base, tmp_path / "lake")), test, base.parent / "inputs")
    test.globs.update(lake=lake, winnow=winnow, sp=SP)
    for example in not_run(test):
        example.options[doctest.SKIP] = True
    out = []
    runner = doctest.DocTestRunner(checker=Shown(), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    result = runner.run(test, out=out.append, clear_globs=True)
    assert result.failed == 0, "".join(out)

"""The light core and its extras (lake/extras.py): pyproject.toml's extras bring the modules
the code checks for, the core brings no torch, and a verb whose extra is not installed stops
with one line naming the extra and the install command, exit 2, nothing written. The light
install is stood in for by `helpers.light_env`; .ci/core-smoke runs the real one, from the
wheel in a fresh virtualenv."""

from __future__ import annotations

import os
import re
import tomllib
from importlib.metadata import packages_distributions

import pytest

import winnow
from winnow.lake.extras import EXTRAS, MissingExtra, missing, need

from .helpers import C4, OWT, ROOT, SHARED, cli, fails, lake_state, light_env

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
GPT2 = str(SHARED / "tokenizers" / "gpt2-tokenizer.json")


def _name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower().replace("_", "-")


def test_each_extra_brings_the_modules_the_code_checks_for():
    extras = PROJECT["optional-dependencies"]
    dists = packages_distributions()
    for extra, modules in EXTRAS.items():
        listed = {_name(r) for r in extras[extra]}
        for module in modules:  # those installed here (all of them in `make test`'s install)
            assert {d.lower() for d in dists.get(module, listed)} & listed, f"{extra} does not list {module}'s package"
    everything = extras["all"][0]
    assert everything.startswith("winnow[") and set(everything[7:-1].split(",")) == set(EXTRAS)


def test_the_core_brings_no_extra_and_no_exact_pin():
    core = {_name(r) for r in PROJECT["dependencies"]}
    extra_dists = {_name(r) for extra in EXTRAS for r in PROJECT["optional-dependencies"][extra]}
    assert not core & extra_dists, core & extra_dists
    assert "torch" not in core
    for requirement in PROJECT["dependencies"] + [r for e in EXTRAS for r in PROJECT["optional-dependencies"][e]]:
        version = requirement.partition(";")[0]  # not the environment marker
        assert ">=" in version and "==" not in version, f"{requirement}: a tested lower bound, no exact pin"


def test_need_names_the_extra_and_the_install_command():
    assert missing(["json", "no_such_module_here"]) == ["no_such_module_here"]
    need("train", "winnow train", ["json"])  # found: nothing raised
    with pytest.raises(MissingExtra, match=r"^winnow train needs the 'train' extra \(no_such_module_here not "
                                           r"installed\): pip install 'winnow\[train\]'$") as e:
        need("train", "winnow train", ["no_such_module_here"])
    assert e.value.exit_code == 2


@pytest.fixture(scope="module")
def light(tmp_path_factory):
    return light_env(tmp_path_factory.mktemp("light"))


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    folder = tmp_path_factory.mktemp("extras")
    lake = winnow.init(folder / "lake")
    for path, source in ((OWT, "openwebtext"), (C4, "c4")):
        (folder / path.name).write_text("".join(path.read_text().splitlines(keepends=True)[:40]))
        winnow.ingest_files(lake, [str(folder / path.name)], source=source)
    winnow.score(lake, "tokens", params={"tokenizer": GPT2}, workers=1)
    winnow.select(lake, "owt", "SELECT id FROM docs WHERE source = 'openwebtext'")
    winnow.select(lake, "c4", "SELECT id FROM docs WHERE source = 'c4'")
    return lake


@pytest.mark.parametrize("extra,args", [
    ("train", ["train", "{lake}", "owt", "--ngpu", "0", "--steps", "2", "--out", "{out}"]),
    ("train", ["compare", "{lake}", "owt", "c4", "--tokens", "4096", "--validation", "c4", "--tokenizer", GPT2,
               "--out", "{out}"]),
    ("raters", ["score", "{lake}", "hf-classifier", "-p", "model=some/model"]),
    ("raters", ["score", "{lake}", "embed"]),
    ("raters", ["index", "{lake}"]),
    ("raters", ["dedup", "{lake}", "--method", "semantic"]),
    ("raters", ["rater", "train", "{lake}", "head", "--kind", "embedding-head",
                "--positive", "SELECT text FROM docs WHERE source = 'openwebtext'",
                "--negative", "SELECT text FROM docs WHERE source = 'c4'"]),
    ("raters", ["score", "{lake}", "tokens", "--tokenizer", "gpt2", "--replace"]),
    ("weights", ["weights", "fit", "{lake}", "learned", "--label", "source = 'openwebtext'", "--columns", "n_*"]),
    ("weights", ["weights", "sample", "{lake}", "s", "--columns", "n_*", "--k", "4"]),
    ("app", ["serve", "{lake}", "--port", "0"]),
    ("ray", ["score", "{lake}", "c4", "--engine", "ray"]),
])
def test_a_verb_without_its_extra_says_so_in_one_line_and_writes_nothing(lake, light, tmp_path, extra, args):
    out = tmp_path / "out"
    before = lake_state(lake)
    line = fails(*[a.format(lake=lake.uri, out=out) for a in args], env=light)
    assert line.endswith(f"not installed): pip install 'winnow[{extra}]'") and f"the {extra!r} extra" in line, line
    assert lake_state(lake) == before and not out.exists()


def test_the_core_runs_without_the_extras(lake, light, tmp_path):
    proc = cli("sql", lake.uri, "SELECT source, count(*) AS docs, sum(n_tokens) AS tokens FROM docs GROUP BY ALL",
               env=light)
    assert "openwebtext" in proc.stdout and "c4" in proc.stdout

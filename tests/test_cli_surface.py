"""The command line is a layer over the public API: its modules import `winnow` and the names
of `winnow.__all__` only (no private name, nothing below `winnow`), its help lists come from
the registries, and `--columns` takes several patterns after one flag."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import winnow
import winnow.scoring
from winnow.cli import app, main
from winnow.cli.options import spread

from .helpers import GITHUB, ROOT, cli

CLI = ROOT / "winnow" / "cli"
PACKAGE = "winnow.cli"


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def offences(source: str, public=frozenset(winnow.__all__)) -> list[str]:
    """What a module of the command line must not do: import a private name (of any
    package), a module below `winnow` other than the command line's own, a name from
    `winnow` outside its `__all__`, or reach one as `winnow.NAME`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if any(_private(p) for p in parts):
                    found.append(f"import {alias.name}: a private module")
                elif parts[0] == "winnow" and len(parts) > 1 and not alias.name.startswith(PACKAGE):
                    found.append(f"import {alias.name}: below the public API")
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            names = [a.name for a in node.names]
            if node.level > 1 or any(_private(p) for p in (node.module or "").split(".") if p != "__future__"):
                found.append(f"from {module} import ...: a private module or outside the command line")
            elif node.module == "winnow" and node.level == 0:
                found += [f"from winnow import {n}: not in winnow.__all__" for n in names if n not in public]
            elif node.level == 0 and module.startswith("winnow.") and not module.startswith(PACKAGE):
                found.append(f"from {module} import ...: below the public API")
            found += [f"from {module} import {n}: a private name" for n in names if _private(n)]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "winnow":
            if node.attr not in public:
                found.append(f"winnow.{node.attr}: not in winnow.__all__")
    return found


def test_the_command_line_uses_only_the_public_api():
    modules = sorted(CLI.glob("*.py"))
    assert {m.name for m in modules} >= {"__init__.py", "output.py", "options.py"} and len(modules) > 5
    wrong = [f"{m.relative_to(ROOT)}: {o}" for m in modules for o in offences(m.read_text())]
    assert not wrong, "the command line reaches past the API:\n" + "\n".join(wrong)


@pytest.mark.parametrize("bad", [
    "from winnow.sql import selections",
    "from winnow.sql.preview import diff as diff_selections",
    "import winnow.train.llm.launch",
    "from winnow import _lake",
    "from winnow import Lake, connection",
    "import winnow\nwinnow.sql.connection._docs(lake, None)",
    "import winnow\nlake = winnow._lake('x')",
    "from typer import _click as click",
    "from winnow.cli.output import _bar",
    "from .. import sql",
])
def test_the_checker_catches_what_reaches_past_the_api(bad):
    assert offences(bad), bad


def test_the_checker_passes_what_the_api_offers():
    good = ("from __future__ import annotations\nimport os\nimport typer\nfrom rich.table import Table\n"
            "import winnow\nfrom winnow import Lake, UsageError\nfrom winnow.cli.output import out\n"
            "winnow.open('x'); winnow.select_list(lake); winnow.__version__\n")
    assert offences(good) == []


def test_the_package_keeps_its_entry_points():
    assert callable(main) and app.registered_commands
    assert 'winnow = "winnow.cli:main"' in (ROOT / "pyproject.toml").read_text()
    code = "import sys, winnow.cli; assert 'torch' not in sys.modules, 'the command line must start without torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


def _help(*args: str) -> str:
    shown = CliRunner().invoke(app, [*args, "--help"], terminal_width=200).output
    return " ".join(shown.replace("│", " ").split())


def test_help_lists_come_from_the_registries():
    assert winnow.SCORERS == tuple(winnow.scoring.BUILTINS) and len(winnow.SCORERS) >= 16
    listed = _help("score").split("Built-in scorers:")[1]
    assert all(name in listed for name in winnow.SCORERS), listed
    for args, names in ((("train",), winnow.FLAVORS), (("compare",), winnow.FLAVORS),
                        (("dedup",), winnow.DEDUP_METHODS), (("materialize",), winnow.MATERIALIZE_FORMATS),
                        (("rater", "train"), winnow.RATER_KINDS), (("weights", "fit"), winnow.WEIGHT_MODELS),
                        (("ingest",), winnow.ENGINES), (("sql",), winnow.TABLES)):
        shown = _help(*args)
        assert all(name in shown for name in names), (args, names, shown)


def test_columns_takes_several_patterns_after_one_flag():
    assert spread(["L", "n", "--columns", "a*", "b*", "--label", "x", "--columns", "c", "--replace"]) == [
        "L", "n", "--columns", "a*", "--columns", "b*", "--label", "x", "--columns", "c", "--replace"]
    assert spread(["L", "--columns=a", "b", "--", "--columns", "c", "d"]) == [
        "L", "--columns=a", "--columns", "b", "--", "--columns", "c", "d"]
    assert spread(["L", "--budget", "5", "a", "b"]) == ["L", "--budget", "5", "a", "b"]


@pytest.mark.parametrize("args, verb, wanted", [
    (["weights", "fit", "L", "n", "--columns", "a*", "b*", "--label", "x", "--columns", "c*"], "weights_fit",
     ["a*", "b*", "c*"]),
    (["weights", "fit", "L", "n", "--columns", "a*", "--columns", "b*", "--label", "x"], "weights_fit", ["a*", "b*"]),
    (["weights", "sample", "L", "s", "--k", "2", "--columns", "gopher_*", "rps_*"], "weights_sample",
     ["gopher_*", "rps_*"]),
    (["report", "L", "--columns", "a", "b", "--out", "r.html"], "report", ["a", "b"]),
])
def test_columns_reach_the_api_as_one_list(monkeypatch, args, verb, wanted):
    seen = {}

    def called(*a, **kw):
        seen["columns"] = kw["columns"] if "columns" in kw else a[2]
        raise winnow.UsageError("stop here")

    monkeypatch.setattr(winnow, "open", lambda uri, options=None: uri)
    monkeypatch.setattr(winnow, verb, called)
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, winnow.UsageError), result.output
    assert list(seen["columns"]) == wanted


def test_columns_with_several_patterns_on_a_real_lake(tmp_path):
    lake = winnow.init(tmp_path / "lake")
    winnow.ingest_files(lake, str(GITHUB))
    ids = winnow.query(lake, "SELECT id, n_chars FROM docs ORDER BY id")
    n = ids.num_rows
    pq.write_table(pa.table({"id": ids["id"], "alpha": pa.array([float(x) for x in ids["n_chars"].to_pylist()]),
                             "beta": pa.array([float(i % 7) for i in range(n)]),
                             "gamma": pa.array([float(i % 3) for i in range(n)])}), tmp_path / "scores.parquet")
    winnow.import_scores(lake, str(tmp_path / "scores.parquet"))
    one_flag = cli("report", lake.uri, "--out", tmp_path / "a.html", "--columns", "alpha", "g*").stdout
    repeated = cli("report", lake.uri, "--columns", "alpha", "--columns", "g*", "--out", tmp_path / "b.html").stdout
    assert "2 score column(s)" in one_flag and "2 score column(s)" in repeated
    assert "3 score column(s)" in cli("report", lake.uri, "--columns", "alpha", "beta", "--columns", "gamma",
                                      "--out", tmp_path / "c.html").stdout

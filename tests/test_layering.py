"""The folder tree is the architecture: imports go one way, lake <- ingest, scoring, sql <- train
<- winnow (the API and the command line), and no top-level function hides a subpackage."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# package folder -> its layer; a module may import its own package and lower layers only.
LAYERS = {"lake": 0, "ingest": 1, "scoring": 1, "sql": 1, "train": 2, "winnow": 3}


def _imports(path: Path, package: str) -> set[str]:
    """The winnow packages a module imports (absolute `winnow.X` and the top-level `winnow`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] != "winnow":
                continue
            if len(parts) == 1 or parts[1] not in LAYERS or parts[1] == "winnow":
                found.add("winnow")  # the top-level package: the API layer
            else:
                found.add(parts[1])
    return found


def test_imports_go_one_way():
    wrong = []
    for package, layer in LAYERS.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for imported in _imports(path, package) - {package}:
                if LAYERS[imported] >= layer:
                    wrong.append(f"{path.relative_to(ROOT)} imports winnow.{imported}")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def _names(path: Path) -> set[str]:
    """Every module a file imports, by its absolute name."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_the_views_sit_below_the_api_and_the_command_line():
    """winnow/views (report, serve) read the lake through the packages, as the API does: they
    import neither the API (`winnow` itself) nor the command line."""
    wrong = [f"{path.relative_to(ROOT)} imports {name}"
             for path in sorted((ROOT / "winnow" / "views").rglob("*.py"))
             for name in _names(path) if name == "winnow" or name.startswith("winnow.cli")]
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_a_wrong_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from winnow.train.materialize.shards import x\nimport winnow\nfrom winnow.lake import Lake\n")
    assert _imports(bad, "sql") == {"train", "winnow", "lake"}


def test_subpackages_are_not_hidden_by_functions():
    code = (
        "import winnow, winnow.sql.preview, winnow.ingest.readers, winnow.train.materialize.job, types\n"
        "for name in ('lake', 'ingest', 'scoring', 'sql', 'train'):\n"
        "    assert isinstance(getattr(winnow, name), types.ModuleType), name\n"
        "assert callable(winnow.ingest_files) and callable(winnow.query)\n"
        "import sys; assert 'torch' not in sys.modules, 'importing winnow must not import torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

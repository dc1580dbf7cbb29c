"""The wheel carries every package: each folder with an __init__.py below the top-level
folders is listed in pyproject.toml, mapped to its folder, and its data files are declared."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP = {"lake": "winnow.lake", "ingest": "winnow.ingest", "scoring": "winnow.scoring", "sql": "winnow.sql",
       "train": "winnow.train", "winnow": "winnow"}


def test_every_package_folder_is_in_the_wheel():
    tools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {}
    for folder, name in TOP.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found[".".join([name, *rel.parts])] = init.parent.relative_to(ROOT).as_posix()
    assert sorted(tools["packages"]) == sorted(found)
    assert tools["package-dir"] == found
    data = tools["package-data"]
    for package, folder in found.items():
        kinds = {p.suffix for p in (ROOT / folder).iterdir() if p.is_file() and p.suffix in (".sql", ".html", ".js", ".css")}
        declared = {pattern.rsplit(".", 1)[-1] for pattern in data.get(package, []) if "/" not in pattern}
        assert {k[1:] for k in kinds} <= declared, f"{package}: data files {kinds} not all declared"
    assert "macros/*.sql" in data["winnow.sql"] and any((ROOT / "sql" / "macros").glob("*.sql"))

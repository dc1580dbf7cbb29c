"""Start-up and the light install: `import winnow` and `winnow --help` load nothing heavy
(the API's names are imported when first read: lake/lazy.py), every name the packages offer
still resolves, and the core verbs run with none of the optional extras' packages there.

The light install is stood in for inside the suite by `helpers.light_env`: a Python whose
`sitecustomize` marks the extras' packages as absent (tests/test_extras.py uses it too).
bench/startup.py measures the times.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pyarrow.json as pj
import pyarrow.parquet as pq
import pytest

import winnow

from winnow.lake.extras import EXTRAS as EXTRA_MODULES

from .helpers import C4, GITHUB, SHARED, WARCS, light_env

# what `import winnow` and `winnow --help` must not load
HEAVY = ("lance", "pyarrow", "duckdb", "numpy", "pandas", "torch", "transformers", "sentence_transformers",
         "sklearn", "matplotlib", "torchtitan", "lancedb", "fastapi", "uvicorn", "ray", "altair", "vl_convert",
         "tokenizers", "tiktoken", "sentencepiece", "rensa", "fastwarc", "resiliparse")
# the optional extras' packages: the core verbs must run without them
EXTRAS = tuple(sorted({m for modules in EXTRA_MODULES.values() for m in modules}))
GPT2 = SHARED / "tokenizers" / "gpt2-tokenizer.json"


def loaded_after(code: str) -> list[str]:
    """The HEAVY modules a fresh Python has loaded after running `code`."""
    probe = f"{code}\nimport sys\nprint('loaded:', *(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return done.stderr.splitlines()[-1].split()[1:]


@pytest.mark.parametrize("code", [
    "import winnow",
    "import winnow; winnow.SCORERS, winnow.FLAVORS, winnow.TABLES, winnow.ENGINES, winnow.RATER_KINDS",
    "from winnow.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
    "from winnow.cli import main\ntry:\n    main(['select', 'create', '--help'])\nexcept SystemExit:\n    pass",
])
def test_import_and_help_load_nothing_heavy(code):
    assert loaded_after(code) == []


def test_the_check_sees_a_heavy_import():
    assert {"lance", "pyarrow"} <= set(loaded_after("import winnow; winnow.Lake"))


def test_every_name_offered_resolves():
    """A name in a package's table resolves to the object its module defines (a typo in a
    table shows up here, not on a user's first call)."""
    import winnow.ingest
    import winnow.lake
    import winnow.scoring
    import winnow.sql
    import winnow.train.materialize
    import winnow.train.raters

    for name in winnow.__all__:
        assert getattr(winnow, name) is not None, name
    for package in (winnow, winnow.lake, winnow.ingest, winnow.scoring, winnow.sql, winnow.train.materialize,
                    winnow.train.raters):
        for name in [*getattr(package, "__all__", ()), *dir(package)]:
            assert hasattr(package, name), f"{package.__name__}.{name}"
    assert winnow.Lake.__module__ == "winnow.lake.lake" and winnow.sql.preview.__name__ == "preview"
    assert winnow.__version__ == winnow.lake.WINNOW_VERSION
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        winnow.nothing  # noqa: B018


def test_rater_kinds_are_the_trainers():
    from winnow.train.raters import KINDS, trainer

    assert tuple(trainer.KINDS_TABLE) == KINDS == winnow.RATER_KINDS


# The core verbs, one Python for all (a process each would cost ~1 s of imports apiece).
VERBS = """
import sys
from winnow.cli import main

try:
    import torch  # noqa: F401
    sys.exit("the extras are not refused")
except ModuleNotFoundError:
    pass

def run(*args):
    try:
        main([str(a) for a in args])
    except SystemExit as e:
        assert not e.code, f"winnow {{' '.join(map(str, args))}} exited {{e.code}}"
    print(f"ok: winnow {{' '.join(map(str, args))}}", file=sys.stderr)

run("init", "lake")
run("ingest", "lake", "c4.jsonl", "github.parquet", {warc!r}, "--workers", "1", "--no-progress")
run("info", "lake")
for scorer in ("rps", "gopher", "c4", "fineweb", "lang", "minhash"):
    run("score", "lake", scorer, "--workers", "1", "--no-progress")
run("score", "lake", "tokens", "--tokenizer", {gpt2!r}, "--workers", "1", "--no-progress")
run("score", "lake", "dsir", "-p", "target=target.jsonl", "--no-progress")
run("dedup", "lake", "--method", "minhash", "--workers", "1", "--no-progress")
run("sql", "lake", "SELECT source, count(*) AS n FROM docs WHERE dup_keep GROUP BY source", "--format", "json")
run("select", "create", "lake", "top", "-q",
    "WITH c AS (SELECT id, n_tokens, gopher_word_count AS score FROM docs) SELECT id FROM top_k(c, 30000)")
run("select", "create", "lake", "half", "-q", "SELECT id FROM docs WHERE uniform(id, seed()) < 0.5", "--seed", "3")
run("select", "preview", "lake", "top")
run("select", "diff", "lake", "top", "half")
for fmt in ("parquet", "jsonl"):
    run("materialize", "lake", "top", "--out", f"out-{{fmt}}", "--format", fmt, "--no-progress")
run("materialize", "lake", "top", "--out", "out-tokens", "--tokenizer", {gpt2!r}, "--workers", "1", "--no-progress")
run("report", "lake", "--out", "report.html", "--selection", "top", "--selection", "half")
print("loaded: " + " ".join(m for m in {extras!r} if sys.modules.get(m) is not None))
"""


def test_core_verbs_run_without_the_extras(tmp_path):
    (tmp_path / "c4.jsonl").write_text("".join(C4.read_text().splitlines(keepends=True)[:30]))
    pq.write_table(pj.read_json(GITHUB).slice(0, 15), tmp_path / "github.parquet")
    (tmp_path / "target.jsonl").write_text("".join(C4.read_text().splitlines(keepends=True)[30:40]))
    script = textwrap.dedent(VERBS).format(extras=EXTRAS, warc=str(WARCS[0]), gpt2=str(GPT2))
    env = light_env(tmp_path / "site")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "loaded:"  # nothing of the extras came in some other way
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"source"')]
    assert {r["source"] for r in rows} == {"c4", "github", WARCS[0].name.split(".")[0]}, rows
    manifest = json.loads((tmp_path / "out-tokens" / "manifest.json").read_text())
    assert manifest["documents"] > 0 and (tmp_path / "report.html").stat().st_size > 0
    assert len(pq.read_table(next((tmp_path / "out-parquet").glob("*.parquet")))) == manifest["documents"]

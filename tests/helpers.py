"""What the tests share, the way `polars.testing` serves polars' tests: the real data's
paths, the `winnow` command and its one-line failures, a lake's state to compare before and
after a refused command, edited copies of a text, a record batch of texts, and a tiny
WordPiece tokenizer trained on the real data. Fixtures live in conftest.py; this module
holds plain functions and constants, imported by name (`from .helpers import cli, OWT`).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa

from winnow.lake.lake import CATALOG_TABLES

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT / ".." / "shared").resolve()
DATA = SHARED / "data"
OWT = DATA / "openwebtext-1000.jsonl"
C4 = DATA / "c4-sample-449.jsonl"
GITHUB = DATA / "github-sample-50.jsonl"
WARCS = sorted((DATA / "warc").glob("*.warc.gz"))
WINNOW = Path(sys.executable).parent / "winnow"

if not DATA.is_dir():
    raise RuntimeError(f"the tests read real data from {DATA}; it is missing")


def texts(path: Path, n: int | None = None) -> list[str]:
    """The `text` field of a JSON lines file's first `n` lines (all by default)."""
    return [json.loads(line)["text"] for line in path.read_text().splitlines()[:n]]


def batch(texts) -> pa.RecordBatch:
    """A record batch of one `text` column: what a scorer's `score` receives."""
    return pa.RecordBatch.from_pydict({"text": list(texts)})


# Verbs run in a process of their own even when nothing else asks for one: serve holds the
# process. train and compare run here (their torchrun is a process of its own anyway): a
# refusal before torchrun costs ~0.1 s here, ~7 s as a new process importing torch.
OWN_PROCESS = {"serve"}


def cli(*args, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run the `winnow` command; its output is returned as text. It runs in this process
    (`winnow.cli.main`, as the `winnow` script calls it, with stdout and stderr captured and
    the exit status taken from SystemExit): a new Python per call cost about 1.2 s of imports,
    hundreds of times per suite. The command runs as the `winnow` executable instead when the
    call needs a process (stdin, another working folder or environment, a timeout), for the
    verbs in OWN_PROCESS (the first word) and `--engine ray`, and for every call when WINNOW_TESTS_CLI=process."""
    args = [str(a) for a in args]
    verb = next((a for a in args if not a.startswith("-")), "")
    own = (kwargs or verb in OWN_PROCESS or "ray" in args or os.environ.get("WINNOW_TESTS_CLI") == "process")
    proc = _run_process(args, kwargs) if own else _run_here(args)
    if check and proc.returncode != 0:
        raise AssertionError(f"winnow {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def _run_process(args: list[str], kwargs: dict) -> subprocess.CompletedProcess:
    env = {**kwargs.pop("env", os.environ), "COLUMNS": "200"}
    return subprocess.run([str(WINNOW), *args], capture_output=True, text=True, env=env, **kwargs)


def _run_here(args: list[str]) -> subprocess.CompletedProcess:
    """`winnow ARGS` through winnow.cli.main in this process; the environment, the working
    folder and the root logger's handlers are as they were afterwards."""
    import contextlib
    import io
    import logging
    import traceback

    from winnow.cli import main

    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)  # .buffer for binary output
    stderr = io.StringIO()
    environ, cwd, handlers = dict(os.environ), os.getcwd(), list(logging.getLogger().handlers)
    os.environ["COLUMNS"] = "200"
    code = 0
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                main(args)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:  # noqa: BLE001 - what the executable would print: a traceback, status 1
                traceback.print_exc(file=stderr)
                code = 1
    finally:
        os.environ.clear()
        os.environ.update(environ)
        os.chdir(cwd)
        logging.getLogger().handlers[:] = handlers
    stdout.flush()
    return subprocess.CompletedProcess([str(WINNOW), *args], code, stdout.buffer.getvalue().decode(),
                                       stderr.getvalue())


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def fails(*args, code: int = 2, contains: str | None = None, **kwargs) -> str:
    """Run `winnow ARGS`, which must fail with exit status `code` (2: usage, 1: a failed job)
    and one line on stderr, `error: ...`, with no traceback; that line is returned."""
    proc = cli(*args, check=False, **kwargs)
    said = proc.stderr.strip().splitlines()
    errors = [line for line in said if line.startswith("error: ")]
    where = f"winnow {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    assert proc.returncode == code, where
    assert len(errors) == 1 and "Traceback" not in proc.stderr, where
    if contains is not None:
        assert contains in errors[0], where
    return errors[0]


def lake_state(lake) -> dict:
    """Everything a failed command must leave as it was: the lake version, its tags and
    schema, and every catalog table's version."""
    docs = lake.docs()
    state = {
        "docs_version": docs.version,
        "tags": sorted(docs.tags.list()),
        "columns": docs.schema.names,
    }
    for name in ("rejects", *CATALOG_TABLES):
        state[name] = lake.dataset(name).version
    return state


def edited(text: str, rate: float, rng: random.Random, vocab: list[str]) -> str:
    """`text` with each word, at `rate`, deleted, replaced or followed by an inserted word
    (a third each), the new words drawn from `vocab`."""
    out = []
    for w in text.split():
        r = rng.random()
        if r < rate / 3:
            continue
        out.append(rng.choice(vocab) if r < 2 * rate / 3 else w)
        if 2 * rate / 3 <= r < rate:
            out.append(rng.choice(vocab))
    return " ".join(out)


def resampled_corpus(path, n_docs: int, seed: int = 7, bad_every: int = 997) -> None:
    """Documents made of real OpenWebText paragraphs, with a bad line now and then."""
    paragraphs = [p for line in lines(OWT) for p in json.loads(line)["text"].split("\n\n") if p.strip()]
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        for i in range(n_docs):
            if i % bad_every == 0:
                f.write(b'{"id": "broken", "text": \n')
                continue
            picks = rng.integers(0, len(paragraphs), size=int(rng.integers(2, 8)))
            text = "\n\n".join(paragraphs[j] for j in picks)
            f.write(json.dumps({"id": f"doc-{i % (n_docs // 2)}", "text": text}).encode() + b"\n")


def same_shards(a: Path, b: Path, *, other_lake: bool = False) -> None:
    """The two materialized folders hold the same shard files byte for byte and the same
    manifest, but its time of creation (and, with `other_lake`, the lake it was read from)."""
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) and "manifest.json" in names
    for name in names:
        if name != "manifest.json":
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
    ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (a, b))
    for m in (ma, mb):
        m.pop("created_at")
        if other_lake:
            m["selection"].pop("lake"), m["selection"].pop("lake_version")
    assert ma == mb


def kill_after_shards(command: list[str], out: Path, shards: int) -> None:
    """Run `command` in its own process group and kill the whole group (the command and its
    workers) with SIGKILL once `out` holds `shards` finished shard files."""
    proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while len(list(out.glob("shard-*.bin"))) < shards:
        assert proc.poll() is None, "finished before it could be killed"
        assert time.time() < deadline
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@lru_cache(maxsize=None)
def _wordpiece_backend(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    wp = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wp.normalizer = normalizers.BertNormalizer(lowercase=True)
    wp.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wp.decoder = decoders.WordPiece()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wp.train_from_iterator(texts(OWT, 300), trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
    cls, sep = wp.token_to_id("[CLS]"), wp.token_to_id("[SEP]")
    wp.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return wp.to_str()


def wordpiece(vocab_size: int = 2000, max_length: int = 128):
    """BERT's tokenizer shape, tiny: WordPiece trained on the first 300 OpenWebText documents,
    lowercased, `[CLS] text [SEP]`, as a transformers fast tokenizer (`model_max_length`
    `max_length`). Trained once per vocabulary size and process; each call returns a new one."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_str(_wordpiece_backend(vocab_size))
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=max_length)


def alive(procs) -> list:
    """The psutil processes of `procs` still running (a zombie waiting for PID 1 to reap it,
    which this container's PID 1 never does, is gone)."""
    import psutil

    left = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                left.append(p)
        except psutil.NoSuchProcess:
            pass
    return left


def light_env(folder: Path) -> dict:
    """The environment of a light install (`pip install winnow`, no extra) inside the suite: a
    `sitecustomize.py` in `folder`, first on PYTHONPATH (worker processes inherit it), marks
    every extra's package absent (`sys.modules[name] = None`, what Python records for a package
    that is not there: `import` raises ModuleNotFoundError, `importlib.util.find_spec` says None).
    .ci/core-smoke runs the real one, from the wheel in a fresh virtualenv."""
    from winnow.lake.extras import EXTRAS

    modules = sorted({m for ms in EXTRAS.values() for m in ms})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        f"import sys\nfor name in {modules!r}:\n    sys.modules[name] = None  # as for a package not installed\n")
    paths = [str(folder), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}

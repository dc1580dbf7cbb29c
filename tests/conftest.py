"""Fixtures and session settings only; the shared functions and paths are in helpers.py.

Session-wide: no test reaches a model hub (HF_HUB_OFFLINE=1 from the start of the session,
before any test module imports huggingface_hub), one Chromium (browser.py) and one Ray
cluster on 127.0.0.1 for every module that needs one.

Tests marked `measure` measure (recall, precision, agreement with a peer) and print a table;
they run and assert with the others, and the session ends with a section of their own: each
one's outcome, time and printed table (`-m measure` runs them alone, `-m "not measure"`
leaves them out).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

import winnow

from .browser import browser  # noqa: F401  (one Chromium for the whole session: two Playwright instances cannot share a thread)

_OFFLINE = {"HF_HUB_OFFLINE": "1"}  # huggingface_hub reads it once, at import: set before collection
_before: dict[str, str | None] = {}


def pytest_configure(config):
    settings = dict(_OFFLINE)
    if os.environ.get("PYTEST_XDIST_WORKER") and "OMP_NUM_THREADS" not in os.environ:
        # two workers on two cores: one thread per torch process, not two fighting over a core
        # (measured on the model scorer modules, -n 2: 75.6 s with two threads, 67.2 s with one)
        settings["OMP_NUM_THREADS"] = "1"
    for name, value in settings.items():
        _before[name] = os.environ.get(name)
        os.environ[name] = value


def pytest_unconfigure(config):
    for name, value in _before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


# With pytest-xdist (`-n 2`): a module's tests stay on one worker (its module-scoped lakes are
# built once), and the modules that share a session resource run on the same worker, so that
# each resource starts once: one Ray cluster, one Chromium.
SAME_WORKER = {
    "test_engine.py": "ray", "test_ingest_engines.py": "ray", "test_materialize_parallel.py": "ray",
    "test_scoring_engines.py": "ray", "test_dedup_minhash.py": "ray", "test_docstrings.py": "ray",
    "test_process_guard.py": "ray",
    "test_report.py": "browser", "test_serve.py": "browser",
}


# The longest modules first (seconds of a serial run on the 2-core machine, 2026-12-07), so
# that with -n 2 they start at once and the short ones fill in around them; each module's own
# order is kept.
LONGEST_FIRST = [
    "test_engine.py", "test_ingest_engines.py", "test_materialize_parallel.py", "test_scoring_engines.py",
    "test_dedup_minhash.py", "test_docstrings.py",  # the Ray modules: ~450 s together
    "test_ray_nodes.py",  # its own 3-node clusters, on the other worker: never the session's one-node cluster
    "test_train.py", "test_weights_runs.py", "test_compare.py",  # 130-150 s: torchtitan on the CPU
    "test_model_scorer.py", "test_resume_and_uris.py", "test_flavors.py",
    "test_validation_set.py", "test_report.py", "test_serve.py", "test_rater_train.py",
]


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return SAME_WORKER.get(module.rsplit("/", 1)[-1], module)

    config.option.loadscopereorder = False  # LONGEST_FIRST's order, not the number of tests
    return ByModule(config, log)


_measured: list = []


def pytest_runtest_logreport(report):
    if "measure" in report.keywords and (report.when == "call" or report.outcome != "passed"):
        _measured.append(report)


def pytest_terminal_summary(terminalreporter):
    if not _measured:
        return
    tr = terminalreporter
    tr.section("measurements (tests marked measure)")
    for report in _measured:
        tr.write_line(f"{report.outcome.upper():7s} {report.duration:7.1f} s  {report.nodeid}"
                      + ("" if report.when == "call" else f" ({report.when})"))
        for title, text in report.sections:
            if title.startswith("Captured stdout") and text.strip():
                for line in text.strip("\n").splitlines():
                    tr.write_line(f"    {line}")
    failed = sum(r.outcome == "failed" for r in _measured)
    tr.write_line(f"{sum(r.when == 'call' for r in _measured)} measurement(s), {failed} failed")


@pytest.fixture
def lake(tmp_path):
    return winnow.init(tmp_path / "lake")


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster for the session, with 2 CPUs, started as `--engine ray` starts one
    (address="local": never another job's cluster that `ray start` left on this machine; it
    listens on 127.0.0.1 only); the engine finds Ray started and uses it. Its GCS address,
    for `--ray-address` in subprocesses."""
    import ray

    from winnow.lake.engine import engine

    assert engine("ray", workers=2).size(0) == 2
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_endpoint():
    """A local S3 server (moto) on loopback; a bucket `lakes` in it."""
    port = _free_port()
    server = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "moto_server"), "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        import boto3

        deadline = time.time() + 30
        while True:
            try:
                boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing",
                             aws_secret_access_key="testing", region_name="us-east-1").create_bucket(Bucket="lakes")
                break
            except Exception:
                assert time.time() < deadline, "moto_server did not start"
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        server.wait()

"""winnow's partitioned ingest runner (the one Ray uses) on local processes, for bench/ingest.py.

    python bench/ingest_partitioned.py LAKE SHARD... --workers N

The local engine ingests with ingest/local.py (workers stream batches to one writer); any
engine that does not run in this process takes ingest/partitioned.py. This runs the latter
on the local engine's process pool, declared not to run here, so that both runners are
measured on the same input and cores. Prints the written count as the last line (JSON)."""

import os
import sys

# python puts bench/ first on sys.path; bench/select.py would then shadow the stdlib module.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402

import winnow  # noqa: E402
from winnow.lake.engine import LocalEngine  # noqa: E402


class PartitionedLocal(LocalEngine):
    """The local process pool, taken by the jobs as an engine whose workers are elsewhere."""

    name = "local-partitioned"
    runs_in_process = False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("lake")
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    report = winnow.ingest_files(winnow.init(a.lake), a.inputs, engine=PartitionedLocal(a.workers))
    total = report.total()
    print(json.dumps({"documents": total.written, "duplicates": total.duplicates, "rejected": total.rejected}))


if __name__ == "__main__":
    main()

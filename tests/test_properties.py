"""Property: whatever mix of real, repeated and broken records a file holds, counts balance."""

from __future__ import annotations

import json
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import winnow

from .helpers import OWT, lines

REAL = lines(OWT)[:30]
BROKEN = [b"{oops\n", b'{"text": null}\n', b'{"text": ""}\n', b'{"text": 7}\n', b"\xff\xfe\n", b"[1]\n"]
record = st.one_of(
    st.integers(0, len(REAL) - 1).map(lambda i: ("real", i)),
    st.integers(0, len(BROKEN) - 1).map(lambda i: ("broken", i)),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(record, min_size=1, max_size=60), st.integers(1, 16), st.sampled_from([5_000, 1 << 27]))
def test_counts_balance_for_any_mix(tmp_path, records, batch_docs, commit_bytes):
    """...however the work is cut into worker batches and commits; an input whose every
    record is broken fails (it is not recorded as ingested)."""
    path = tmp_path / f"{uuid.uuid4().hex}.jsonl"
    path.write_bytes(b"".join(REAL[i] if kind == "real" else BROKEN[i] for kind, i in records))
    lake = winnow.init(f"memory://props/{uuid.uuid4().hex}")
    f = winnow.ingest_files(lake, [str(path)], workers=1, batch_docs=batch_docs, commit_bytes=commit_bytes).files[0]
    distinct = {i for kind, i in records if kind == "real"}
    assert f.read == len(records)
    assert f.rejected == sum(kind == "broken" for kind, _ in records)
    assert f.written == len(distinct) == lake.docs().count_rows()
    assert f.balanced
    assert (f.status == "failed") == (not distinct)
    state = winnow.query(lake, "SELECT status FROM ingests")["status"].to_pylist()
    assert state == ["failed" if not distinct else "done"]
    ids = set(lake.docs().to_table(columns=["id"])["id"].to_pylist())
    assert ids == {json.loads(REAL[i])["id"] for i in distinct}

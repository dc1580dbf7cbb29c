"""Property: whatever mix of real, repeated and broken records a file holds, counts balance."""

from __future__ import annotations

import json
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import winnow

from .conftest import OWT, lines

REAL = lines(OWT)[:30]
BROKEN = [b"{oops\n", b'{"text": null}\n', b'{"text": ""}\n', b'{"text": 7}\n', b"\xff\xfe\n", b"[1]\n"]
record = st.one_of(
    st.integers(0, len(REAL) - 1).map(lambda i: ("real", i)),
    st.integers(0, len(BROKEN) - 1).map(lambda i: ("broken", i)),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(record, min_size=1, max_size=60))
def test_counts_balance_for_any_mix(tmp_path, records):
    path = tmp_path / f"{uuid.uuid4().hex}.jsonl"
    path.write_bytes(b"".join(REAL[i] if kind == "real" else BROKEN[i] for kind, i in records))
    lake = winnow.init(f"memory://props/{uuid.uuid4().hex}")
    f = winnow.ingest_files(lake, [str(path)], workers=1).files[0]
    distinct = {i for kind, i in records if kind == "real"}
    assert f.read == len(records)
    assert f.rejected == sum(kind == "broken" for kind, _ in records)
    assert f.written == len(distinct) == lake.docs().count_rows()
    assert f.balanced
    ids = set(lake.docs().to_table(columns=["id"])["id"].to_pylist())
    assert ids == {json.loads(REAL[i])["id"] for i in distinct}

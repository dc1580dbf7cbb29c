"""Values as the pages show them: one line of text per cell."""

from __future__ import annotations

import math

CELL_CHARS = 240  # a result cell longer than this is cut (the document page shows whole texts)


def cell(value, limit: int | None = CELL_CHARS) -> str:
    """A value as text: NULL, NaN, floats as their shortest exact form (repr), long lists and
    vectors summarized, whitespace folded to single spaces, cut at `limit` characters."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else repr(value)
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value):,} bytes>"
    if isinstance(value, list) and len(value) > 8:
        return f"[{len(value):,} values: " + ", ".join(cell(v, None) for v in value[:4]) + ", …]"
    text = " ".join(str(value).split())
    if limit is not None and len(text) > limit:
        return text[:limit] + "…"
    return text

"""Union-find over rows in one numpy int64 array: `parent[i]` is a row <= i, a root is its
own parent, and a set's root is its smallest row (a row is only ever linked to a smaller
one). Unions take whole edge arrays at once; memory is the array (8 bytes a row) plus the
edges given."""

from __future__ import annotations

import numpy as np


def new(rows: int) -> np.ndarray:
    """`rows` singleton sets: parent[i] = i."""
    return np.arange(rows, dtype=np.int64)


def find(parent: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The roots of the rows `x`; the path of each is compressed (x points at its root)."""
    r = parent[x]
    while True:
        up = parent[r]
        if np.array_equal(up, r):
            break
        r = up
    parent[x] = r
    return r


def union(parent: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """Join the sets of a[k] and b[k] for every k: the larger root is linked under the smaller."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    while len(a):
        ra, rb = find(parent, a), find(parent, b)
        apart = ra != rb
        if not apart.any():
            return
        lo, hi = np.minimum(ra, rb)[apart], np.maximum(ra, rb)[apart]
        np.minimum.at(parent, hi, lo)  # one root may meet several: it takes the smallest, the rest go round again
        a, b = a[apart], b[apart]


def roots(parent: np.ndarray) -> np.ndarray:
    """Every row's root (the smallest row of its set); compresses every path."""
    while True:
        up = parent[parent]
        if np.array_equal(up, parent):
            return parent
        parent[:] = up

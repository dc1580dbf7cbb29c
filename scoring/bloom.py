"""A Bloom filter over 64-bit keys, checked and filled in order, a batch of keys at a time.

    bits, hashes = sized(n, fp_rate)        # for n keys at a false-positive rate
    bloom = Bloom(bits, hashes)
    seen = bloom.add(keys)                  # bool per key: its bits were all set before it

`add` is the sequential rule of DCLM's BFF and Dolma's dedup (each key checked, then
inserted, one after the other) computed for a whole batch at once: key j is seen when
each of its bits was set before the batch or by a key i < j of the batch. A key that
occurred before is therefore always seen (no false negative); a new key is seen with the
probability that its bits were all set by others, the false-positive rate.

Sizing is the textbook optimum, as DCLM's BFF (`compute_bloom_size`, mlfoundations/dclm
dedup/bff/src/main.rs) and Dolma (`bloom_filter.desired_false_positive_rate` with
`estimated_doc_count`) size theirs: for n keys at rate p, m = ceil(-n ln p / (ln 2)^2)
bits and k = round(m / n * ln 2) hash positions, so that the rate once all n keys are in,
(1 - e^(-k n / m))^k, is p. The positions of a key are k values of one double-hashing
sequence, (h1 + i * h2) mod m (Kirsch & Mitzenmacher), h1 and h2 two splitmix64 mixes of
the key (h2 odd). The filter's bits are a numpy uint64 array: m / 8 bytes.
"""

from __future__ import annotations

import math

import numpy as np

CHUNK = 1 << 20  # keys checked per numpy pass (bounds the memory of `add`)
_KEY_BITS = 20  # a key's index in its chunk, beside its position in one int64 (positions < 2**43)
MAX_BITS = 1 << 43
_SECOND = np.uint64(0x9E3779B97F4A7C15)  # xored into the key before the second mix


def sized(n: int, fp_rate: float) -> tuple[int, int]:
    """(bits, hashes) of the smallest filter whose false-positive rate is `fp_rate` once `n`
    keys are in (at least 64 bits and one hash)."""
    if not 0 < fp_rate < 1:
        raise ValueError(f"fp_rate={fp_rate}: a false-positive rate is between 0 and 1 (exclusive)")
    n = max(1, int(n))
    bits = max(64, math.ceil(-n * math.log(fp_rate) / math.log(2) ** 2))
    bits = -(-bits // 64) * 64
    return bits, max(1, round(bits / n * math.log(2)))


def expected_rate(bits: int, hashes: int, n: int) -> float:
    """The false-positive rate of a filter of `bits` and `hashes` holding `n` distinct keys."""
    return (1.0 - math.exp(-hashes * n / bits)) ** hashes


def mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, elementwise on uint64 (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class Bloom:
    """`bits` bits (a multiple of 64), `hashes` positions per key; see the module."""

    def __init__(self, bits: int, hashes: int):
        if not 64 <= bits <= MAX_BITS or bits % 64 or hashes < 1:
            raise ValueError(f"a Bloom filter needs 64 to 2**43 bits, a multiple of 64 (got {bits}), "
                             f"and hashes >= 1 (got {hashes})")
        self.bits, self.hashes = bits, hashes
        self.words = np.zeros(bits // 64, np.uint64)

    def positions(self, keys: np.ndarray) -> np.ndarray:
        """int64 [keys, hashes]: the bit positions of each key. Each value of the double-hashing
        sequence is mapped to [0, bits) by its top 53 bits times bits / 2**53 (a multiply
        where a modulo would be; exact in float64 for any size allowed)."""
        keys = np.asarray(keys, np.uint64)
        with np.errstate(over="ignore"):
            h1 = mix(keys)
            h2 = mix(keys ^ _SECOND) | np.uint64(1)
            steps = np.arange(self.hashes, dtype=np.uint64)
            values = h1[:, None] + steps[None, :] * h2[:, None]
        return ((values >> np.uint64(11)).astype(np.float64) * (self.bits / 2.0 ** 53)).astype(np.int64)

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """bool per key: all its bits are set (the filter is not changed)."""
        return self._set(self.positions(keys)).all(axis=1)

    def add(self, keys: np.ndarray) -> np.ndarray:
        """Check then insert each key in order; bool per key: it was seen before (see the module)."""
        keys = np.asarray(keys, np.uint64)
        seen = np.empty(len(keys), bool)
        for start in range(0, len(keys), CHUNK):
            seen[start:start + CHUNK] = self._add(keys[start:start + CHUNK])
        return seen

    def _add(self, keys: np.ndarray) -> np.ndarray:
        if not len(keys):
            return np.zeros(0, bool)
        pos = self.positions(keys)
        unset = ~self._set(pos)
        # Key j is new exactly when it is the first key of the batch to set one of the positions
        # still unset before the batch. (position, key) pairs sorted: each position's first pair.
        owner = np.broadcast_to(np.arange(len(keys), dtype=np.int64)[:, None], pos.shape)
        pairs = np.sort((pos[unset] << _KEY_BITS) | owner[unset])
        where = pairs >> _KEY_BITS
        first = np.empty(len(pairs), bool)
        first[:1] = True
        np.not_equal(where[1:], where[:-1], out=first[1:])
        seen = np.ones(len(keys), bool)
        seen[pairs[first] & ((1 << _KEY_BITS) - 1)] = False
        new = where[first]
        np.bitwise_or.at(self.words, new >> 6, np.left_shift(np.uint64(1), (new & 63).astype(np.uint64)))
        return seen

    def _set(self, pos: np.ndarray) -> np.ndarray:
        return (self.words[pos >> 6] >> (pos & 63).astype(np.uint64)) & np.uint64(1) == 1

    def fill(self) -> float:
        """The fraction of bits set."""
        return int(np.bitwise_count(self.words).sum(dtype=np.int64)) / self.bits

    def rate(self) -> float:
        """The false-positive rate now: the chance that a new key's bits are all set, fill ** hashes."""
        return self.fill() ** self.hashes

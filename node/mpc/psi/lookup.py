"""Exact membership of many 64-bit-prefixed values in one large set, vectorised.

`sort + searchsorted` costs ~80 ns per probe at 1e7 and `np.isin` more. Here the set is an
open-addressing table (linear probing, >= 2 slots per value, the prefix's top bits as the home slot)
built without any insertion loop: keys are sorted (numpy's SIMD sort), which is home-slot order,
and the i-th key lands at i + max_{j<=i}(home_j - j) — linear probing's placement for keys
inserted in that order. A key stores the value's top prefix bits with its entry index in the low
bits, so one uint64 array is the whole table. A probe reads ~1.2 slots (load <= 1/2), as whole-array
gathers round by round; a top-bits match is confirmed on the full prefix and the suffix, and probing
goes on past a match that fails, so equal top bits never hide a value: the answer is exact.
The keys are OPRF outputs, uniformly random, so home slots spread evenly.
"""

from __future__ import annotations

import numpy as np

EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)


class ValueTable:
    """Set of (prefix, suffix) pairs (prefix uint64); `find` returns the exact matches."""

    def __init__(self, prefix: np.ndarray, suffix: np.ndarray) -> None:
        m = prefix.size
        self.prefix = prefix
        self.suffix = suffix
        self._slot_bits = max(4, int(np.ceil(np.log2(max(2 * m, 2)))))
        self._index_bits = max(1, int(np.ceil(np.log2(m + 2))))
        if self._slot_bits + self._index_bits > 64:
            raise ValueError(f"{m} values are too many for one table")
        self._shift = np.uint64(64 - self._slot_bits)
        self._index_mask = np.uint64((1 << self._index_bits) - 1)
        keys = np.arange(m, dtype=np.uint64)
        keys |= prefix & ~self._index_mask
        keys.sort()
        # position_i = i + max_{j<=i}(home_j - j), computed in place in one int64 array
        position = (keys >> self._shift).view(np.int64)
        offset = np.arange(m, dtype=np.int64)
        position -= offset
        np.maximum.accumulate(position, out=position)
        position += offset
        del offset
        length = max(1 << self._slot_bits, int(position[-1]) + 1 if m else 0) + 1
        self.table = np.full(length, EMPTY, dtype=np.uint64)
        self.table[position] = keys

    def find(self, prefix: np.ndarray, suffix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(indices into the query, matching entry indices) for every query value in the set."""
        act = np.arange(prefix.size, dtype=np.int64)
        p, sfx = prefix, suffix
        top = p & ~self._index_mask
        slot = (p >> self._shift).astype(np.int64)
        found_q: list[np.ndarray] = []
        found_e: list[np.ndarray] = []
        while act.size:
            k = self.table[slot]
            done = k == EMPTY
            same = np.flatnonzero(((k & ~self._index_mask) == top) & ~done)
            if same.size:
                e = (k[same] & self._index_mask).astype(np.int64)
                ok = (self.prefix[e] == p[same]) & (self.suffix[e] == sfx[same])
                found_q.append(act[same[ok]])
                found_e.append(e[ok])
                done[same[ok]] = True
            keep = ~done
            act, p, sfx, top = act[keep], p[keep], sfx[keep], top[keep]
            slot = slot[keep] + 1
        if not found_q:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(found_q), np.concatenate(found_e)

"""Cuckoo hashing with three hash functions and a stash, vectorised (no per-item Python loop).

The receiver of the KKRT OPRF puts each of its n items into one of ceil(1.27 n) bins, at
position h_0, h_1 or h_2 of the item, at most one item per bin; what cannot be placed goes to a
small stash. With three hash functions and load 1/1.27 ~ 0.79 (below the 0.918 threshold of
3-ary cuckoo hashing) the stash is empty except with negligible probability (PSZ18 size this
setting for 2^-40); the engine still handles a non-empty stash exactly.

Insertion runs in rounds over whole arrays: three greedy rounds that only fill empty bins (placing
~98% of items), then eviction rounds — every pending item takes its current bin, the previous
occupant is evicted and moves on to one of its other two functions, chosen at random — until all
are placed or the round limit sends the rest to the stash.

The hash functions are keyed per run (a fresh 16-byte key, shared with the other party): h_i(x) is
32-bit word i of AES-MMO_key(digest(x)), scaled to [0, nbins) by multiply-shift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from node.mpc.psi.aes import FixedKeyAes

BIN_FACTOR = 1.27
HASHES = 3
MAX_EVICTION_ROUNDS = 400


def bin_count(n: int, factor: float = BIN_FACTOR) -> int:
    """Bins for n items: ceil(factor * n), at least 64."""
    return max(64, math.ceil(factor * n))


def bin_indices(digests: np.ndarray, key: bytes, nbins: int) -> np.ndarray:
    """`(3, n)` int32 (int64 past 2^31 bins): the three candidate bins of every digest."""
    n = digests.shape[0]
    dtype = np.int32 if nbins < 2**31 else np.int64
    if n == 0:
        return np.zeros((HASHES, 0), dtype=dtype)
    mixed = FixedKeyAes(key).mmo(np.ascontiguousarray(digests))
    words = mixed.view(np.uint32).reshape(n, 4)
    out = np.empty((HASHES, n), dtype=dtype)
    wide = np.empty(n, dtype=np.uint64)
    for i in range(HASHES):
        np.multiply(words[:, i], np.uint64(nbins), out=wide, casting="unsafe")
        np.right_shift(wide, np.uint64(32), out=wide)
        out[i] = wide
    return out


@dataclass
class CuckooTable:
    """Result of insertion: `table[bin]` = item index or -1, `choice[item]` = hash function used
    (for placed items), `stash` = item indices that found no bin."""

    table: np.ndarray
    choice: np.ndarray
    stash: np.ndarray


def insert(bins: np.ndarray, nbins: int, seed: int = 0,
           max_rounds: int = MAX_EVICTION_ROUNDS) -> CuckooTable:
    """Place items with candidate bins `bins` ((3, n) int64) into `nbins` bins."""
    n = bins.shape[1]
    index = np.int32 if n < 2**31 else np.int64
    table = np.full(nbins, -1, dtype=index)
    choice = np.zeros(n, dtype=np.int8)
    pending = np.arange(n, dtype=index)
    # Greedy: try each function in turn, only into empty bins.
    for i in range(HASHES):
        if pending.size == 0:
            break
        b = bins[i, pending]
        empty = table[b] < 0
        cand, cb = pending[empty], b[empty]
        table[cb] = cand
        won = np.zeros(pending.size, dtype=bool)
        won[np.flatnonzero(empty)] = table[cb] == cand
        choice[pending[won]] = i
        pending = pending[~won]
    # Eviction rounds (random walk) for the few left.
    rng = np.random.default_rng(seed)
    choice[pending] = rng.integers(0, HASHES, pending.size)
    for _ in range(max_rounds):
        if pending.size == 0:
            break
        b = bins[choice[pending], pending]
        previous = table[b]
        table[b] = pending
        won = table[b] == pending
        evicted = previous[won & (previous >= 0)]
        losers = pending[~won]
        choice[evicted] = (choice[evicted] + rng.integers(1, HASHES, evicted.size)) % HASHES
        choice[losers] = (choice[losers] + rng.integers(1, HASHES, losers.size)) % HASHES
        pending = np.concatenate([evicted, losers])
    return CuckooTable(table=table, choice=choice, stash=np.sort(pending))

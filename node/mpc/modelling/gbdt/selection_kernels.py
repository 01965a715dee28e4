"""Fused per-row kernels of the secure-histogram selection (numba, compiled once and cached).

No I/O and no cryptography here (the AES stays in `selection_ggm`): these turn a block of tweaked
leaves into the masked values, the share vectors and the all-rows sums in one pass, without the
numpy temporaries (transposes, negations, per-bin reductions) that cost as much as the AES.

Layouts: tweaked leaves `tw` `(L, N, W)` uint64, level-major (leaf j of item i at `tw[j, i]`),
item i = row * F + feature; a tree's mask of leaf j, lane k is `tw[j, i, use + k]` (W = 2m words
serve two trees: `use` = 0 for the even tree of a pair, m for the odd one). Share caches are
row-major `(rows, F, n_bins, m)` (what node sums gather). All arithmetic wraps mod 2^64.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(nogil=True, boundscheck=False, cache=True)
def active_block(tw: np.ndarray, v: np.ndarray, n_features: int, n_bins: int, m: int,
                 use: int, other: int, c: np.ndarray, all_rows: np.ndarray, cur: np.ndarray,
                 nxt: np.ndarray, store_next: bool) -> None:
    """The label holder's block: c[i] = v[row] + sum_j r_j; all_rows -= r; r kept in `cur` for
    the first cur.shape[0] rows (the cache holds r; its node sums are negated), and the pair's
    other tree's masks in `nxt` when `store_next`."""
    n_store = cur.shape[0]
    for i in range(tw.shape[1]):
        row = i // n_features
        f = i - row * n_features
        for k in range(m):
            s = np.uint64(0)
            for j in range(n_bins):
                x = tw[j, i, use + k]
                s += x
                all_rows[f, j, k] -= x
                if row < n_store:
                    cur[row, f, j, k] = x
                    if store_next:
                        nxt[row, f, j, k] = tw[j, i, other + k]
            c[i, k] = v[row, k] + s


@numba.njit(nogil=True, boundscheck=False, cache=True)
def passive_block(tw: np.ndarray, bins: np.ndarray, c: np.ndarray, n_features: int,
                  n_bins: int, m: int, use: int, other: int, d: np.ndarray,
                  all_rows: np.ndarray, cur: np.ndarray, nxt: np.ndarray,
                  store_next: bool) -> None:
    """The feature holder's block: d[i] = c[i] - sum_{j != b} r_j (= v + r_b); its share p is r
    with d at bin b; all_rows += p; p kept in `cur` for the first cur.shape[0] rows, and the
    pair's other tree's masks in `nxt` when `store_next` (its bin-b slot is garbage)."""
    n_store = cur.shape[0]
    for i in range(tw.shape[1]):
        row = i // n_features
        f = i - row * n_features
        b = bins[i]
        for k in range(m):
            s = np.uint64(0)
            for j in range(n_bins):
                if j != b:
                    s += tw[j, i, use + k]
            dk = c[i, k] - s
            d[i, k] = dk
            for j in range(n_bins):
                x = dk if j == b else tw[j, i, use + k]
                all_rows[f, j, k] += x
                if row < n_store:
                    cur[row, f, j, k] = x
                    if store_next:
                        nxt[row, f, j, k] = tw[j, i, other + k]


@numba.njit(nogil=True, boundscheck=False, cache=True)
def passive_sum(tw: np.ndarray, bins: np.ndarray, d: np.ndarray, n_features: int, n_bins: int,
                m: int, use: int, out: np.ndarray) -> None:
    """out += the share p (r with the kept d = v + r_b at bin b) of every item of a block of
    rows beyond the cache (node sums)."""
    for i in range(tw.shape[1]):
        f = i % n_features
        b = bins[i]
        for k in range(m):
            for j in range(n_bins):
                out[f, j, k] += d[i, k] if j == b else tw[j, i, use + k]


@numba.njit(nogil=True, boundscheck=False, cache=True)
def active_stored(buf: np.ndarray, v: np.ndarray, c: np.ndarray, all_rows: np.ndarray) -> None:
    """The odd tree of a pair from its stored masks `buf` `(rows, F, n_bins, m)`: c = v + sum_j
    r_j, all_rows -= r (buf stays r: the cache)."""
    rows, n_features, n_bins, m = buf.shape
    for row in range(rows):
        for f in range(n_features):
            for k in range(m):
                s = np.uint64(0)
                for j in range(n_bins):
                    x = buf[row, f, j, k]
                    s += x
                    all_rows[f, j, k] -= x
                c[row, f, k] = v[row, k] + s


@numba.njit(nogil=True, boundscheck=False, cache=True)
def passive_stored(buf: np.ndarray, bins: np.ndarray, c: np.ndarray,
                   all_rows: np.ndarray) -> None:
    """The odd tree of a pair from its stored masks: d = c - sum_{j != b} r_j written into bin
    b's slot, so `buf` becomes the share p; all_rows += p."""
    rows, n_features, n_bins, m = buf.shape
    for row in range(rows):
        for f in range(n_features):
            b = bins[row, f]
            for k in range(m):
                s = np.uint64(0)
                for j in range(n_bins):
                    if j != b:
                        s += buf[row, f, j, k]
                buf[row, f, b, k] = c[row, f, k] - s
                for j in range(n_bins):
                    all_rows[f, j, k] += buf[row, f, j, k]


@numba.njit(nogil=True, boundscheck=False, cache=True)
def gather_sum(cache: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
    """out += sum of cache[r] over `rows` (`cache` `(n, W)`, `out` `(W,)`)."""
    width = cache.shape[1]
    for r in rows:
        for w in range(width):
            out[w] += cache[r, w]


_warm = False


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel for the types the selection uses."""
    global _warm
    if _warm:
        return
    u64, u8 = np.uint64, np.uint8
    tw = np.zeros((2, 2, 2), dtype=u64)
    four = np.zeros((1, 2, 2, 1), dtype=u64)
    two = np.zeros((2, 1), dtype=u64)
    hist = np.zeros((2, 2, 1), dtype=u64)
    active_block(tw, two[:1], 2, 2, 1, 0, 1, two, hist, four[:0], four[:0], False)
    passive_block(tw, np.zeros(2, dtype=u8), two, 2, 2, 1, 0, 1, two.copy(), hist, four[:0],
                  four[:0], False)
    passive_sum(tw, np.zeros(2, dtype=u8), two, 2, 2, 1, 0, hist)
    active_stored(four, two[:1], np.zeros((1, 2, 1), dtype=u64), hist)
    passive_stored(four, np.zeros((1, 2), dtype=u8), np.zeros((1, 2, 1), dtype=u64), hist)
    gather_sum(np.zeros((2, 3), dtype=u64), np.zeros(1, dtype=np.int64), np.zeros(3, dtype=u64))
    _warm = True

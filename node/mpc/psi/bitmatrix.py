"""Bit-matrix transposition, vectorised over 64x64 blocks (the IKNP/KKRT matrix flip).

Layout: a bit matrix of R rows and C columns is a C-contiguous `(R, C // 8)` uint8 array, bit c of
row r at byte c // 8, bit c % 8 (LSB first) — i.e. bit c % 64 of little-endian uint64 word c // 64.
`transpose(m)` returns the `(C, R // 8)` array of the transposed matrix. R and C must be multiples
of 64.

How: the matrix is cut into 64x64 blocks; a block's 64 row-words are transposed in place by the
six-stage masked swap (Hacker's Delight 7-3, LSB-first), applied to many blocks at once with the
block index as the contiguous axis, in cache-sized groups of blocks, so each numpy call runs over a
long contiguous vector. (np.unpackbits/packbits would be ~20x slower.)
"""

from __future__ import annotations

import numpy as np

_MASKS = {
    32: np.uint64(0x00000000FFFFFFFF),
    16: np.uint64(0x0000FFFF0000FFFF),
    8: np.uint64(0x00FF00FF00FF00FF),
    4: np.uint64(0x0F0F0F0F0F0F0F0F),
    2: np.uint64(0x3333333333333333),
    1: np.uint64(0x5555555555555555),
}
_GROUP_BLOCKS = 1024  # 64 words x 1024 blocks x 8 bytes = 512 KiB per group: about L2


def transpose_blocks_inplace(x: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
    """Transpose every 64x64 block of `x`, shape (64, nblocks) uint64, word x[r, k] = row r of
    block k; afterwards x[c, k] holds column c of block k."""
    nblocks = x.shape[1]
    if scratch is None or scratch.size < 32 * nblocks:
        scratch = np.empty(32 * nblocks, dtype=np.uint64)
    for j, mask in _MASKS.items():
        view = x.reshape(64 // (2 * j), 2, j, nblocks)
        a = view[:, 0]
        b = view[:, 1]
        t = scratch[: 32 * nblocks].reshape(a.shape)
        np.right_shift(a, np.uint64(j), out=t)
        np.bitwise_xor(t, b, out=t)
        np.bitwise_and(t, mask, out=t)
        np.bitwise_xor(b, t, out=b)
        np.left_shift(t, np.uint64(j), out=t)
        np.bitwise_xor(a, t, out=a)
    return x


def transpose_words(src: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Transpose a bit matrix held as uint64 words: `src` (R, C/64) -> `out` (C, R/64).

    Both may be strided views (e.g. the first 7 words of 8-word rows); rows are bit rows."""
    rows, ncb = src.shape
    cols = ncb * 64
    if rows % 64:
        raise ValueError(f"bit matrix of {rows} rows: the row count must be a multiple of 64")
    if out.shape != (cols, rows // 64):
        raise ValueError(f"output shape {out.shape} should be {(cols, rows // 64)}")
    nrb = rows // 64
    words = src.reshape(nrb, 64, ncb)
    target = out.reshape(ncb, 64, nrb)
    if out.size and not np.shares_memory(target, out):
        raise ValueError("the output view cannot be reshaped in place; pass a simpler view")
    cstep = min(ncb, _GROUP_BLOCKS)
    rstep = max(1, _GROUP_BLOCKS // cstep)
    group = np.empty(64 * rstep * cstep, dtype=np.uint64)
    scratch = np.empty(32 * rstep * cstep, dtype=np.uint64)
    for r0 in range(0, nrb, rstep):
        r1 = min(r0 + rstep, nrb)
        for c0 in range(0, ncb, cstep):
            c1 = min(c0 + cstep, ncb)
            shape = (64, r1 - r0, c1 - c0)
            x = group[: 64 * (r1 - r0) * (c1 - c0)].reshape(shape)
            x[:] = words[r0:r1, :, c0:c1].transpose(1, 0, 2)
            transpose_blocks_inplace(x.reshape(64, -1), scratch)
            target[c0:c1, :, r0:r1] = x.transpose(2, 0, 1)
    return out


def transpose(m: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The transpose of bit matrix `m` ((R, C/8) uint8 -> (C, R/8) uint8); see the module doc."""
    rows, cbytes = m.shape
    cols = cbytes * 8
    if rows % 64 or cols % 64:
        raise ValueError(f"bit matrix {rows}x{cols} must have both sizes multiples of 64")
    if out is None:
        out = np.empty((cols, rows // 8), dtype=np.uint8)
    src = np.ascontiguousarray(m).view(np.uint64).reshape(rows, cols // 64)
    transpose_words(src, out.view(np.uint64).reshape(cols, rows // 64))
    return out

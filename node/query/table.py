"""The servers' common masked table D, stored bit-transposed, and the PIR answer over it.

D (slots x 128 bits) is kept as, for each part of the layout, one bit column of packed uint64
words per record bit a lookup reads (word w, bit j = slot 64w + j of the part; the tag's and
the fields' bits, record.SCANNED_BITS: 118 columns, the 10 spare bits are never stored nor
read): exactly the shape of a DPF's packed output, so a lookup's answer for one part is, per bit
column, the parity of (column AND selection) — a GF(2) matrix product of the table's bit columns
with the lookups' selection vectors.

The product runs in a fused kernel (numba, compiled once and cached): per block of words, a
register block of 4 bit columns x 4 lookups does 16 AND + XOR per 8 words loaded (the 3, 2 or 1
lookups left over: 4 x 2 and 4 x 1 blocks on the same words while they are in cache), so a batch
of concurrent lookups reads each block of the table once, no temporary array is written, and the
work is the same whatever the selections hold (no branch on the data). numpy's AND + XOR-reduce
(two passes with a temporary) took 4-10x the CPU per lookup in batches and ~4x for a single
lookup (bench/README.md).
"""

from __future__ import annotations

import hashlib

import numba
import numpy as np

from node.query.errors import ProtocolError
from node.query.layout import Layout
from node.query.record import LANES, RECORD_BYTES, SCANNED_BITS

BITS = 8 * RECORD_BYTES
COLUMNS = len(SCANNED_BITS)
"""Bit columns stored per part: one per record bit a lookup reads."""
_COLUMN_OF = np.full(BITS, -1, dtype=np.int64)
_COLUMN_OF[SCANNED_BITS] = np.arange(COLUMNS)
"""Record bit -> its column (-1: a spare bit, not stored)."""
_BLOCK_WORDS = 4096
"""Words per column per step: 4 columns x 4096 words x 8 B = 128 KiB of table per register
block, reused from L2 by every lookup of the batch (measured at 2^20 and 2^22 applicants: 1024
to 16384 within ~10 %, smaller blocks slower by the per-block stores, larger ones at batches
over 8 by the selections leaving L2)."""

def transpose(records: np.ndarray, layout: Layout) -> np.ndarray:
    """Bit columns of D: uint64, shape (parts, COLUMNS, part_slots / 64).

    Column c holds record bit SCANNED_BITS[c] (bit b of a slot is bit b % 64 of its lane
    b // 64); word w of a column holds slots 64w .. 64w + 63 of the part (bit j = slot 64w + j).
    Each group of 64 slots is two 64 x 64 bit-matrix transposes (`_transpose64`). Compiles the
    answer kernel on first use (before an epoch is served)."""
    if records.shape != (layout.slots, LANES) or records.dtype != np.uint64:
        raise ProtocolError(f"a table must be uint64 of shape ({layout.slots}, {LANES})")
    words = layout.part_slots // 64
    cols = np.empty((layout.subtables, COLUMNS, words), dtype=np.uint64)
    _transpose_all(np.ascontiguousarray(records), cols, _COLUMN_OF)
    warm_up()
    return cols


def transpose_part(records: np.ndarray, cols: np.ndarray, part: int) -> None:
    """Bit columns of one part of D (its rows in storage order) into `cols[part]` (cols as
    `transpose` returns them): an epoch formed part by part never holds D whole."""
    words = cols.shape[2]
    if records.shape != (words * 64, LANES) or records.dtype != np.uint64:
        raise ProtocolError(f"a part must be uint64 of shape ({words * 64}, {LANES})")
    _transpose_all(np.ascontiguousarray(records), cols[part:part + 1], _COLUMN_OF)


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _transpose_all(records: np.ndarray, cols: np.ndarray, column_of: np.ndarray) -> None:
    """records (parts * words * 64, 2) -> cols (parts, COLUMNS, words), 64 slots at a time;
    record bit b goes to column column_of[b] (none when -1)."""
    parts, _, words = cols.shape
    a = np.empty(64, dtype=np.uint64)
    for p in range(parts):
        for w in range(words):
            base = (p * words + w) * 64
            for lane in range(2):
                for i in range(64):
                    a[i] = records[base + i, lane]
                _transpose64(a)
                for k in range(64):
                    c = column_of[lane * 64 + k]
                    if c >= 0:
                        cols[p, c, w] = a[k]


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _transpose64(a: np.ndarray) -> None:
    """In place: afterwards bit i of a[k] is what bit k of a[i] was. Block swaps (Hacker's
    Delight 7-3): the off-diagonal 32 x 32 blocks, then the 16 x 16 ones inside each, ... 1 x 1.
    """
    j = 32
    m = np.uint64(0x00000000FFFFFFFF)
    while j != 0:
        shift = np.uint64(j)
        for k in range(0, 64, 2 * j):
            for i in range(k, k + j):
                t = ((a[i] >> shift) ^ a[i + j]) & m
                a[i] ^= t << shift
                a[i + j] ^= t
        j >>= 1
        m ^= m << np.uint64(j)


@numba.njit(nogil=True, boundscheck=False, cache=True, inline="always")
def _block4(r0: np.ndarray, r1: np.ndarray, r2: np.ndarray, r3: np.ndarray, s0: np.ndarray,
            s1: np.ndarray, s2: np.ndarray, s3: np.ndarray, acc: np.ndarray, q: int, p: int,
            j: int) -> None:
    """acc[q..q+3, p, j..j+3] ^= XOR over the block of (column AND selection): 16 AND + XOR per
    8 words loaded."""
    a00 = a01 = a02 = a03 = np.uint64(0)
    a10 = a11 = a12 = a13 = np.uint64(0)
    a20 = a21 = a22 = a23 = np.uint64(0)
    a30 = a31 = a32 = a33 = np.uint64(0)
    for w in range(r0.shape[0]):
        x0 = s0[w]
        x1 = s1[w]
        x2 = s2[w]
        x3 = s3[w]
        y = r0[w]
        a00 ^= y & x0
        a01 ^= y & x1
        a02 ^= y & x2
        a03 ^= y & x3
        y = r1[w]
        a10 ^= y & x0
        a11 ^= y & x1
        a12 ^= y & x2
        a13 ^= y & x3
        y = r2[w]
        a20 ^= y & x0
        a21 ^= y & x1
        a22 ^= y & x2
        a23 ^= y & x3
        y = r3[w]
        a30 ^= y & x0
        a31 ^= y & x1
        a32 ^= y & x2
        a33 ^= y & x3
    acc[q, p, j] ^= a00
    acc[q + 1, p, j] ^= a01
    acc[q + 2, p, j] ^= a02
    acc[q + 3, p, j] ^= a03
    acc[q, p, j + 1] ^= a10
    acc[q + 1, p, j + 1] ^= a11
    acc[q + 2, p, j + 1] ^= a12
    acc[q + 3, p, j + 1] ^= a13
    acc[q, p, j + 2] ^= a20
    acc[q + 1, p, j + 2] ^= a21
    acc[q + 2, p, j + 2] ^= a22
    acc[q + 3, p, j + 2] ^= a23
    acc[q, p, j + 3] ^= a30
    acc[q + 1, p, j + 3] ^= a31
    acc[q + 2, p, j + 3] ^= a32
    acc[q + 3, p, j + 3] ^= a33


@numba.njit(nogil=True, boundscheck=False, cache=True, inline="always")
def _block2(r0: np.ndarray, r1: np.ndarray, r2: np.ndarray, r3: np.ndarray, s0: np.ndarray,
            s1: np.ndarray, acc: np.ndarray, q: int, p: int, j: int) -> None:
    """The same for lookups q, q + 1: 4 bit columns x 2 lookups."""
    a00 = a01 = a10 = a11 = np.uint64(0)
    a20 = a21 = a30 = a31 = np.uint64(0)
    for w in range(r0.shape[0]):
        x0 = s0[w]
        x1 = s1[w]
        y = r0[w]
        a00 ^= y & x0
        a01 ^= y & x1
        y = r1[w]
        a10 ^= y & x0
        a11 ^= y & x1
        y = r2[w]
        a20 ^= y & x0
        a21 ^= y & x1
        y = r3[w]
        a30 ^= y & x0
        a31 ^= y & x1
    acc[q, p, j] ^= a00
    acc[q + 1, p, j] ^= a01
    acc[q, p, j + 1] ^= a10
    acc[q + 1, p, j + 1] ^= a11
    acc[q, p, j + 2] ^= a20
    acc[q + 1, p, j + 2] ^= a21
    acc[q, p, j + 3] ^= a30
    acc[q + 1, p, j + 3] ^= a31


@numba.njit(nogil=True, boundscheck=False, cache=True, inline="always")
def _block1(r0: np.ndarray, r1: np.ndarray, r2: np.ndarray, r3: np.ndarray, s: np.ndarray,
            acc: np.ndarray, q: int, p: int, j: int) -> None:
    """The same for lookup q alone: 4 bit columns x 1 lookup."""
    a0 = a1 = a2 = a3 = np.uint64(0)
    for w in range(r0.shape[0]):
        x = s[w]
        a0 ^= r0[w] & x
        a1 ^= r1[w] & x
        a2 ^= r2[w] & x
        a3 ^= r3[w] & x
    acc[q, p, j] ^= a0
    acc[q, p, j + 1] ^= a1
    acc[q, p, j + 2] ^= a2
    acc[q, p, j + 3] ^= a3


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _scan(cols: np.ndarray, sel: np.ndarray, acc: np.ndarray, block: int) -> None:
    """acc[q, p, j] ^= XOR over w of cols[p, j, w] & sel[q, p % k, w] for every lookup q (k =
    sel.shape[1]), in one pass over the table whatever the batch's size: per block of words and
    4 bit columns, register blocks of 4 lookups, then the 3, 2 or 1 left over, while the block
    is still in cache. (Separate passes for the remainder had made a batch of 5 cost 1.7x one of
    4 at 2^22 applicants: every pass reads the whole table from memory.) When the columns are
    not a multiple of 4, the last group repeats its last column (words already in cache) and
    acc has room for the repeats: acc.shape[2] = columns rounded up to 4."""
    parts, bits, words = cols.shape
    last = bits - 1
    count = sel.shape[0]
    full = count - count % 4
    rest = count - full
    for p in range(parts):
        ps = p % sel.shape[1]
        for w0 in range(0, words, block):
            w1 = min(w0 + block, words)
            for j in range(0, bits, 4):
                r0 = cols[p, j, w0:w1]
                r1 = cols[p, min(j + 1, last), w0:w1]
                r2 = cols[p, min(j + 2, last), w0:w1]
                r3 = cols[p, min(j + 3, last), w0:w1]
                for q in range(0, full, 4):
                    _block4(r0, r1, r2, r3, sel[q, ps, w0:w1], sel[q + 1, ps, w0:w1],
                            sel[q + 2, ps, w0:w1], sel[q + 3, ps, w0:w1], acc, q, p, j)
                if rest >= 2:
                    _block2(r0, r1, r2, r3, sel[full, ps, w0:w1], sel[full + 1, ps, w0:w1],
                            acc, full, p, j)
                if rest % 2:
                    _block1(r0, r1, r2, r3, sel[count - 1, ps, w0:w1], acc, count - 1, p, j)


_warm = False


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernel for the shapes' types once."""
    global _warm
    if not _warm:
        answer(np.zeros((1, COLUMNS, 1), dtype=np.uint64), np.zeros((7, 1, 1), dtype=np.uint64))
        _warm = True


def answer(cols: np.ndarray, selections: np.ndarray) -> np.ndarray:
    """Answer shares for a batch of lookups.

    `selections`: uint64 (lookups, k, words), one evaluated DPF key per part, or per part of a
    segment when k divides the table's parts: part p then takes selection p % k (the same slots
    in every segment, layout.py), read in place rather than copied per segment. Returns uint64
    (lookups, parts, LANES): this server's XOR share of D at each lookup's slot in each part
    (its spare bits, never read, 0).
    """
    parts, bits, words = cols.shape
    if selections.ndim != 3 or selections.shape[2] != words or not selections.shape[1] \
            or parts % selections.shape[1]:
        raise ProtocolError(f"selections must have shape (n, k, {words}), k dividing {parts}")
    if cols.dtype != np.uint64 or selections.dtype != np.uint64 or bits != COLUMNS:
        raise ProtocolError(f"table and selections must be uint64, the table {COLUMNS} bit "
                            "columns")
    count = selections.shape[0]
    acc = np.zeros((count, parts, -(-bits // 4) * 4), dtype=np.uint64)
    _scan(np.ascontiguousarray(cols), np.ascontiguousarray(selections), acc, _BLOCK_WORDS)
    for shift in (32, 16, 8, 4, 2, 1):  # fold each word onto its lowest bit: the parity
        acc ^= acc >> np.uint64(shift)
    parity = np.zeros((count, parts, BITS), dtype=np.uint8)  # spare bits stay 0
    parity[:, :, SCANNED_BITS] = acc[:, :, :bits] & np.uint64(1)
    packed = np.packbits(parity, axis=2, bitorder="little")  # (count, parts, BITS / 8)
    return np.ascontiguousarray(packed).view(np.uint64).reshape(count, parts, -1)


def digest(records: np.ndarray) -> str:
    """sha256 of D: both servers must hold the same table for an answer to be right."""
    # hashed in place: a copy (tobytes) would hold the GIL for the whole table's memcpy
    return "sha256:" + hashlib.sha256(memoryview(np.ascontiguousarray(records)).cast("B")
                                      ).hexdigest()

"""Fieldwise arithmetic on packed records: each field of a record is its own ring Z/2^width.

Why: a lookup's second round (matching.py) reads each field the service job answers on its own,
D_f = T_f + R_f mod 2^width, and the asker removes R_f; the fields withheld are never read. That
is exact, and says nothing about a withheld field, only if every sum is taken per field with no
carry or borrow crossing into the next field: with lane sums (mod 2^64) a field of D also holds
the carry out of the field below it, and the asker, who knows R, would learn from an allowed
field whether T + R wrapped in the withheld field below — a threshold on its value. So every
addition and subtraction of shares and masks is fieldwise: members' contributions (C - S), the
servers' sums of them, the masked table and the asker's masks. Sums of true values never
overflow a field (record.MEMBER_CAPS), so fieldwise and lane sums of true values agree.

SWAR on uint64 lanes, H = the top bit of every field of the lane:
    add(a, b) = ((a & ~H) + (b & ~H)) ^ ((a ^ b) & H)
    sub(a, b) = ((a | H) - (b & ~H)) ^ ((a ^ ~b) & H)
The low bits of each field are summed with their carry stopping in the field's top bit, which
is then set by XOR; one compiled loop (numba) per operation, in place when `out` is an operand
(a 2^25-slot table is 512 MiB: no temporaries). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping

import numba
import numpy as np

from node.query.record import LANES, LAYOUT


def top_bits(layout: Mapping[str, tuple[int, int, int]], lanes: int) -> np.ndarray:
    """H per lane (uint64, shape (lanes,)) of a layout {name: (lane, shift, width)} whose fields
    tile every lane exactly (a bit outside every field would carry between fields)."""
    covered = [0] * lanes
    top = [0] * lanes
    for name, (lane, shift, width) in layout.items():
        bits = ((1 << width) - 1) << shift
        if width < 1 or shift + width > 64 or covered[lane] & bits:
            raise ValueError(f"field {name} overlaps another or leaves its lane")
        covered[lane] |= bits
        top[lane] |= 1 << (shift + width - 1)
    if any(c != (1 << 64) - 1 for c in covered):
        raise ValueError("the fields must cover every bit of every lane")
    return np.array(top, dtype=np.uint64)


TOP = top_bits(LAYOUT, LANES)
"""H of the record (record.LAYOUT)."""


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _add(a: np.ndarray, b: np.ndarray, out: np.ndarray, top: np.ndarray) -> None:
    rows, lanes = out.shape
    for i in range(rows):
        for j in range(lanes):
            h = top[j]
            low = ~h
            x = a[i, j]
            y = b[i, j]
            out[i, j] = ((x & low) + (y & low)) ^ ((x ^ y) & h)


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _sub(a: np.ndarray, b: np.ndarray, out: np.ndarray, top: np.ndarray) -> None:
    rows, lanes = out.shape
    for i in range(rows):
        for j in range(lanes):
            h = top[j]
            x = a[i, j]
            y = b[i, j]
            out[i, j] = ((x | h) - (y & ~h)) ^ ((x ^ ~y) & h)


def _apply(kernel: object, a: np.ndarray, b: np.ndarray, out: np.ndarray | None,
           top: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a), np.asarray(b)
    lanes = len(top)
    if a.dtype != np.uint64 or b.dtype != np.uint64 or a.shape != b.shape \
            or a.ndim < 1 or a.shape[-1] != lanes:
        raise ValueError(f"fieldwise operands are uint64 records of the same shape (..., {lanes})")
    if out is None:
        out = np.empty(a.shape, dtype=np.uint64)
    if out.shape != a.shape or out.dtype != np.uint64 or not out.flags.c_contiguous \
            or not out.flags.writeable:
        raise ValueError("out must be a writable C-contiguous uint64 array of the operands' shape")
    flat = out.reshape(-1, lanes)  # a view: out is C-contiguous
    kernel(np.ascontiguousarray(a).reshape(-1, lanes),  # type: ignore[operator]
           np.ascontiguousarray(b).reshape(-1, lanes), flat, np.ascontiguousarray(top))
    return out


def add(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None,
        top: np.ndarray = TOP) -> np.ndarray:
    """a + b, each field mod 2^width; `out` may be `a` or `b` (in place)."""
    return _apply(_add, a, b, out, top)


def sub(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None,
        top: np.ndarray = TOP) -> np.ndarray:
    """a - b, each field mod 2^width; `out` may be `a` or `b` (in place)."""
    return _apply(_sub, a, b, out, top)

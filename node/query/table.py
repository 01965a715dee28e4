"""The servers' common masked table D, stored bit-transposed, and the PIR answer over it.

D (slots x 128 bits) is kept as, for each part of the layout, one bit column of packed uint64
words per record bit a lookup reads (word w, bit j = slot 64w + j of the part; the tag's and
the fields' bits, record.SCANNED_BITS: 84 columns, the 44 spare bits are never stored nor
read): exactly the shape of a DPF's packed output, so a lookup's answer for one part is, per bit
column, the parity of (column AND selection) — a GF(2) matrix product of the table's bit columns
with the lookups' selection vectors.

The product runs in a fused kernel (numba, compiled once and cached): per block of words, a
register block of 4 bit columns x k lookups does 4 x k AND + XOR per vector of words loaded and
prefetches the next 4 columns. A batch of up to `SweepPlan.most` takes one sweep over the words;
a larger one sweeps the same words again while they are in cache, `SweepPlan.body` lookups at a
time, the rest joining the last sweep (`last_sweep`). The plan follows the host's vector
registers (`plan_for`): its accumulators must fit them. So a batch of concurrent lookups reads
each block of the table once, no temporary array is written, and the work is the same whatever
the selections hold (no branch on the data). numpy's AND + XOR-reduce
(two passes with a temporary) took 4-10x the CPU per lookup in batches and ~4x for a single
lookup (bench/README.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from llvmlite import binding, ir
from numba import types
from numba.core import cgutils, config
from numba.extending import intrinsic

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
    cols = np.empty((layout.subtables, COLUMNS, layout.part_words), dtype=np.uint64)
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


# ---- the register block: an explicit vector loop in LLVM IR -----------------------------------
# Why not plain numba: the arithmetic is the same (AND, XOR into 4 x k accumulators), but a pass
# over hundreds of MiB is bounded by how far ahead of it the next columns arrive from memory, and
# numba has no prefetch: a numba loop calling one stopped vectorizing (4x slower). Here each step
# of one vector of words (PLAN.lanes) also prefetches the same bytes of the next 4 columns, which
# then arrive while this group's arithmetic runs. It lives in this file on purpose: numba's cache
# of `_scan` is keyed on this file's contents (and the target CPU), so code generated elsewhere
# could be served stale.

@dataclass(frozen=True)
class SweepPlan:
    """How the kernel uses the host's vector registers: `lanes` uint64 words per vector, a batch
    of up to `most` lookups in one sweep over a block of words, a larger one in sweeps of `body`
    (its 4 x body accumulators, `body` selections and a scratch vector within the registers).
    """

    lanes: int
    most: int
    body: int


WIDE = SweepPlan(lanes=8, most=8, body=4)
"""AVX-512 (32 registers of 8 words): 4 x 4 accumulators fit; a pass of 5-7 in one sweep took
21-26 % less CPU than a 4 x 4 sweep and a second for the rest (6 at 2^20 applicants: 2.77
against 3.66 ms, median of 15; bench/README.md), though 4 x 7 accumulators are more than the
registers hold."""
NARROW = SweepPlan(lanes=4, most=5, body=3)
"""AVX2 and others (16 registers of 4 words): 4 x 3 accumulators, 3 selections and a scratch
vector are the 16. The wide plan on an AVX2 host (Zen 3) spilled its accumulators to the stack:
at 2^20 applicants 0.43-0.75 ms per lookup in batches of 3-8 against 0.31-0.35 with this one,
the same within noise for batches of 1-2, where a pass is bound by memory (bench/README.md).
Sweeps of up to 5 measured as fast as of up to 3 (the block still in L1/L2), fewer passes over
L2 for the larger batches."""


def plan_for(features: str) -> SweepPlan:
    """The plan for a target's LLVM feature string (`+avx512f,...`)."""
    return WIDE if "+avx512f" in features.split(",") else NARROW


def _target_features() -> str:
    """The features numba compiles for: its NUMBA_CPU_FEATURES when set, else the host's."""
    configured = config.CPU_FEATURES
    return configured if configured else binding.get_host_cpu_features().flatten()


PLAN = plan_for(_target_features())
"""Fixed at import: numba's cache of `_scan` is kept per CPU name and features (its index key),
so a cache compiled for another plan is never loaded."""

_I64 = ir.IntType(64)
_I32 = ir.IntType(32)
_I8P = ir.IntType(8).as_pointer()
_LANES = PLAN.lanes
_VECTOR = ir.VectorType(_I64, _LANES)
_GROUP = 4
"""Bit columns per register block."""


def _data(context: Any, builder: ir.IRBuilder, array_type: Any, value: Any) -> tuple[Any, Any]:
    """(pointer to the first element, length) of a 1-D array."""
    array = context.make_array(array_type)(context, builder, value)
    return array.data, cgutils.unpack_tuple(builder, array.shape, 1)[0]


def _codegen(lookups: int) -> Callable[..., Any]:
    def codegen(context: Any, builder: ir.IRBuilder, signature: Any, args: Any) -> Any:
        rows_t, sels_t, nexts_t = signature.args
        rows = [_data(context, builder, rows_t.dtype, v)
                for v in cgutils.unpack_tuple(builder, args[0], _GROUP)]
        sels = [_data(context, builder, sels_t.dtype, v)[0]
                for v in cgutils.unpack_tuple(builder, args[1], lookups)]
        nexts = [_data(context, builder, nexts_t.dtype, v)[0]
                 for v in cgutils.unpack_tuple(builder, args[2], _GROUP)]
        steps = builder.sdiv(rows[0][1], ir.Constant(_I64, _LANES))
        vector_ptr = _VECTOR.as_pointer()
        row_vectors = [builder.bitcast(p, vector_ptr) for p, _ in rows]
        sel_vectors = [builder.bitcast(p, vector_ptr) for p in sels]
        prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [_I8P, _I32, _I32, _I32]),
            "llvm.prefetch.p0i8")
        reduce_xor = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_I64, [_VECTOR]), "llvm.vector.reduce.xor.v8i64")

        entry = builder.block
        head = builder.append_basic_block("block.head")
        body = builder.append_basic_block("block.body")
        done = builder.append_basic_block("block.done")
        builder.branch(head)

        builder.position_at_end(head)
        step = builder.phi(_I64)
        accs = [builder.phi(_VECTOR) for _ in range(_GROUP * lookups)]
        step.add_incoming(ir.Constant(_I64, 0), entry)
        for acc in accs:
            acc.add_incoming(ir.Constant(_VECTOR, None), entry)
        builder.cbranch(builder.icmp_signed("<", step, steps), body, done)

        builder.position_at_end(body)
        word = builder.mul(step, ir.Constant(_I64, _LANES))
        for pointer in nexts:  # read, keep in all cache levels, data
            builder.call(prefetch, [builder.bitcast(builder.gep(pointer, [word]), _I8P),
                                    ir.Constant(_I32, 0), ir.Constant(_I32, 3),
                                    ir.Constant(_I32, 1)])
        selections = [builder.load(builder.gep(v, [step]), align=8) for v in sel_vectors]
        updated = []
        for c in range(_GROUP):
            column = builder.load(builder.gep(row_vectors[c], [step]), align=8)
            for q in range(lookups):
                updated.append(builder.xor(accs[c * lookups + q],
                                           builder.and_(column, selections[q])))
        following = builder.add(step, ir.Constant(_I64, 1))
        builder.branch(head)
        step.add_incoming(following, body)
        for acc, value in zip(accs, updated, strict=True):
            acc.add_incoming(value, body)

        builder.position_at_end(done)
        out = [builder.call(reduce_xor, [acc]) for acc in accs]
        return context.make_tuple(builder, signature.return_type, out)

    return codegen


def register_block(lookups: int) -> Any:
    """A numba intrinsic for `lookups` selections: block(rows, sels, nexts) -> 4 x lookups
    uint64. rows: 4 contiguous uint64 arrays of one length n (a block of 4 bit columns), sels:
    `lookups` such arrays (the selections' words over the same block), nexts: 4 arrays at least
    as long to prefetch from (the next columns' words; `rows` again for none). Output
    c * lookups + q is the XOR over the first n - n % PLAN.lanes words of rows[c] AND sels[q];
    the caller adds the rest. The vector width is LLVM's to lower: 8 x uint64 (the wide plan) is
    one AVX-512 register; 4 x uint64 one AVX2 register, two NEON ones."""

    @intrinsic
    def block(typingctx: Any, rows: Any, sels: Any, nexts: Any) -> Any:
        for group, count in ((rows, _GROUP), (sels, lookups), (nexts, _GROUP)):
            if not (isinstance(group, types.UniTuple) and group.count == count
                    and isinstance(group.dtype, types.Array) and group.dtype.ndim == 1
                    and group.dtype.dtype == types.uint64):
                return None
        signature = types.UniTuple(types.uint64, _GROUP * lookups)(rows, sels, nexts)
        return signature, _codegen(lookups)

    return block


_BLOCK1 = register_block(1)
_BLOCK2 = register_block(2)
_BLOCK3 = register_block(3)
_BLOCK4 = register_block(4)
_BLOCK5 = register_block(5)
_BLOCK6 = register_block(6)
_BLOCK7 = register_block(7)
_BLOCK8 = register_block(8)
_BODY = PLAN.body
"""Lookups per sweep of a batch larger than PLAN.most, but the last (a compile-time constant of
`_scan`)."""


def last_sweep(count: int, plan: SweepPlan = PLAN) -> int:
    """Lookups in the last sweep of a batch of `count`: a batch of up to `plan.most` in one
    sweep; a larger one in sweeps of `plan.body` (accumulators that fit the registers: with the
    wide plan, a batch of 32 in sweeps of 8 took 4-13 % more CPU than in sweeps of 4), the rest
    joining the last (wide: 9 = 4 + 5, not 4 + 4 + 1: a sweep of 1 costs nearly what one of 5
    does)."""
    return count if count <= plan.most else plan.body + count % plan.body


@numba.njit(nogil=True, boundscheck=False, cache=True, inline="always")
def _add(acc: np.ndarray, sums: tuple[int, ...], lookups: int, q: int, p: int, j: int) -> None:
    """acc[q + i, p, j + c] ^= sums[c * lookups + i]: a register block's XORs into acc."""
    for c in range(_GROUP):
        for i in range(lookups):
            acc[q + i, p, j + c] ^= sums[c * lookups + i]


@numba.njit(nogil=True, boundscheck=False, cache=True, inline="always")
def _sweep(rows: tuple[np.ndarray, ...], sel: np.ndarray, ahead: tuple[np.ndarray, ...],
           acc: np.ndarray, q: int, k: int, p: int, ps: int, j: int, w0: int, w1: int) -> None:
    """Lookups q .. q + k - 1 (1 <= k <= 8) over one block of 4 columns' words."""
    if k == 8:
        s8 = _BLOCK8(rows, (sel[q, ps, w0:w1], sel[q + 1, ps, w0:w1], sel[q + 2, ps, w0:w1],
                            sel[q + 3, ps, w0:w1], sel[q + 4, ps, w0:w1], sel[q + 5, ps, w0:w1],
                            sel[q + 6, ps, w0:w1], sel[q + 7, ps, w0:w1]), ahead)
        _add(acc, s8, 8, q, p, j)
    elif k == 7:
        s7 = _BLOCK7(rows, (sel[q, ps, w0:w1], sel[q + 1, ps, w0:w1], sel[q + 2, ps, w0:w1],
                            sel[q + 3, ps, w0:w1], sel[q + 4, ps, w0:w1], sel[q + 5, ps, w0:w1],
                            sel[q + 6, ps, w0:w1]), ahead)
        _add(acc, s7, 7, q, p, j)
    elif k == 6:
        s6 = _BLOCK6(rows, (sel[q, ps, w0:w1], sel[q + 1, ps, w0:w1], sel[q + 2, ps, w0:w1],
                            sel[q + 3, ps, w0:w1], sel[q + 4, ps, w0:w1], sel[q + 5, ps, w0:w1]),
                     ahead)
        _add(acc, s6, 6, q, p, j)
    elif k == 5:
        s5 = _BLOCK5(rows, (sel[q, ps, w0:w1], sel[q + 1, ps, w0:w1], sel[q + 2, ps, w0:w1],
                            sel[q + 3, ps, w0:w1], sel[q + 4, ps, w0:w1]), ahead)
        _add(acc, s5, 5, q, p, j)
    elif k == 4:
        s4 = _BLOCK4(rows, (sel[q, ps, w0:w1], sel[q + 1, ps, w0:w1], sel[q + 2, ps, w0:w1],
                            sel[q + 3, ps, w0:w1]), ahead)
        _add(acc, s4, 4, q, p, j)
    elif k == 3:
        s3 = _BLOCK3(rows, (sel[q, ps, w0:w1], sel[q + 1, ps, w0:w1], sel[q + 2, ps, w0:w1]),
                     ahead)
        _add(acc, s3, 3, q, p, j)
    elif k == 2:
        s2 = _BLOCK2(rows, (sel[q, ps, w0:w1], sel[q + 1, ps, w0:w1]), ahead)
        _add(acc, s2, 2, q, p, j)
    elif k == 1:
        s1 = _BLOCK1(rows, (sel[q, ps, w0:w1],), ahead)
        _add(acc, s1, 1, q, p, j)


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _scan(cols: np.ndarray, sel: np.ndarray, acc: np.ndarray, block: int,
          last_size: int) -> None:
    """acc[q, p, j] ^= XOR over w of cols[p, j, w] & sel[q, p % k, w] for every lookup q (k =
    sel.shape[1]), in one pass over the table whatever the batch's size: per block of words and
    4 bit columns, sweeps of _BODY lookups and the last of `last_size` (`last_sweep`) while the
    block is still in cache (`register_block`; the first sweep of each group prefetches the
    next group's columns). (Separate passes for the remainder had made a batch of 5 cost 1.7x
    one of 4 at 2^22 applicants: every pass reads the whole table from memory.) When the
    columns are not a multiple of 4, the last group repeats its last column (words already in
    cache) and acc has room for the repeats: acc.shape[2] = columns rounded up to 4.
    """
    parts, bits, words = cols.shape
    last = bits - 1
    count = sel.shape[0]
    body = count - last_size
    for p in range(parts):
        ps = p % sel.shape[1]
        for w0 in range(0, words, block):
            w1 = min(w0 + block, words)
            tail = w1 - (w1 - w0) % _LANES  # the register blocks take whole vectors of words
            for j in range(0, bits, 4):
                rows = (cols[p, j, w0:w1], cols[p, min(j + 1, last), w0:w1],
                        cols[p, min(j + 2, last), w0:w1], cols[p, min(j + 3, last), w0:w1])
                ahead = rows
                if j + 4 <= last:
                    ahead = (cols[p, j + 4, w0:w1], cols[p, min(j + 5, last), w0:w1],
                             cols[p, min(j + 6, last), w0:w1], cols[p, min(j + 7, last), w0:w1])
                for q in range(0, body, _BODY):
                    _sweep(rows, sel, ahead, acc, q, _BODY, p, ps, j, w0, w1)
                    ahead = rows
                _sweep(rows, sel, ahead, acc, body, last_size, p, ps, j, w0, w1)
                for w in range(tail, w1):
                    for c in range(_GROUP):
                        y = cols[p, min(j + c, last), w]
                        for q in range(count):
                            acc[q, p, j + c] ^= y & sel[q, ps, w]


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
    _scan(np.ascontiguousarray(cols), np.ascontiguousarray(selections), acc, _BLOCK_WORDS,
          last_sweep(count))
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

"""The servers' common masked table D, stored bit-transposed, and the PIR answer over it.

D (slots x 128 bits) is kept as, for each part of the layout, 128 bit-columns of packed uint64
words (word w, bit j = slot 64w + j of the part): exactly the shape of a DPF's packed output, so
a lookup's answer for one part is, per bit column, the parity of (column AND selection) — an AND
and an XOR-reduce over the words, blocked so the temporary stays in cache, the table never
unpacked. Answers of both servers XOR to D at the selected slot. A batch of lookups shares each
pass over a block of columns. Pure numpy.
"""

from __future__ import annotations

import hashlib

import numpy as np

from node.query.errors import ProtocolError
from node.query.layout import Layout
from node.query.record import LANES, RECORD_BYTES

BITS = 8 * RECORD_BYTES
_BLOCK_WORDS = 1024
"""Words per column per step: 128 columns x 1024 words x 8 B = 1 MiB of table per step."""

_GROUPS = 256
"""Groups of 64 slots transposed per step (2 MiB of unpacked bits)."""


def transpose(records: np.ndarray, layout: Layout) -> np.ndarray:
    """Bit columns of D: uint64, shape (parts, 128, part_slots / 64).

    Works on groups of 64 slots (one output word per bit): unpack the group's bits, bring the
    bit index first, pack each run of 64 back into a word, a few hundred groups at a time."""
    if records.shape != (layout.slots, LANES) or records.dtype != np.uint64:
        raise ProtocolError(f"a table must be uint64 of shape ({layout.slots}, {LANES})")
    words = layout.part_slots // 64
    cols = np.empty((layout.subtables, BITS, words), dtype=np.uint64)
    groups = records.view(np.uint8).reshape(layout.subtables, words, 64, RECORD_BYTES)
    for part in range(layout.subtables):
        for g0 in range(0, words, _GROUPS):
            bits = np.unpackbits(groups[part, g0:g0 + _GROUPS], axis=2, bitorder="little")
            by_bit = np.ascontiguousarray(bits.transpose(2, 0, 1))  # (128, groups, 64)
            packed = np.packbits(by_bit, axis=2, bitorder="little")  # (128, groups, 8)
            cols[part, :, g0:g0 + _GROUPS] = packed.view(np.uint64)[..., 0]
    return cols


def answer(cols: np.ndarray, selections: np.ndarray) -> np.ndarray:
    """Answer shares for a batch of lookups.

    `selections`: uint64 (lookups, parts, words), one evaluated DPF key per part. Returns uint64
    (lookups, parts, LANES): this server's XOR share of D at each lookup's slot in each part.
    """
    parts, bits, words = cols.shape
    if selections.ndim != 3 or selections.shape[1:] != (parts, words):
        raise ProtocolError(f"selections must have shape (n, {parts}, {words})")
    count = selections.shape[0]
    acc = np.zeros((count, parts, bits), dtype=np.uint64)
    tmp = np.empty((count, bits, min(_BLOCK_WORDS, words)), dtype=np.uint64)
    for part in range(parts):
        for w0 in range(0, words, _BLOCK_WORDS):
            w1 = min(w0 + _BLOCK_WORDS, words)
            view = tmp[:, :, :w1 - w0]
            np.bitwise_and(cols[part, None, :, w0:w1], selections[:, part, None, w0:w1],
                           out=view)
            acc[:, part] ^= np.bitwise_xor.reduce(view, axis=2)
    for shift in (32, 16, 8, 4, 2, 1):  # fold each word onto its lowest bit: the parity
        acc ^= acc >> np.uint64(shift)
    parity = (acc & np.uint64(1)).astype(np.uint8)  # (count, parts, 128)
    packed = np.packbits(parity, axis=2, bitorder="little")  # (count, parts, 16)
    return np.ascontiguousarray(packed).view(np.uint64).reshape(count, parts, LANES)


def digest(records: np.ndarray) -> str:
    """sha256 of D: both servers must hold the same table for an answer to be right."""
    return "sha256:" + hashlib.sha256(np.ascontiguousarray(records).tobytes()).hexdigest()

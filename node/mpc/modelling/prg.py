"""Seekable pseudorandom uint64 words from a 32-byte seed (AES-256-CTR), and seed derivation.

`words(seed, start, count)` is word `start .. start+count` of one endless stream, so a party can
expand just the rows of one mini-batch of a matrix the dealer described by a single seed. Seeds
for sub-streams are derived with SHA-256 over (seed, label): one seed on the wire stands for many
independent streams. Pure: no I/O.
"""

from __future__ import annotations

import hashlib

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from node.mpc.sharing import SEED_BYTES, new_seed

_CHUNK = 1 << 20
"""Bytes of keystream per AES call: a cache-sized chunk written straight into the result."""

__all__ = ["SEED_BYTES", "derive", "matrix", "matrix32", "new_seed", "words", "words32"]


def derive(seed: bytes, label: str) -> bytes:
    """An independent 32-byte seed for the sub-stream called `label`."""
    return hashlib.sha256(seed + b"\x00" + label.encode()).digest()


def words(seed: bytes, start: int, count: int) -> np.ndarray:
    """Words start .. start+count (uint64) of the stream `seed` stands for."""
    if len(seed) != SEED_BYTES:
        raise ValueError(f"a seed has {SEED_BYTES} bytes, got {len(seed)}")
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    block, skip = divmod(start, 2)
    total = (skip + count + 1) // 2 * 16
    encryptor = Cipher(algorithms.AES(seed), modes.CTR(block.to_bytes(16, "big"))).encryptor()
    out = np.empty(total // 8 + 2, dtype=np.uint64)  # update_into wants 15 spare bytes
    view = memoryview(out.view(np.uint8))
    zeros = bytes(min(total, _CHUNK))
    for at in range(0, total, _CHUNK):
        size = min(_CHUNK, total - at)
        encryptor.update_into(zeros[:size], view[at:at + size + 16])
    return out[skip:skip + count]


def words32(seed: bytes, count: int) -> np.ndarray:
    """`count` uint32 words of the stream (the low and high halves of its uint64 words)."""
    return words(seed, 0, (count + 1) // 2).view(np.uint32)[:count]


def matrix32(seed: bytes, rows: int, cols: int) -> np.ndarray:
    """A (rows, cols) uint32 matrix from the stream (for sums that fit in Z_2^32)."""
    return words32(seed, rows * cols).reshape(rows, cols)


def matrix(seed: bytes, rows: int, cols: int) -> np.ndarray:
    """A (rows, cols) uint64 matrix, row r being words r*cols .. (r+1)*cols of the stream."""
    return words(seed, 0, rows * cols).reshape(rows, cols)

"""Additive secret sharing over Z_2^64, with the other parties' shares drawn from 32-byte seeds.

A vector x (uint64) is split among n parties as x = s_0 + s_1 + … + s_{n-1} (mod 2^64). The sharer
draws a fresh random seed for each other party j, whose share is the AES-256-CTR keystream of that
seed read as uint64 words; the sharer's own share is x minus all of them. So sharing a vector of any
length costs 32 bytes per other party on the wire, and the share vectors are never materialised
except the one each party accumulates. Any n-1 shares are uniformly random and independent of x.

Pure numpy and `cryptography` (AES-NI); no I/O.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SEED_BYTES = 32
_CHUNK_WORDS = 1 << 17
_NONCE = bytes(16)


def new_seed() -> bytes:
    """A fresh secret seed from the operating system's CSPRNG."""
    return os.urandom(SEED_BYTES)


def _keystream_chunks(seed: bytes, words: int) -> Iterable[tuple[int, np.ndarray]]:
    if len(seed) != SEED_BYTES:
        raise ValueError(f"a share seed has {SEED_BYTES} bytes, got {len(seed)}")
    encryptor = Cipher(algorithms.AES(seed), modes.CTR(_NONCE)).encryptor()
    chunk = min(words, _CHUNK_WORDS)
    zeros = bytes(chunk * 8)
    out = bytearray(chunk * 8 + 16)
    for start in range(0, words, _CHUNK_WORDS):
        count = min(_CHUNK_WORDS, words - start)
        encryptor.update_into(memoryview(zeros)[:count * 8], out)
        yield start, np.frombuffer(out, dtype=np.uint64, count=count)


def expand(seed: bytes, words: int) -> np.ndarray:
    """The share a seed stands for: `words` pseudorandom uint64s."""
    result = np.empty(words, dtype=np.uint64)
    for start, block in _keystream_chunks(seed, words):
        result[start:start + len(block)] = block
    return result


def add_expansion(accumulator: np.ndarray, seed: bytes, subtract: bool = False) -> None:
    """accumulator ±= expand(seed) in place, one cache-sized chunk at a time (mod 2^64)."""
    flat = accumulator.reshape(-1)
    for start, block in _keystream_chunks(seed, len(flat)):
        target = flat[start:start + len(block)]
        if subtract:
            np.subtract(target, block, out=target)
        else:
            np.add(target, block, out=target)


def share_in_place(values: np.ndarray, others: int) -> list[bytes]:
    """Turn `values` (uint64, owned by the caller) into the sharer's own share; return the seeds of
    the `others` other shares."""
    seeds = [new_seed() for _ in range(others)]
    for seed in seeds:
        add_expansion(values, seed, subtract=True)
    return seeds


def reconstruct(shares: Iterable[np.ndarray]) -> np.ndarray:
    """The sum of shares mod 2^64."""
    total: np.ndarray | None = None
    for share in shares:
        if total is None:
            total = np.array(share, dtype=np.uint64, copy=True)
        else:
            np.add(total, share, out=total)
    if total is None:
        raise ValueError("reconstruct needs at least one share")
    return total

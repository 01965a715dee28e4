"""AES from `cryptography` (OpenSSL, AES-NI) applied to whole numpy arrays, into reused buffers.

AES only reaches memory speed through `update_into` with preallocated output (allocating
`update()` is 7-15x slower), so every helper here writes into buffers it keeps. Blocks are
16-byte rows, handled as `(n, 2)` uint64 arrays (little-endian).

- `FixedKeyAes`: the fixed-key permutation pi (ECB), and `mmo(x) = pi(x) ^ x`, the
  Matyas-Meyer-Oseas compression that the PSI engines use as their random-oracle/correlation-robust
  hash (ideal-permutation heuristic, as in libOTe / GKWY20).
- `CtrStream`: the PRG of one 128-bit seed, AES-CTR keystream continued across calls.
"""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_SLACK = 16  # ECB update_into wants len(data) + 15 bytes of room


class FixedKeyAes:
    """The AES permutation under one public key, over `(n, 2)` uint64 block arrays."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError(f"fixed AES key must be 16 bytes, got {len(key)}")
        self._encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        self._scratch = np.empty(0, dtype=np.uint8)

    def _room(self, nbytes: int) -> np.ndarray:
        if self._scratch.size < nbytes + _SLACK:
            self._scratch = np.empty(nbytes + _SLACK + (nbytes >> 3), dtype=np.uint8)
        return self._scratch

    def permute_view(self, blocks: np.ndarray) -> np.ndarray:
        """pi(blocks) as a flat uint8 view into this object's scratch buffer (valid until the next
        call): saves the copy when the result is consumed at once."""
        src = np.ascontiguousarray(blocks)
        nbytes = src.nbytes
        if nbytes % 16:
            raise ValueError("AES input must be a whole number of 16-byte blocks")
        room = self._room(nbytes)
        if nbytes:
            self._encryptor.update_into(src.reshape(-1).view(np.uint8), room)
        return room[:nbytes]

    def permute(self, blocks: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """pi(blocks) for a C-contiguous array of 16-byte blocks (any shape, 16-byte multiple)."""
        result = self.permute_view(blocks)
        if out is None:
            out = np.empty(blocks.shape, dtype=blocks.dtype)
        out.reshape(-1).view(np.uint8)[:] = result
        return out

    def permute_inplace(self, blocks: np.ndarray) -> np.ndarray:
        """pi(blocks) written back into `blocks` (C-contiguous)."""
        return self.permute(blocks, out=blocks)

    def mmo(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """pi(x) ^ x (into `out` if given; `out` may be `x`)."""
        x = np.ascontiguousarray(x)
        view = self.permute_view(x).view(x.dtype).reshape(x.shape)
        if out is None:
            out = np.empty_like(x)
        np.bitwise_xor(view, x, out=out)
        return out


class CtrStream:
    """AES-CTR keystream of a 16-byte seed: `fill(out)` writes the next len(out) bytes."""

    def __init__(self, seed: bytes, nonce: bytes = bytes(16)) -> None:
        self._encryptor = Cipher(algorithms.AES(seed), modes.CTR(nonce)).encryptor()
        self._zeros = np.zeros(0, dtype=np.uint8)

    def fill(self, out: np.ndarray) -> np.ndarray:
        flat = out.reshape(-1).view(np.uint8)
        if self._zeros.size < flat.size:
            self._zeros = np.zeros(flat.size, dtype=np.uint8)
        self._encryptor.update_into(self._zeros[: flat.size], flat)
        return out


def keystream(seed: bytes, nbytes: int) -> np.ndarray:
    """`nbytes` of AES-CTR keystream from a 16-byte seed, as uint8."""
    out = np.empty(nbytes, dtype=np.uint8)
    if nbytes:
        CtrStream(seed).fill(out)
    return out

"""Per-epoch table masks, and how an asker obtains the mask of one slot without revealing it.

Why masks: the two servers hold additive shares T0, T1 of the table T, and a DPF lookup over a
*shared* table cannot be answered by each server from its own share (the cross terms are
missing). So each epoch the servers swap masked shares, T0 + R0 and T1 + R1, and both end up with
the same table D = T + R0 + R1; server j knows R_j but not R_(1-j), so D tells it nothing about T.
A lookup reads D at its slots by 2-server XOR PIR; the asker then removes R0 and R1 at those slots.

R_j is fresh every epoch (a fixed mask would let a server see which slots changed). It is derived
per mask block (slots b*128 .. b*128+127 of every part, which is where one applicant's slots all
lie: layout.py) from an oblivious PRF: the block's seed is H(k_j · P_b), where
P_b = hash-to-curve(b) on edwards25519 (prime-order subgroup) and k_j is server j's epoch key. The
asker sends r · P_b for a random scalar r (a uniformly random group element, independent of b),
the server returns k_j · (r · P_b), the asker multiplies by r^-1. Slot j of part i in the block
has the mask AES_fixed(seed XOR (i·128 + j)) XOR (seed XOR (i·128 + j)). Learning a whole block's
masks gives the asker nothing more: it still reads D only at the slots it queries (and each
lookup is signed, logged and counted against its quota).

Pure apart from libsodium (PyNaCl) and AES.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from nacl import bindings as sodium

from node.query import fieldwise
from node.query.dpf import LEAF_POINTS, _FixedAes
from node.query.errors import ProtocolError
from node.query.record import LANES, RECORD_BYTES

POINT_BYTES = 32
_MASK_HASH = _FixedAes(b"slot-mask")


def _counters(parts: int) -> np.ndarray:
    """(parts, 128, 16) uint8: the counter i*128 + j of slot j of part i, little-endian."""
    out = np.zeros((parts * LEAF_POINTS, 16), dtype=np.uint8)
    out[:, :4] = np.arange(parts * LEAF_POINTS, dtype="<u4").view(np.uint8).reshape(-1, 4)
    return out.reshape(parts, LEAF_POINTS, 16)


def block_point(block: int) -> bytes:
    """P_b: block `block` hashed onto the prime-order subgroup of edwards25519."""
    digest = hashlib.sha256(b"alliance/query/block/" + block.to_bytes(8, "little")).digest()
    return sodium.crypto_core_ed25519_from_uniform(digest)


def block_points(blocks: int) -> list[bytes]:
    return [block_point(b) for b in range(blocks)]


def new_epoch_key() -> bytes:
    """A server's fresh scalar for one epoch."""
    return sodium.crypto_core_ed25519_scalar_reduce(os.urandom(64))


def _seed(shared_point: bytes) -> np.ndarray:
    return np.frombuffer(hashlib.sha256(b"alliance/query/seed/" + shared_point).digest()[:16],
                         dtype=np.uint8)


def block_seeds(key: bytes, points: list[bytes]) -> np.ndarray:
    """(blocks, 16) uint8: each mask block's seed H(k_j · P_b) for this epoch's key."""
    return np.stack([_seed(sodium.crypto_scalarmult_ed25519_noclamp(key, p)) for p in points])


def part_masks(seeds: np.ndarray, part: int) -> np.ndarray:
    """R_j over one part of the table in storage order (block, slot in block): uint64,
    shape (blocks * 128, LANES)."""
    counters = _counters(part + 1)[part]
    inputs = seeds[:, None, :] ^ counters[None, :, :]
    return _MASK_HASH.mmo(inputs).view(np.uint64).reshape(len(seeds) * LEAF_POINTS, LANES)


def server_masks(key: bytes, points: list[bytes], parts: int) -> np.ndarray:
    """R_j for the whole table in storage order (part, block, slot in block): uint64,
    shape (parts * blocks * 128, LANES)."""
    seeds = block_seeds(key, points)
    return np.concatenate([part_masks(seeds, part) for part in range(parts)])


def blind(point: bytes) -> tuple[bytes, bytes]:
    """(r, r · point): the scalar to keep, the element to send."""
    r = sodium.crypto_core_ed25519_scalar_reduce(os.urandom(64))
    return r, sodium.crypto_scalarmult_ed25519_noclamp(r, point)


def evaluate(key: bytes, blinded: bytes) -> bytes:
    """Server side: k · B, after checking B is a valid element of the prime-order subgroup."""
    if len(blinded) != POINT_BYTES or not sodium.crypto_core_ed25519_is_valid_point(blinded):
        raise ProtocolError("a blinded block point is not a valid edwards25519 group element")
    return sodium.crypto_scalarmult_ed25519_noclamp(key, blinded)


def slot_masks(r: bytes, evaluated: bytes, offsets: list[int]) -> np.ndarray:
    """Asker side: the masks (uint64, (parts, LANES)) of slot offsets[i] of part i of the block."""
    return _slot_masks(sodium.crypto_core_ed25519_scalar_invert(r), evaluated, offsets)


def slot_masks_of_both(r: bytes, evaluated: tuple[bytes, ...] | list[bytes],
                       offsets: list[int]) -> np.ndarray:
    """R = R_A + R_B at those slots, from both servers' answers to one blinding r."""
    inverse = sodium.crypto_core_ed25519_scalar_invert(r)
    a, b = (_slot_masks(inverse, e, offsets) for e in evaluated)
    return fieldwise.add(a, b, out=a)


def _slot_masks(inverse: bytes, evaluated: bytes, offsets: list[int]) -> np.ndarray:
    if len(evaluated) != POINT_BYTES or not sodium.crypto_core_ed25519_is_valid_point(evaluated):
        raise ProtocolError("a server returned an invalid group element")
    shared = sodium.crypto_scalarmult_ed25519_noclamp(inverse, evaluated)
    counters = np.zeros((len(offsets), 16), dtype=np.uint8)
    index = np.arange(len(offsets), dtype="<u4") * LEAF_POINTS + np.asarray(offsets, dtype="<u4")
    counters[:, :4] = index.view(np.uint8).reshape(-1, 4)
    return _MASK_HASH.mmo(_seed(shared)[None, :] ^ counters).view(np.uint64).reshape(-1, LANES)


def prg_share(seed: bytes, slots: int, start: int = 0) -> np.ndarray:
    """The share a member gives server 1 as a seed: AES-CTR(seed) as (slots, LANES) uint64;
    from slot `start` on (a slot is one AES block: the counter starts at `start`)."""
    if len(seed) != 16:
        raise ProtocolError("a share seed must be 16 bytes")
    enc = Cipher(algorithms.AES(seed), modes.CTR(start.to_bytes(16, "big"))).encryptor()
    size = slots * RECORD_BYTES
    out = np.empty(size + 16, dtype=np.uint8)
    zeros = np.zeros(min(size, 1 << 20), dtype=np.uint8)
    for begin in range(0, size, len(zeros)):
        chunk = zeros[:min(len(zeros), size - begin)]
        enc.update_into(chunk, out[begin:begin + len(chunk) + 16])
    return out[:size].view(np.uint64).reshape(slots, LANES)

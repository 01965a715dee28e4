"""Per-epoch table masks, and how an asker obtains the mask of one slot without revealing it.

Why masks: the two servers hold additive shares T0, T1 of the table T, and a DPF lookup over a
*shared* table cannot be answered by each server from its own share (the cross terms are
missing). So each epoch the servers swap masked shares, T0 + R0 and T1 + R1, and both end up with
the same table D = T + R0 + R1; server j knows R_j but not R_(1-j), so D tells it nothing about T.
A lookup reads D at its slots by 2-server XOR PIR; the asker then removes R0 and R1 at those slots.

R_j is fresh every epoch (a fixed mask would let a server see which slots changed). It is derived
per mask block (slots b*1024 .. b*1024+1023 of every part, which is where one applicant's slots
all lie: layout.py) from an oblivious PRF: the block's seed is H(k_j · P_b), where
P_b = hash-to-curve(b) on edwards25519 (prime-order subgroup) and k_j is server j's epoch key.
The blinding is additive: with each epoch server j publishes K_j = k_j · G; the asker sends
B = P_b + r · G for a random scalar r (a uniformly random group element, independent of b: the
same B to both servers), server j returns k_j · B = k_j · P_b + r · K_j, and the asker subtracts
r · K_j. Why additive rather than B = r · P_b and a multiplication by r^-1 afterwards: r · K_j does
not depend on the answer, so the asker computes it while the servers work, when it would
otherwise wait; what is left once the answers arrive is one point subtraction per server instead
of a scalar multiplication (and the answer's subgroup check, pointless here: a torsion part in a
server's answer only spoils that lookup's masks, as any wrong answer would). Slot j of part i
in the block has the mask AES_fixed(seed XOR (i·1024 + j)) XOR (seed XOR (i·1024 + j)). Learning a
whole block's masks gives the asker nothing more: it still reads D only at the slots it queries
(and each lookup is signed, logged and counted against its quota).

Pure apart from libsodium (PyNaCl) and AES.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from nacl import bindings as sodium

from node.query import fieldwise
from node.query.dpf import _FixedAes
from node.query.errors import ProtocolError
from node.query.layout import BLOCK_SLOTS
from node.query.record import LANES, RECORD_BYTES

POINT_BYTES = 32
_MASK_HASH = _FixedAes(b"slot-mask")


def _counters(part: int) -> np.ndarray:
    """(BLOCK_SLOTS, 16) uint8: the counter part*BLOCK_SLOTS + j of slot j of the part,
    little-endian."""
    out = np.zeros((BLOCK_SLOTS, 16), dtype=np.uint8)
    first = part * BLOCK_SLOTS
    out[:, :4] = np.arange(first, first + BLOCK_SLOTS, dtype="<u4").view(np.uint8).reshape(-1, 4)
    return out


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
    shape (blocks * BLOCK_SLOTS, LANES)."""
    counters = _counters(part)
    inputs = seeds[:, None, :] ^ counters[None, :, :]
    return _MASK_HASH.mmo(inputs).view(np.uint64).reshape(len(seeds) * BLOCK_SLOTS, LANES)


def server_masks(key: bytes, points: list[bytes], parts: int) -> np.ndarray:
    """R_j for the whole table in storage order (part, block, slot in block): uint64,
    shape (parts * blocks * BLOCK_SLOTS, LANES)."""
    seeds = block_seeds(key, points)
    return np.concatenate([part_masks(seeds, part) for part in range(parts)])


def epoch_public(key: bytes) -> bytes:
    """K_j = k_j · G: published with the epoch (Status), what the asker's blinding is built on."""
    return sodium.crypto_scalarmult_ed25519_base_noclamp(key)


def check_public(public: bytes) -> bytes:
    """A server's published K_j, checked once when the asker reads the epoch."""
    if len(public) != POINT_BYTES or not sodium.crypto_core_ed25519_is_valid_point(public):
        raise ProtocolError("a server published an invalid epoch key")
    return public


@dataclass(frozen=True)
class Blinding:
    """One lookup's blinded block point, and the scalar that removes the blinding."""

    scalar: bytes
    """r (never sent)."""
    element: bytes
    """B = P_b + r · G, sent to both servers."""

    def unblinders(self, publics: tuple[bytes, ...] | list[bytes]) -> list[bytes]:
        """r · K_j for each server's published (and checked) K_j: what `slot_masks` subtracts
        from its answer. Needs no answer: the asker computes it while the servers work."""
        return [sodium.crypto_scalarmult_ed25519_noclamp(self.scalar, public)
                for public in publics]


def blind(point: bytes) -> Blinding:
    """P_b blinded with a fresh scalar r: B = P_b + r · G (a uniformly random element)."""
    r = sodium.crypto_core_ed25519_scalar_reduce(os.urandom(64))
    return Blinding(r, sodium.crypto_core_ed25519_add(
        point, sodium.crypto_scalarmult_ed25519_base_noclamp(r)))


def evaluate(key: bytes, blinded: bytes) -> bytes:
    """Server side: k · B, for B a valid element of the prime-order subgroup only (a torsion
    part would show the asker k mod 8). libsodium's multiplication makes that check itself
    (canonical encoding, on the curve, not of small order, in the main subgroup), so it is not
    made twice here (a third of this function's time)."""
    if len(blinded) != POINT_BYTES:
        raise ProtocolError("a blinded block point is not a valid edwards25519 group element")
    try:
        return sodium.crypto_scalarmult_ed25519_noclamp(key, blinded)
    except RuntimeError as exc:  # libsodium refused the point
        raise ProtocolError("a blinded block point is not a valid edwards25519 group element "
                            "of the prime-order subgroup") from exc


def slot_masks(unblinder: bytes, evaluated: bytes, offsets: list[int]) -> np.ndarray:
    """Asker side: one server's masks (uint64, (parts, LANES)) of slot offsets[i] of part i of
    the block, from its answer k_j · B and the blinding's r · K_j."""
    if len(evaluated) != POINT_BYTES:
        raise ProtocolError("a server returned an invalid group element")
    try:
        shared = sodium.crypto_core_ed25519_sub(evaluated, unblinder)
    except (RuntimeError, ValueError, TypeError) as exc:  # not a point's encoding
        raise ProtocolError("a server returned an invalid group element") from exc
    counters = np.zeros((len(offsets), 16), dtype=np.uint8)
    index = np.arange(len(offsets), dtype="<u4") * BLOCK_SLOTS + np.asarray(offsets, dtype="<u4")
    counters[:, :4] = index.view(np.uint8).reshape(-1, 4)
    return _MASK_HASH.mmo(_seed(shared)[None, :] ^ counters).view(np.uint64).reshape(-1, LANES)


def slot_masks_of_both(unblinders: list[bytes], evaluated: tuple[bytes, ...] | list[bytes],
                       offsets: list[int]) -> np.ndarray:
    """R = R_A + R_B at those slots, from both servers' answers to one blinding."""
    a, b = (slot_masks(u, e, offsets) for u, e in zip(unblinders, evaluated, strict=True))
    return fieldwise.add(a, b, out=a)


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

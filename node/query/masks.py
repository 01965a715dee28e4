"""Per-epoch table masks, and how an asker obtains the mask of one slot without revealing it.

Why masks: the two servers hold XOR shares T0, T1 of the table T, and a DPF lookup over a
*shared* table cannot be answered by each server from its own share (the cross terms are
missing). So each epoch the servers swap masked shares, T0 XOR R0 and T1 XOR R1, and both end up
with the same table D = T XOR R0 XOR R1; server j knows R_j but not R_(1-j), so D tells it
nothing about T.
A lookup reads D at its slots by 2-server XOR PIR; the asker then removes R0 and R1 at those slots.

R_j is fresh every epoch (a fixed mask would let a server see which slots changed). It is derived
per mask block (slots b*1024 .. b*1024+1023 of every part, which is where one applicant's slots
all lie: layout.py) from an oblivious PRF on X25519 (libsodium's Montgomery ladder, RFC 7748):
the block's seed is H(u(k_j · P_b)), where P_b = hash-to-curve(b) (the prime-order subgroup of
edwards25519, as its Montgomery u-coordinate), k_j is server j's epoch key and u(.) a point's
u-coordinate. The asker picks r uniformly mod the group order L and sends B = u(r · P_b) (the
u-coordinate of a uniformly random element of the group, whatever b is: the same B to both
servers); server j returns u(k_j · B), and the asker multiplies it by r^-1: u(k_j · P_b).

Why X25519 and not edwards25519's own multiplication: it is 2.8x faster here (53 against 148
us per multiplication: libsodium's edwards25519 multiplication also proves its input is in the
prime-order subgroup, a second multiplication). X25519 needs no such check. An epoch key is a
multiple of 8 (X25519's clamping), which clears any torsion part of B, and an input that is not
on the curve lies on its twist, whose discrete logarithms are as hard (the twist security of
Curve25519), so a malformed B shows the asker nothing of k_j. X25519's scalars are clamped
(a multiple of 8 in [2^254, 2^255)); r and r^-1 are any residues mod L, so each is sent to the
ladder as the clamped integer congruent to +r or -r mod L: u(-Q) = u(Q), and all but a
negligible share of residues have one (`_ladder_scalar`). Multiplicative blinding needs one
multiplication per server after the answers arrive (~0.1 ms per lookup); additive blinding
(B = P_b + r · G, the asker subtracting r · K_j) needs full points, the edwards25519 path, and
more work in total (0.37 ms per lookup, of which 0.26 while waiting). Slot j of part i in the
block has the mask AES_fixed(seed XOR (i·1024 + j)) XOR (seed XOR (i·1024 + j)). Learning a
whole block's masks gives the asker nothing more: it still reads D only at the slots it queries
(and each lookup is signed, logged and counted against its quota). That holds for an asker that
does not hold D. A server does: with R at any slot it would read T there, every member's record
one by one. So neither server's member may ask; the job check, the contract and both servers
refuse it.

Pure apart from libsodium (PyNaCl) and AES.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from nacl import bindings as sodium

from node.query.dpf import _FixedAes
from node.query.errors import ProtocolError
from node.query.layout import BLOCK_SLOTS
from node.query.record import LANES, RECORD_BYTES

POINT_BYTES = 32
ORDER = 2**252 + 27742317777372353535851937790883648493
"""L, the order of the prime-order subgroup."""
_INVERSE_OF_8 = pow(8, -1, ORDER)
_MASK_HASH = _FixedAes(b"slot-mask")


def _counters(part: int) -> np.ndarray:
    """(BLOCK_SLOTS, 16) uint8: the counter part*BLOCK_SLOTS + j of slot j of the part,
    little-endian."""
    out = np.zeros((BLOCK_SLOTS, 16), dtype=np.uint8)
    first = part * BLOCK_SLOTS
    out[:, :4] = np.arange(first, first + BLOCK_SLOTS, dtype="<u4").view(np.uint8).reshape(-1, 4)
    return out


def edwards_block_point(block: int) -> bytes:
    """P_b: block `block` hashed onto the prime-order subgroup of edwards25519."""
    digest = hashlib.sha256(b"alliance/query/block/" + block.to_bytes(8, "little")).digest()
    return sodium.crypto_core_ed25519_from_uniform(digest)


@functools.cache
def block_point(block: int) -> bytes:
    """u(P_b), P_b's Montgomery u-coordinate (what X25519 multiplies); once per block."""
    return sodium.crypto_sign_ed25519_pk_to_curve25519(edwards_block_point(block))


def block_points(blocks: int) -> list[bytes]:
    return [block_point(b) for b in range(blocks)]


def new_epoch_key() -> bytes:
    """A server's fresh X25519 scalar for one epoch (clamped: a multiple of 8 in
    [2^254, 2^255), so that it clears any torsion part of a point it multiplies)."""
    key = bytearray(os.urandom(32))
    key[0] &= 248
    key[31] = (key[31] & 127) | 64
    return bytes(key)


def _ladder_scalar(residue: int) -> bytes | None:
    """The clamped X25519 scalar congruent to +residue or -residue mod L (the same
    u-coordinate either way), or None for the ~2^-127 share of residues that have neither."""
    m = residue * _INVERSE_OF_8 % ORDER
    for candidate in (m, ORDER - m):
        if 1 << 251 <= candidate < 1 << 252:
            return (8 * candidate).to_bytes(32, "little")
    return None


def _multiply(scalar: bytes, point: bytes) -> bytes:
    """u(scalar · point); ProtocolError saying why the point is refused: its size, or a result
    that is the identity (a point of small order: X25519 refuses it)."""
    if len(point) != POINT_BYTES:
        raise ProtocolError(f"{len(point)} bytes, not {POINT_BYTES}")
    try:
        return sodium.crypto_scalarmult(scalar, point)
    except RuntimeError as exc:  # the all-zero result of a small-order point
        raise ProtocolError("a point of small order") from exc


def _seed(shared_point: bytes) -> np.ndarray:
    return np.frombuffer(hashlib.sha256(b"alliance/query/seed/" + shared_point).digest()[:16],
                         dtype=np.uint8)


def block_seeds(key: bytes, points: list[bytes]) -> np.ndarray:
    """(blocks, 16) uint8: each mask block's seed H(k_j · P_b) for this epoch's key."""
    return np.stack([_seed(sodium.crypto_scalarmult(key, p)) for p in points])


def part_masks(seeds: np.ndarray, part: int) -> np.ndarray:
    """R_j over one part of the table in storage order (block, slot in block): uint64,
    shape (blocks * BLOCK_SLOTS, LANES)."""
    return _hashed(seeds, _counters(part)).reshape(len(seeds) * BLOCK_SLOTS, LANES)


def _hashed(seeds: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """(seeds, counters, LANES) uint64: the mask of each counter under each block seed."""
    inputs = seeds[:, None, :] ^ counters[None, :, :]
    return _MASK_HASH.mmo(inputs).view(np.uint64).reshape(len(seeds), len(counters), LANES)


def server_masks(key: bytes, points: list[bytes], parts: int) -> np.ndarray:
    """R_j for the whole table in storage order (part, block, slot in block): uint64,
    shape (parts * blocks * BLOCK_SLOTS, LANES)."""
    seeds = block_seeds(key, points)
    return np.concatenate([part_masks(seeds, part) for part in range(parts)])


@dataclass(frozen=True)
class Blinding:
    """One lookup's blinded block point, and the scalar that removes the blinding."""

    unblinder: bytes
    """r^-1 as a ladder scalar (never sent)."""
    element: bytes
    """B = u(r · P_b), sent to both servers."""


def blind(point: bytes) -> Blinding:
    """u(P_b) blinded with a scalar r uniform mod L: B = u(r · P_b), a uniformly random element
    of the group's u-coordinates whatever the block."""
    while True:
        r = int.from_bytes(os.urandom(64), "little") % ORDER  # 2^-256 from uniform
        scalar = _ladder_scalar(r) if r else None
        unblinder = _ladder_scalar(pow(r, -1, ORDER)) if scalar else None
        if scalar is not None and unblinder is not None:
            return Blinding(unblinder, sodium.crypto_scalarmult(scalar, point))


def evaluate(key: bytes, blinded: bytes) -> bytes:
    """Server side: u(k · B). Any 32 bytes are a u-coordinate of the curve or of its twist; k
    (a multiple of 8) clears a torsion part and the twist is as hard (see module doc): no
    subgroup check is needed, and a point of small order is refused."""
    try:
        return _multiply(key, blinded)
    except ProtocolError as exc:
        raise ProtocolError(f"a blinded block point is not a valid group element ({exc})") \
            from None


def _block_seed(unblinder: bytes, evaluated: bytes) -> np.ndarray:
    try:
        return _seed(_multiply(unblinder, evaluated))
    except ProtocolError as exc:
        raise ProtocolError(f"a server returned an invalid group element ({exc})") from None


def slot_masks(unblinder: bytes, evaluated: bytes, offsets: list[int]) -> np.ndarray:
    """Asker side: one server's masks (uint64, (parts, LANES)) of slot offsets[i] of part i of
    the block, from its answer u(k_j · B) and the blinding's unblinder."""
    return _slot_masks(_block_seed(unblinder, evaluated)[None, :], offsets)[0]


def _slot_masks(seeds: np.ndarray, offsets: list[int]) -> np.ndarray:
    """(seeds, parts, LANES): the masks of slot offsets[i] of part i for each block seed."""
    counters = np.zeros((len(offsets), 16), dtype=np.uint8)
    index = np.arange(len(offsets), dtype="<u4") * BLOCK_SLOTS + np.asarray(offsets, dtype="<u4")
    counters[:, :4] = index.view(np.uint8).reshape(-1, 4)
    return _hashed(seeds, counters)


def slot_masks_of_both(unblinder: bytes, evaluated: tuple[bytes, ...] | list[bytes],
                       offsets: list[int]) -> np.ndarray:
    """R = R_A XOR R_B at those slots, from both servers' answers to one blinding."""
    seeds = np.stack([_block_seed(unblinder, e) for e in evaluated])
    a, b = _slot_masks(seeds, offsets)
    return np.bitwise_xor(a, b, out=a)


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

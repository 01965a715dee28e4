"""Two-party distributed point function (Boyle-Gilboa-Ishai 2016, tree DPF with early termination).

`generate(alpha, n)` gives two keys whose full-domain evaluations XOR to the unit vector at
`alpha` over a domain of 2^n points; each key alone is pseudorandom (a fresh root seed, the same
correction words in both) and the two keys have the same size and format whatever `alpha` is.

- PRG: fixed-key AES in the Matyas-Meyer-Oseas form, G(s) = AES_k(s) XOR s, with one public key
  for the left child, one for the right child and a third one for the leaf conversion (taking the
  leaf seed itself as output would leak its low control bit, hence low bits of the index).
- Early termination: the tree stops 7 levels above the leaves; each leaf seed converts to 128
  output bits, corrected by the final correction word.
- Layout: evaluation expands a whole level at once with children stored [all left | all right],
  so after the last level leaf number i holds the path bit-reversed (first level's bit lowest).
  `point_for_position(p, n)` gives the alpha whose output lands at array position p, so callers
  index their tables by position and never permute them.
- Output: `evaluate_full` returns packed bits, uint64 words (word w, bit j = position 64w + j).

Pure apart from AES: with AES-NI (aesni.py) key generation and full-domain evaluation are each
one compiled call, AES inside the loop; without it, the `cryptography` package encrypts a whole
level at once (ECB) and the per-node arithmetic of the level is compiled with numba. Fixed work
per node either way, no branch on key data.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
from dataclasses import dataclass

import numba
import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from node.query import aesni
from node.query.errors import ProtocolError

LEAF_BITS = 7
LEAF_POINTS = 1 << LEAF_BITS
MIN_DOMAIN_BITS = LEAF_BITS
MAX_DOMAIN_BITS = 32
_VERSION = 1


def _fixed_key(label: bytes) -> bytes:
    return hashlib.sha256(b"alliance/query/dpf/" + label).digest()[:16]


class _FixedAes:
    """AES-128 under a public key, applied to many 16-byte blocks at once (MMO: AES(x) XOR x).
    One ECB encryptor per thread: an encryptor object must not be used by two threads at once."""

    def __init__(self, label: bytes) -> None:
        self._key = _fixed_key(label)
        self._local = threading.local()
        self.round_keys = aesni.round_keys(self._key)
        """For compiled walks (aesni.py)."""

    def mmo(self, blocks: np.ndarray) -> np.ndarray:
        """AES(x) XOR x for every 16-byte row of `blocks` (uint8, shape (..., 16))."""
        enc = getattr(self._local, "enc", None)
        if enc is None:
            enc = self._local.enc = Cipher(algorithms.AES(self._key), modes.ECB()).encryptor()
        flat = np.ascontiguousarray(blocks, dtype=np.uint8)
        # update_into a buffer of ours (update() would copy through bytes objects: 10x slower)
        out = np.empty(flat.size + 16, dtype=np.uint8)
        enc.update_into(flat.reshape(-1), out)
        result = out[:flat.size].reshape(flat.shape)
        result ^= flat
        return result

    def encrypt_into(self, blocks: np.ndarray, out: np.ndarray) -> None:
        """AES of the 16-byte rows of contiguous `blocks` into `out` (uint8, 16 bytes more;
        only the first 16 per row are written). No rows, nothing to do."""
        if not blocks.size:
            return
        enc = getattr(self._local, "enc", None)
        if enc is None:
            enc = self._local.enc = Cipher(algorithms.AES(self._key), modes.ECB()).encryptor()
        enc.update_into(blocks.view(np.uint8).reshape(-1), out)


_LEFT = _FixedAes(b"left")
_RIGHT = _FixedAes(b"right")
_CONVERT = _FixedAes(b"convert")


@dataclass(frozen=True)
class DpfKey:
    """One party's key: its root seed, and the correction words both keys share."""

    domain_bits: int
    party: int
    seed: bytes
    cw_seeds: np.ndarray  # (levels, 16) uint8
    cw_bits: np.ndarray  # (levels, 2) uint8: left and right control-bit corrections
    cw_leaf: bytes

    @property
    def levels(self) -> int:
        return self.domain_bits - LEAF_BITS

    def to_bytes(self) -> bytes:
        bits = np.packbits(self.cw_bits.reshape(-1), bitorder="little").tobytes()
        return (struct.pack("BBB", _VERSION, self.domain_bits, self.party) + self.seed
                + self.cw_seeds.tobytes() + bits + self.cw_leaf)

    @classmethod
    def from_bytes(cls, data: bytes, domain_bits: int | None = None) -> DpfKey:
        """Parse a key; ProtocolError naming what is wrong if it is malformed."""
        if len(data) < 3:
            raise ProtocolError("DPF key too short")
        version, n, party = struct.unpack_from("BBB", data)
        if version != _VERSION:
            raise ProtocolError(f"DPF key version {version} is not {_VERSION}")
        if not MIN_DOMAIN_BITS <= n <= MAX_DOMAIN_BITS or party not in (0, 1):
            raise ProtocolError(f"DPF key for domain 2^{n}, party {party} is out of range")
        if domain_bits is not None and n != domain_bits:
            raise ProtocolError(f"DPF key is for a domain of 2^{n}, expected 2^{domain_bits}")
        levels = n - LEAF_BITS
        nbits = (2 * levels + 7) // 8
        if len(data) != key_size(n):
            raise ProtocolError(f"DPF key for 2^{n} must be {key_size(n)} bytes, got {len(data)}")
        pos = 3
        seed = data[pos:pos + 16]
        pos += 16
        cw_seeds = np.frombuffer(data[pos:pos + 16 * levels], dtype=np.uint8).reshape(levels, 16)
        pos += 16 * levels
        bits = np.unpackbits(np.frombuffer(data[pos:pos + nbits], dtype=np.uint8),
                             bitorder="little")[:2 * levels].reshape(levels, 2)
        pos += nbits
        return cls(n, party, seed, cw_seeds, bits, data[pos:pos + 16])


@dataclass(frozen=True)
class KeyBatch:
    """Keys of one domain as arrays, the form evaluation works on: parsed in one go from their
    concatenated serialization (a server gets a lookup's keys that way), no DpfKey per key."""

    domain_bits: int
    party: np.ndarray  # (K,) uint64
    seeds: np.ndarray  # (K, 2) uint64
    cw_seeds: np.ndarray  # (K, levels, 2) uint64
    cw_bits: np.ndarray  # (K, levels, 2) uint64
    cw_leaf: np.ndarray  # (K, 2) uint64

    def __len__(self) -> int:
        return int(self.party.shape[0])

    def part(self, start: int, stop: int) -> KeyBatch:
        return KeyBatch(self.domain_bits, self.party[start:stop], self.seeds[start:stop],
                        self.cw_seeds[start:stop], self.cw_bits[start:stop],
                        self.cw_leaf[start:stop])

    @classmethod
    def of(cls, keys: list[DpfKey]) -> KeyBatch:
        n = keys[0].domain_bits
        if any(k.domain_bits != n for k in keys):
            raise ProtocolError("keys of different domains cannot be evaluated together")
        return cls(n, np.array([k.party for k in keys], dtype=np.uint64),
                   np.frombuffer(b"".join(k.seed for k in keys), np.uint64).reshape(-1, 2),
                   np.stack([k.cw_seeds for k in keys]).view(np.uint64),
                   np.stack([k.cw_bits for k in keys]).astype(np.uint64),
                   np.frombuffer(b"".join(k.cw_leaf for k in keys), np.uint64).reshape(-1, 2))

    @classmethod
    def concat(cls, batches: list[KeyBatch]) -> KeyBatch:
        if len(batches) == 1:
            return batches[0]
        n = batches[0].domain_bits
        if any(b.domain_bits != n for b in batches):
            raise ProtocolError("keys of different domains cannot be evaluated together")
        return cls(n, *(np.concatenate([getattr(b, f) for b in batches]) for f in
                        ("party", "seeds", "cw_seeds", "cw_bits", "cw_leaf")))

    @classmethod
    def parse(cls, data: bytes, domain_bits: int) -> KeyBatch:
        """Keys serialized by `DpfKey.to_bytes` and concatenated; ProtocolError naming what is
        wrong if any is malformed."""
        size = key_size(domain_bits)
        if not data or len(data) % size:
            raise ProtocolError(f"DPF keys for 2^{domain_bits} are {size} bytes each, got "
                                f"{len(data)} bytes")
        rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, size)
        if np.any(rows[:, 0] != _VERSION):
            raise ProtocolError(f"a DPF key's version is not {_VERSION}")
        if np.any(rows[:, 1] != domain_bits):
            raise ProtocolError(f"a DPF key is not for a domain of 2^{domain_bits}")
        if np.any(rows[:, 2] > 1):
            raise ProtocolError("a DPF key names a party other than 0 or 1")
        levels = domain_bits - LEAF_BITS
        end = 19 + 16 * levels
        bits = np.unpackbits(rows[:, end:size - 16], axis=1, bitorder="little")
        return cls(domain_bits, rows[:, 2].astype(np.uint64),
                   rows[:, 3:19].copy().view(np.uint64),
                   rows[:, 19:end].copy().view(np.uint64).reshape(len(rows), levels, 2),
                   bits[:, :2 * levels].reshape(len(rows), levels, 2).astype(np.uint64),
                   rows[:, size - 16:].copy().view(np.uint64))


def key_size(domain_bits: int) -> int:
    """Bytes of a serialized key for a domain of 2^domain_bits (the same for every point)."""
    levels = domain_bits - LEAF_BITS
    return 3 + 16 + 16 * levels + (2 * levels + 7) // 8 + 16


def _bit_reverse(value: int, bits: int) -> int:
    out = 0
    for _ in range(bits):
        out = (out << 1) | (value & 1)
        value >>= 1
    return out


def point_for_position(position: int, domain_bits: int) -> int:
    """The alpha whose evaluation output lands at array position `position` (see module doc)."""
    if not 0 <= position < 1 << domain_bits:
        raise ProtocolError(f"position {position} outside a domain of 2^{domain_bits}")
    levels = domain_bits - LEAF_BITS
    leaf = position >> LEAF_BITS
    return (_bit_reverse(leaf, levels) << LEAF_BITS) | (position & (LEAF_POINTS - 1))


def generate(alpha: int, domain_bits: int, rng: bytes | None = None) -> tuple[DpfKey, DpfKey]:
    """Two keys for the point function 1 at `alpha` over 2^domain_bits points (XOR output)."""
    return generate_many([alpha], domain_bits, rng)[0]


def generate_many(alphas: list[int], domain_bits: int,
                  rng: bytes | None = None) -> list[tuple[DpfKey, DpfKey]]:
    """Key pairs for several points of the same domain, generated together (one AES pass per
    level for all of them); `rng` (32 bytes per point) only for tests."""
    roots, cw_seeds, cw_bits, cw_leaf = _generate(alphas, domain_bits, rng)
    return [
        tuple(DpfKey(domain_bits, b, roots[i, b].tobytes(), cw_seeds[i], cw_bits[i],
                     cw_leaf[i].tobytes()) for b in (0, 1))  # type: ignore[misc]
        for i in range(len(alphas))
    ]


def generate_packed(alphas: list[int], domain_bits: int,
                    rng: bytes | None = None) -> tuple[bytes, bytes]:
    """The keys of `generate_many`, serialized (`DpfKey.to_bytes`) and concatenated per party:
    what a lookup sends each server, without a DpfKey object per key."""
    roots, cw_seeds, cw_bits, cw_leaf = _generate(alphas, domain_bits, rng)
    count, levels = cw_seeds.shape[:2]
    bits = np.packbits(cw_bits.reshape(count, -1), axis=1, bitorder="little")
    out = []
    for party in (0, 1):
        keys = np.empty((count, key_size(domain_bits)), dtype=np.uint8)
        keys[:, :3] = (_VERSION, domain_bits, party)
        keys[:, 3:19] = roots[:, party]
        end = 19 + 16 * levels
        keys[:, 19:end] = cw_seeds.reshape(count, -1)
        keys[:, end:end + bits.shape[1]] = bits
        keys[:, end + bits.shape[1]:] = cw_leaf
        out.append(keys.tobytes())
    return out[0], out[1]


def _generate(alphas: list[int], domain_bits: int, rng: bytes | None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(root seeds (points, 2, 16), correction seeds (points, levels, 16), correction bits
    (points, levels, 2), leaf corrections (points, 16)), all uint8."""
    if not MIN_DOMAIN_BITS <= domain_bits <= MAX_DOMAIN_BITS:
        raise ProtocolError(f"domain must be 2^{MIN_DOMAIN_BITS}..2^{MAX_DOMAIN_BITS} points")
    if any(not 0 <= a < 1 << domain_bits for a in alphas):
        raise ProtocolError(f"a point lies outside a domain of 2^{domain_bits}")
    count = len(alphas)
    levels = domain_bits - LEAF_BITS
    roots = rng if rng is not None else os.urandom(32 * count)
    if len(roots) != 32 * count:
        raise ProtocolError("rng must give 32 bytes per point")
    s = np.frombuffer(roots, dtype=np.uint8).reshape(count, 2, 16).copy()
    s[..., 0] &= 0xFE  # evaluation clears the control-bit position of every seed
    root_seeds = s.copy()
    seeds = s.view(np.uint64)  # (count, 2 parties, 2 lanes)
    t = np.zeros((count, 2), dtype=np.uint64)
    t[:, 1] = 1
    points = np.array(alphas, dtype=np.uint64)
    cw_seeds = np.zeros((count, levels, 16), dtype=np.uint8)
    cw_bits = np.zeros((count, levels, 2), dtype=np.uint8)
    generate_levels(points >> np.uint64(LEAF_BITS), seeds, t, cw_seeds.view(np.uint64), cw_bits,
                    _LEFT, _RIGHT)
    converted = _CONVERT.mmo(seeds.view(np.uint8).reshape(count, 2, 16))
    units = np.zeros((count, 16), dtype=np.uint8)
    offsets = points & np.uint64(LEAF_POINTS - 1)
    units[np.arange(count), (offsets >> np.uint64(3)).astype(np.intp)] = (
        np.uint8(1) << (offsets & np.uint64(7)).astype(np.uint8))
    cw_leaf = converted[:, 0] ^ converted[:, 1] ^ units
    return root_seeds, cw_seeds, cw_bits, cw_leaf


def generate_levels(points: np.ndarray, seeds: np.ndarray, t: np.ndarray, cw_seeds: np.ndarray,
                    cw_bits: np.ndarray, left: _FixedAes, right: _FixedAes) -> None:
    """Every level of key generation (`generate_level`; cw_seeds (points, levels, 2): level l
    goes to the child named by bit levels - 1 - l of each point), in one compiled walk with the
    CPU's AES where it has one (aesni.py), else one AES call per level. The same BGI walk serves
    fss.py's keys (its own AES keys and output conversion)."""
    count, levels = cw_seeds.shape[:2]
    if aesni.HARDWARE:
        _walk(points, seeds, t, cw_seeds, cw_bits, left.round_keys, right.round_keys)
        return
    lefts = np.empty(count * 32 + 16, dtype=np.uint8)
    rights = np.empty(count * 32 + 16, dtype=np.uint8)
    for level in range(levels):
        bit = (points >> np.uint64(levels - 1 - level)) & np.uint64(1)
        left.encrypt_into(seeds, lefts)
        right.encrypt_into(seeds, rights)
        generate_level(lefts[:count * 32].view(np.uint64).reshape(count, 2, 2),
                       rights[:count * 32].view(np.uint64).reshape(count, 2, 2), seeds, t, bit,
                       cw_seeds[:, level], cw_bits[:, level])


_ENCRYPT = aesni.encrypt_intrinsic()


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _walk(points: np.ndarray, seeds: np.ndarray, t: np.ndarray, cw_seeds: np.ndarray,
          cw_bits: np.ndarray, left_keys: np.ndarray, right_keys: np.ndarray) -> None:
    """`generate_levels` with AES-NI: both children of every seed encrypted in this loop."""
    count, levels = cw_seeds.shape[0], cw_seeds.shape[1]
    left = np.empty((count, 2, 2), dtype=np.uint64)
    right = np.empty((count, 2, 2), dtype=np.uint64)
    bit = np.empty(count, dtype=np.uint64)
    for level in range(levels):
        shift = np.uint64(levels - 1 - level)
        for i in range(count):
            bit[i] = (points[i] >> shift) & np.uint64(1)
            for party in range(2):
                low, high = _ENCRYPT(left_keys, seeds[i, party, 0], seeds[i, party, 1])
                left[i, party, 0] = low
                left[i, party, 1] = high
                low, high = _ENCRYPT(right_keys, seeds[i, party, 0], seeds[i, party, 1])
                right[i, party, 0] = low
                right[i, party, 1] = high
        generate_level(left, right, seeds, t, bit, cw_seeds[:, level], cw_bits[:, level])


@numba.njit(nogil=True, boundscheck=False, cache=True)
def generate_level(left: np.ndarray, right: np.ndarray, seeds: np.ndarray, t: np.ndarray,
                   bit: np.ndarray, cw_seed: np.ndarray, cw_bits: np.ndarray) -> None:
    """One level of key generation for every point, in place: `left`/`right` hold AES_left and
    AES_right of `seeds` (points, 2 parties, 2 lanes); the seeds and control bits `t` of both
    parties move to the child on the point's path, the level's correction word is written to
    `cw_seed` (points, 2 lanes) and `cw_bits` (points, 2). No branch on the point. The same
    BGI level serves fss.py's keys (its own AES keys and output conversion)."""
    one = np.uint64(1)
    t_left = np.empty(2, dtype=np.uint64)
    t_right = np.empty(2, dtype=np.uint64)
    kept = np.empty((2, 2), dtype=np.uint64)
    lost = np.empty((2, 2), dtype=np.uint64)
    for i in range(seeds.shape[0]):
        b = bit[i]
        keep_right = np.uint64(0) - b  # all ones when the path goes right
        for party in range(2):
            l0 = left[i, party, 0] ^ seeds[i, party, 0]
            l1 = left[i, party, 1] ^ seeds[i, party, 1]
            r0 = right[i, party, 0] ^ seeds[i, party, 0]
            r1 = right[i, party, 1] ^ seeds[i, party, 1]
            t_left[party] = l0 & one
            t_right[party] = r0 & one
            l0 &= ~one
            r0 &= ~one
            kept[party, 0] = (r0 & keep_right) | (l0 & ~keep_right)
            kept[party, 1] = (r1 & keep_right) | (l1 & ~keep_right)
            lost[party, 0] = (l0 & keep_right) | (r0 & ~keep_right)
            lost[party, 1] = (l1 & keep_right) | (r1 & ~keep_right)
        scw0 = lost[0, 0] ^ lost[1, 0]
        scw1 = lost[0, 1] ^ lost[1, 1]
        tl = t_left[0] ^ t_left[1] ^ b ^ one
        tr = t_right[0] ^ t_right[1] ^ b
        cw_seed[i, 0] = scw0
        cw_seed[i, 1] = scw1
        cw_bits[i, 0] = tl
        cw_bits[i, 1] = tr
        tcw_keep = (tr & keep_right) | (tl & ~keep_right)
        for party in range(2):
            tp = t[i, party]
            mask = np.uint64(0) - tp
            seeds[i, party, 0] = kept[party, 0] ^ (scw0 & mask)
            seeds[i, party, 1] = kept[party, 1] ^ (scw1 & mask)
            t_keep = (t_right[party] & keep_right) | (t_left[party] & ~keep_right)
            t[i, party] = t_keep ^ (tp & tcw_keep)


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _next_level(out: np.ndarray, seeds: np.ndarray, t: np.ndarray, cw: np.ndarray,
                cw_bits: np.ndarray, keys: int) -> np.ndarray:
    """One tree level for every key, in place: `out` (2N, 2) holds [AES_left(seeds) |
    AES_right(seeds)] for the N = nodes x keys seeds (row node * keys + key); turn it into the
    corrected children (MMO, control bit split off, correction words where t = 1) and return
    their control bits. Same operations for every node (no branch on the key's data)."""
    count = seeds.shape[0]
    bits = np.empty(2 * count, dtype=np.uint64)
    for node in range(count // keys):
        for k in range(keys):
            i = node * keys + k
            j = count + i
            s0, s1, ti = seeds[i, 0], seeds[i, 1], t[i]
            out[i, 0], out[i, 1], bits[i] = _child(out[i, 0], out[i, 1], s0, s1, ti, cw[k, 0],
                                                   cw[k, 1], cw_bits[k, 0])
            out[j, 0], out[j, 1], bits[j] = _child(out[j, 0], out[j, 1], s0, s1, ti, cw[k, 0],
                                                   cw[k, 1], cw_bits[k, 1])
    return bits


@numba.njit(nogil=True, boundscheck=False, cache=True, inline="always")
def _child(aes0: np.uint64, aes1: np.uint64, s0: np.uint64, s1: np.uint64, ti: np.uint64,
           cw0: np.uint64, cw1: np.uint64, cw_bit: np.uint64
           ) -> tuple[np.uint64, np.uint64, np.uint64]:
    """One child of seed (s0, s1) with control bit ti, from AES_(left or right)(seed): MMO,
    the control bit split off, the level's correction words where ti = 1 (fixed work): (seed
    words, control bit). Shared by `_next_level` and `_evaluate_compiled`."""
    one = np.uint64(1)
    mask = np.uint64(0) - ti
    m0 = aes0 ^ s0
    return (m0 & ~one) ^ (cw0 & mask), aes1 ^ s1 ^ (cw1 & mask), (m0 & one) ^ (ti & cw_bit)


@numba.njit(nogil=True, boundscheck=False, cache=True, inline="always")
def _leaf(aes0: np.uint64, aes1: np.uint64, s0: np.uint64, s1: np.uint64, ti: np.uint64,
          leaf0: np.uint64, leaf1: np.uint64) -> tuple[np.uint64, np.uint64]:
    """A leaf's 128 output bits from AES_convert(seed): MMO, the leaf correction where ti = 1.
    Shared by `_leaves` and `_evaluate_compiled`."""
    mask = np.uint64(0) - ti
    return aes0 ^ s0 ^ (leaf0 & mask), aes1 ^ s1 ^ (leaf1 & mask)


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _leaves(out: np.ndarray, seeds: np.ndarray, t: np.ndarray, cw_leaf: np.ndarray,
            keys: int) -> np.ndarray:
    """`out` (N, 2) = AES_convert(seeds) → MMO(seeds) XOR (t ? leaf correction : 0), returned
    by key: (keys, 2N / keys) words."""
    leaves = seeds.shape[0] // keys
    result = np.empty((keys, 2 * leaves), dtype=np.uint64)
    for leaf in range(leaves):
        for k in range(keys):
            i = leaf * keys + k
            result[k, 2 * leaf], result[k, 2 * leaf + 1] = _leaf(
                out[i, 0], out[i, 1], seeds[i, 0], seeds[i, 1], t[i], cw_leaf[k, 0],
                cw_leaf[k, 1])
    return result


_CHUNK_LEAVES = 1 << 15
"""Leaves evaluated together (512 KiB of seeds): a level's arrays stay in L2."""


def evaluate_full(keys: list[DpfKey] | KeyBatch, positions: int | None = None) -> np.ndarray:
    """Full-domain evaluation of several keys of the same domain at once, or of the first
    `positions` array positions of it (whole leaves of 128: a query table's part that is
    shorter than the domain reads no more; layout.py).

    Returns uint64 words of shape (len(keys), 2^n / 64), or (len(keys), 2 * leaves) for the
    leaves covering `positions`: bit j of word w is the output at array position 64w + j. One
    AES pass per tree level covers a chunk of keys: their nodes are kept interleaved (row
    node * keys + key), children [all left | all right] as in `generate`, and the fixed-size
    arithmetic of a level runs in one compiled loop (`_next_level`). A node at row r has its
    leaves at rows r, r + rows, r + 2 rows, ...: it is computed when its first leaf is wanted,
    whatever the keys hold.
    """
    if not len(keys):
        raise ProtocolError("no DPF key to evaluate")
    batch = keys if isinstance(keys, KeyBatch) else KeyBatch.of(keys)
    n = batch.domain_bits
    if positions is None:
        positions = 1 << n
    if not 0 < positions <= 1 << n:
        raise ProtocolError(f"positions {positions} are not within a domain of 2^{n}")
    leaves = -(-positions // LEAF_POINTS)
    chunk = max(1, _CHUNK_LEAVES >> (n - LEAF_BITS))
    if len(batch) <= chunk:
        return _evaluate_chunk(batch, leaves)
    out = np.empty((len(batch), 2 * leaves), dtype=np.uint64)
    for i in range(0, len(batch), chunk):
        out[i:i + chunk] = _evaluate_chunk(batch.part(i, i + chunk), leaves)
    return out


def _evaluate_chunk(keys: KeyBatch, leaves: int) -> np.ndarray:
    """The first `leaves` leaves of each key's evaluation."""
    if aesni.HARDWARE:
        return _evaluate_compiled(keys.seeds, keys.party, keys.cw_seeds, keys.cw_bits,
                       np.ascontiguousarray(keys.cw_leaf), _LEFT.round_keys, _RIGHT.round_keys,
                       _CONVERT.round_keys, leaves)
    return _evaluate_levels(keys)[:, :2 * leaves]


def _evaluate_levels(keys: KeyBatch) -> np.ndarray:
    """Without AES-NI: one `cryptography` call per level (the whole domain)."""
    count, n = len(keys), keys.domain_bits
    seeds = keys.seeds.copy()
    seeds[:, 0] &= ~np.uint64(1)
    t = keys.party.copy()
    cw_seeds, cw_bits = keys.cw_seeds, keys.cw_bits  # (K, levels, 2) each
    for level in range(n - LEAF_BITS):
        rows = seeds.shape[0]
        buffer = np.empty(2 * rows * 16 + 16, dtype=np.uint8)
        _LEFT.encrypt_into(seeds, buffer[:rows * 16 + 16])
        _RIGHT.encrypt_into(seeds, buffer[rows * 16:])
        out = buffer[:2 * rows * 16].view(np.uint64).reshape(2 * rows, 2)
        t = _next_level(out, seeds, t, np.ascontiguousarray(cw_seeds[:, level]),
                        np.ascontiguousarray(cw_bits[:, level]), count)
        seeds = out
    leaf_cw = np.ascontiguousarray(keys.cw_leaf)
    rows = seeds.shape[0]
    buffer = np.empty(rows * 16 + 16, dtype=np.uint8)
    _CONVERT.encrypt_into(seeds, buffer)
    out = buffer[:rows * 16].view(np.uint64).reshape(rows, 2)
    return _leaves(out, seeds, t, leaf_cw, count)


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _evaluate_compiled(root_seeds: np.ndarray, party: np.ndarray, cw_seeds: np.ndarray,
                       cw_bits: np.ndarray, cw_leaf: np.ndarray, left_keys: np.ndarray,
                       right_keys: np.ndarray, convert_keys: np.ndarray, wanted: int
                       ) -> np.ndarray:
    """`_evaluate_levels` with AES-NI, in one compiled call: the same levels (`_next_level`),
    rows node * keys + key, children [all left | all right], then the leaves (`_leaves`), with
    every AES inside the loop instead of one `cryptography` call per level (a level of a small
    batch is a few microseconds of AES and more of Python around it). Only rows below
    `wanted` leaves' rows are computed: a node's first leaf is at its own row."""
    count, levels = root_seeds.shape[0], cw_seeds.shape[1]
    one = np.uint64(1)
    rows_at_leaves = count << levels
    limit = min(wanted * count, rows_at_leaves)
    seeds = np.empty((rows_at_leaves, 2), dtype=np.uint64)
    children = np.empty((rows_at_leaves, 2), dtype=np.uint64)
    t = np.empty(rows_at_leaves, dtype=np.uint64)
    child_t = np.empty(rows_at_leaves, dtype=np.uint64)
    for k in range(count):
        seeds[k, 0] = root_seeds[k, 0] & ~one
        seeds[k, 1] = root_seeds[k, 1]
        t[k] = party[k]
    rows = count
    for level in range(levels):
        for i in range(min(rows, limit)):
            k, j = i % count, rows + i
            s0, s1, ti = seeds[i, 0], seeds[i, 1], t[i]
            cw0, cw1 = cw_seeds[k, level, 0], cw_seeds[k, level, 1]
            aes0, aes1 = _ENCRYPT(left_keys, s0, s1)
            children[i, 0], children[i, 1], child_t[i] = _child(
                aes0, aes1, s0, s1, ti, cw0, cw1, cw_bits[k, level, 0])
            if j < limit:
                aes0, aes1 = _ENCRYPT(right_keys, s0, s1)
                children[j, 0], children[j, 1], child_t[j] = _child(
                    aes0, aes1, s0, s1, ti, cw0, cw1, cw_bits[k, level, 1])
        seeds, children = children, seeds
        t, child_t = child_t, t
        rows *= 2
    leaves = min(rows, limit) // count
    result = np.empty((count, 2 * leaves), dtype=np.uint64)
    for leaf in range(leaves):
        for k in range(count):
            i = leaf * count + k
            aes0, aes1 = _ENCRYPT(convert_keys, seeds[i, 0], seeds[i, 1])
            result[k, 2 * leaf], result[k, 2 * leaf + 1] = _leaf(
                aes0, aes1, seeds[i, 0], seeds[i, 1], t[i], cw_leaf[k, 0], cw_leaf[k, 1])
    return result

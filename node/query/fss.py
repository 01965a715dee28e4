"""Function secret sharing of a point function with a vector payload, evaluated at one point per
key (Boyle-Gilboa-Ishai 2016 tree DPF over a 32-bit domain, output additive over (Z_2^64)^L).

Why: the multi-lender query tests equality without showing the value looked for. The asker gives
each of the two servers one key per table cell (`generate`); both servers know the cell's public
32-bit value x, evaluate their key at x (`evaluate`) and get L uint64 words each. Party 0's words
plus party 1's words = beta (mod 2^64) if x == alpha, 0 otherwise. One party's key alone is
pseudorandom (OS-random root seeds; every correction word is masked by seeds that party never
sees), and every key has the same size and format whatever alpha and beta are, so a server learns
neither.

Construction (BGI, Fig. 1 with a group output; 32 levels, no early termination):
- PRG: fixed-key AES in Matyas-Meyer-Oseas form, G(s) = AES_k(s) XOR s, with public keys derived
  from labels of its own (`fss-left`, `fss-right`, `fss-convert`: distinct from dpf.py's, whose
  `_FixedAes` it uses) for the left child, the right child and the output conversion. Bit 0 of
  a seed's first byte is its control-bit position: zero in every seed, and after expansion the
  child's control bit t.
- Conversion: a leaf seed s gives ceil(L/2) blocks MMO_convert(s XOR (0, j)), j = 0, 1, ...
  (the counter in the seed's second little-endian uint64), read as L uint64 words.
- Output: party b's share is (-1)^b * (convert(s_b) + t_b * CW_out) mod 2^64.

Serialized key, `key_size(L)` = 538 + 8 L bytes:

    offset  bytes    field
    0       1        version (1)
    1       1        party (0 or 1)
    2       16       root seed (control-bit position zero)
    18      32 x 16  correction seeds, level 0 (the input's most significant bit) first
                     (control-bit position zero)
    530     8        control-bit corrections: bit 2l is level l's left one, bit 2l+1 its right
                     one; bit i is bit (i mod 8) of byte i // 8
    538     8 L      output correction CW_out, L uint64 little-endian

A batch of keys is their concatenation (one party's keys only); `KeyBatch.parse` reads it in one go.

Speed: every step works on all keys of a batch at once. Evaluation groups the keys by the bit of x
that picks their child at each level (x is public to the server, so the grouping leaks nothing) and
encrypts only the children on the path: one AES call per group, then a compiled (numba) loop of
fixed work per key. Generation expands both children of both parties' seeds, branch-free on alpha.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from node.query import aesni
from node.query.dpf import _FixedAes, generate_levels
from node.query.errors import ProtocolError

DOMAIN_BITS = 32
_VERSION = 1
_HEADER = 2  # version, party
_SEEDS_AT = _HEADER + 16
_BITS_AT = _SEEDS_AT + 16 * DOMAIN_BITS
_OUT_AT = _BITS_AT + 2 * DOMAIN_BITS // 8
_LOW = ~np.uint64(1)  # clears a seed's control-bit position (bit 0 of its first uint64)


_LEFT = _FixedAes(b"fss-left")
_RIGHT = _FixedAes(b"fss-right")
_CONVERT = _FixedAes(b"fss-convert")


def key_size(payload: int) -> int:
    """Bytes of one serialized key for a payload of `payload` uint64 words (any alpha, beta)."""
    if payload < 1:
        raise ProtocolError(f"an FSS payload has at least 1 uint64 word, not {payload}")
    return _OUT_AT + 8 * payload


@dataclass(frozen=True)
class KeyBatch:
    """One party's keys as arrays, the form evaluation works on: parsed in one go from their
    concatenated serialization (a server gets one key per table cell that way)."""

    party: np.ndarray  # (n,) uint8, the same for every key of a parsed batch
    roots: np.ndarray  # (n, 2) uint64: root seeds
    cw_seeds: np.ndarray  # (n, 32, 2) uint64: correction seeds per level
    cw_bits: np.ndarray  # (n, 32, 2) uint8: left and right control-bit corrections per level
    cw_out: np.ndarray  # (n, L) uint64: output corrections

    def __len__(self) -> int:
        return int(self.party.shape[0])

    @property
    def payload(self) -> int:
        """L, the uint64 words each key's output has."""
        return int(self.cw_out.shape[1])

    @classmethod
    def concat(cls, batches: Sequence[KeyBatch]) -> KeyBatch:
        """Several parsed batches (of one payload size) as one: evaluated in one tree walk."""
        if len(batches) == 1:
            return batches[0]
        return cls(*(np.concatenate([getattr(b, name) for b in batches])
                     for name in ("party", "roots", "cw_seeds", "cw_bits", "cw_out")))

    def to_bytes(self) -> bytes:
        """The keys serialized (layout in the module docstring) and concatenated."""
        n = len(self)
        rows = np.empty((n, key_size(self.payload)), dtype=np.uint8)
        rows[:, 0] = _VERSION
        rows[:, 1] = self.party
        rows[:, _HEADER:_SEEDS_AT] = _le_bytes(self.roots, n)
        rows[:, _SEEDS_AT:_BITS_AT] = _le_bytes(self.cw_seeds, n)
        rows[:, _BITS_AT:_OUT_AT] = np.packbits(self.cw_bits.reshape(n, -1).astype(np.uint8),
                                                axis=1, bitorder="little")
        rows[:, _OUT_AT:] = _le_bytes(self.cw_out, n)
        return rows.tobytes()

    @classmethod
    def parse(cls, data: bytes, payload: int) -> KeyBatch:
        """One party's keys, serialized and concatenated, for a payload of `payload` words;
        ProtocolError naming what is wrong if any key is malformed."""
        size = key_size(payload)
        if not data:
            raise ProtocolError("no FSS key: the key data is empty")
        if len(data) % size:
            raise ProtocolError(
                f"FSS keys for a payload of {payload} words are {size} bytes each, got "
                f"{len(data)} bytes (not a whole number of keys): the asker and the server "
                f"disagree on the payload, or the message was cut")
        rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, size)
        wrong = rows[:, 0] != _VERSION
        if wrong.any():
            raise ProtocolError(f"FSS key version {int(rows[wrong.argmax(), 0])} is unknown (this "
                                f"node reads version {_VERSION}): update the asker or the "
                                "server")
        low, high = int(rows[:, 1].min()), int(rows[:, 1].max())
        if high > 1:
            raise ProtocolError(f"an FSS key names party {high}, not 0 or 1")
        if low != high:
            raise ProtocolError("FSS keys of both parties in one batch: a server evaluates only "
                                "its own party's keys")
        seeds = rows[:, _HEADER:_BITS_AT].reshape(len(rows), DOMAIN_BITS + 1, 16)
        if np.any(seeds[:, :, 0] & 1):
            raise ProtocolError("an FSS key has a seed with its control-bit position (bit 0 of "
                                "its first byte) set; a generated key never has")
        n = len(rows)
        bits = np.unpackbits(rows[:, _BITS_AT:_OUT_AT], axis=1, bitorder="little")
        return cls(party=rows[:, 1].copy(),
                   roots=_words(rows[:, _HEADER:_SEEDS_AT]).reshape(n, 2),
                   cw_seeds=_words(rows[:, _SEEDS_AT:_BITS_AT]).reshape(n, DOMAIN_BITS, 2),
                   cw_bits=bits.reshape(n, DOMAIN_BITS, 2),
                   cw_out=_words(rows[:, _OUT_AT:]).reshape(n, payload))


def _words(raw: np.ndarray) -> np.ndarray:
    """Little-endian uint64 words of uint8 rows, as native uint64 (contiguous)."""
    return np.ascontiguousarray(raw).view("<u8").astype(np.uint64)


def _le_bytes(words: np.ndarray, n: int) -> np.ndarray:
    return np.ascontiguousarray(words, dtype="<u8").view(np.uint8).reshape(n, -1)


def _uints(values: np.ndarray, name: str, shape: tuple[int, ...], bits: int) -> np.ndarray:
    """`values` as uint64 after checking its shape and that each is in [0, 2^bits)."""
    array = np.asarray(values)
    if array.shape != shape:
        raise ProtocolError(f"{name} must have shape {shape}, not {array.shape}")
    if array.dtype.kind not in "ui":
        raise ProtocolError(f"{name} must be integers, not {array.dtype}")
    if array.size and (array.min() < 0 or (bits < 64 and int(array.max()) >> bits)):
        raise ProtocolError(f"{name} must lie in [0, 2^{bits})")
    return np.ascontiguousarray(array, dtype=np.uint64)


def generate(alphas: np.ndarray, betas: np.ndarray,
             rng: bytes | None = None) -> tuple[bytes, bytes]:
    """Key pairs for f_i(x) = betas[i] if x == alphas[i] else 0, over 32-bit x.

    `alphas` (n,) in [0, 2^32); `betas` (n, L) integers, taken mod 2^64 (uint64; a negative
    signed value means its residue). Returns party 0's n keys then party 1's, each serialized and
    concatenated. Root seeds come from the OS; `rng` (32 bytes per key: party 0's root, then party
    1's) is for deterministic tests only.
    """
    betas = np.asarray(betas)
    if betas.ndim != 2 or not betas.shape[0] or not betas.shape[1]:
        raise ProtocolError(f"betas must have shape (keys, words), both > 0, not {betas.shape}")
    if betas.dtype.kind not in "ui":
        raise ProtocolError(f"betas must be integers, not {betas.dtype}")
    n, payload = betas.shape
    betas = betas.astype(np.uint64)  # wraps negative signed values mod 2^64
    alphas = _uints(alphas, "alphas", (n,), DOMAIN_BITS)
    roots = rng if rng is not None else os.urandom(32 * n)
    if len(roots) != 32 * n:
        raise ProtocolError(f"rng must give 32 bytes per key ({32 * n}), not {len(roots)}")
    seeds = np.frombuffer(roots, dtype="<u8").astype(np.uint64).reshape(n, 2, 2)
    seeds[:, :, 0] &= _LOW
    root_seeds = seeds.copy()
    t = np.zeros((n, 2), dtype=np.uint64)
    t[:, 1] = 1
    cw_seeds = np.empty((n, DOMAIN_BITS, 2), dtype=np.uint64)
    cw_bits = np.empty((n, DOMAIN_BITS, 2), dtype=np.uint8)
    generate_levels(alphas, seeds, t, cw_seeds, cw_bits, _LEFT, _RIGHT)
    converted = _convert(seeds.reshape(2 * n, 2), payload).reshape(n, 2, payload)
    cw_out = betas - converted[:, 0] + converted[:, 1]
    negate = t[:, 1] == 1  # at alpha exactly one t is 1; party 1 subtracts t_1 * CW_out
    cw_out[negate] = np.uint64(0) - cw_out[negate]
    first, second = (KeyBatch(np.full(n, party, dtype=np.uint8), root_seeds[:, party], cw_seeds,
                              cw_bits, cw_out).to_bytes() for party in (0, 1))
    return first, second


def _convert(seeds: np.ndarray, payload: int) -> np.ndarray:
    """`payload` uint64 words from each seed of (m, 2): MMO_convert of the seed XOR a counter."""
    blocks = (payload + 1) // 2
    grid = np.repeat(seeds[:, None, :], blocks, axis=1)
    grid[:, :, 1] ^= np.arange(blocks, dtype=np.uint64)
    grid = grid.reshape(-1, 2)
    buffer = np.empty(grid.nbytes + 16, dtype=np.uint8)
    _CONVERT.encrypt_into(grid, buffer)
    out = buffer[:grid.nbytes].view(np.uint64).reshape(-1, 2) ^ grid
    return out.reshape(len(seeds), 2 * blocks)[:, :payload]


def evaluate(keys: KeyBatch, points: np.ndarray) -> np.ndarray:
    """This party's shares of f_i(points[i]) for every key i: uint64 (n, L).

    `points` (n,) in [0, 2^32): the public value of each key's cell. Adding the other party's
    result mod 2^64 gives beta_i where points[i] == alpha_i, zeros elsewhere.
    """
    n = len(keys)
    points = _uints(points, "points", (n,), DOMAIN_BITS)
    if not n:
        return np.zeros((0, keys.payload), dtype=np.uint64)
    seeds = np.ascontiguousarray(keys.roots, dtype=np.uint64).copy()
    seeds[:, 0] &= _LOW
    party = np.ascontiguousarray(keys.party, dtype=np.uint64)
    t = party.copy()
    cw_seeds = np.ascontiguousarray(keys.cw_seeds, dtype=np.uint64)
    cw_bits = np.ascontiguousarray(keys.cw_bits, dtype=np.uint8)
    cw_out = np.ascontiguousarray(keys.cw_out, dtype=np.uint64)
    if aesni.HARDWARE:
        _walk(seeds, t, points, cw_seeds, cw_bits, _LEFT.round_keys, _RIGHT.round_keys)
        return _outputs(seeds, t, cw_out, party, _CONVERT.round_keys)
    blocks = np.empty((n, 2), dtype=np.uint64)
    order = np.empty(n, dtype=np.int64)
    buffer = np.empty(16 * n + 16, dtype=np.uint8)
    aes = buffer[:16 * n].view(np.uint64).reshape(n, 2)
    lefts = _arrange(seeds, points, np.uint64(DOMAIN_BITS - 1), order, blocks)
    for level in range(DOMAIN_BITS):
        _LEFT.encrypt_into(blocks[:lefts], buffer[:16 * lefts + 16])
        _RIGHT.encrypt_into(blocks[lefts:], buffer[16 * lefts:])
        lefts = _descend(aes, order, seeds, t, points, level, cw_seeds, cw_bits, blocks)
    out = _convert(seeds, keys.payload) + (cw_out & (np.uint64(0) - t)[:, None])
    negate = party == 1
    out[negate] = np.uint64(0) - out[negate]
    return out


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _arrange(seeds: np.ndarray, points: np.ndarray, shift: np.uint64, order: np.ndarray,
             blocks: np.ndarray) -> int:
    """Copy each key's seed into `blocks`: keys whose point's bit `shift` is 0 (path goes left)
    first, the others after; `order[i]` = key i's row. Returns how many go left. Branches on
    the public points only."""
    one = np.uint64(1)
    lefts = 0
    for i in range(seeds.shape[0]):
        lefts += 1 - int((points[i] >> shift) & one)
    left = 0
    right = lefts
    for i in range(seeds.shape[0]):
        if (points[i] >> shift) & one:
            row = right
            right += 1
        else:
            row = left
            left += 1
        order[i] = row
        blocks[row, 0] = seeds[i, 0]
        blocks[row, 1] = seeds[i, 1]
    return lefts


@numba.njit(nogil=True, boundscheck=False, cache=True, inline="always")
def _child(aes0: np.uint64, aes1: np.uint64, s0: np.uint64, s1: np.uint64, ti: np.uint64,
           b: np.uint64, level: int, i: int, cw_seeds: np.ndarray, cw_bits: np.ndarray
           ) -> tuple[np.uint64, np.uint64, np.uint64]:
    """Key i's child seed and control bit at `level` from AES_(b: left or right)(seed): MMO,
    the control bit split off, the level's corrections where t = 1 (fixed work)."""
    one = np.uint64(1)
    m0 = aes0 ^ s0
    mask = np.uint64(0) - ti
    t_next = (m0 & one) ^ (ti & np.uint64(cw_bits[i, level, b]))
    return ((m0 & ~one) ^ (cw_seeds[i, level, 0] & ~one & mask),
            aes1 ^ s1 ^ (cw_seeds[i, level, 1] & mask), t_next)


_ENCRYPT = aesni.encrypt_intrinsic()


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _walk(seeds: np.ndarray, t: np.ndarray, points: np.ndarray, cw_seeds: np.ndarray,
          cw_bits: np.ndarray, left_keys: np.ndarray, right_keys: np.ndarray) -> None:
    """Every key's seed and control bit moved down its point's path to the leaf, in place,
    with AES-NI (aesni.py): one compiled call for the whole walk. Branches on the public
    points only."""
    one = np.uint64(1)
    for i in range(seeds.shape[0]):
        s0, s1, ti = seeds[i, 0], seeds[i, 1], t[i]
        for level in range(DOMAIN_BITS):
            b = (points[i] >> np.uint64(DOMAIN_BITS - 1 - level)) & one
            if b:
                aes0, aes1 = _ENCRYPT(right_keys, s0, s1)
            else:
                aes0, aes1 = _ENCRYPT(left_keys, s0, s1)
            s0, s1, ti = _child(aes0, aes1, s0, s1, ti, b, level, i, cw_seeds, cw_bits)
        seeds[i, 0], seeds[i, 1], t[i] = s0, s1, ti


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _outputs(seeds: np.ndarray, t: np.ndarray, cw_out: np.ndarray, party: np.ndarray,
             convert_keys: np.ndarray) -> np.ndarray:
    """`evaluate`'s output with AES-NI, in one compiled call: each leaf seed's conversion
    (`_convert`: MMO_convert of the seed XOR (0, j), two words per block), plus CW_out where
    t = 1, negated for party 1 (mod 2^64), instead of ~10 numpy and `cryptography` calls."""
    n, payload = cw_out.shape
    zero = np.uint64(0)
    out = np.empty((n, payload), dtype=np.uint64)
    for i in range(n):
        mask = zero - t[i]
        sign = zero - party[i]  # all ones for party 1: x -> (x XOR sign) - sign negates
        for j in range((payload + 1) // 2):
            b0, b1 = seeds[i, 0], seeds[i, 1] ^ np.uint64(j)
            a0, a1 = _ENCRYPT(convert_keys, b0, b1)
            k = 2 * j
            out[i, k] = (((a0 ^ b0) + (cw_out[i, k] & mask)) ^ sign) - sign
            if k + 1 < payload:
                out[i, k + 1] = (((a1 ^ b1) + (cw_out[i, k + 1] & mask)) ^ sign) - sign
    return out


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _descend(aes: np.ndarray, order: np.ndarray, seeds: np.ndarray, t: np.ndarray,
             points: np.ndarray, level: int, cw_seeds: np.ndarray, cw_bits: np.ndarray,
             blocks: np.ndarray) -> int:
    """Move every key's seed and control bit to its child on the point's path, in place: `aes`
    row order[i] holds AES_(left or right)(seeds[i]); MMO, split off the control bit, apply the
    level's corrections where t = 1 (fixed work per key). Then `_arrange` the new seeds for the
    next level, if any (one compiled call per level), and return its count of left paths."""
    one = np.uint64(1)
    shift = np.uint64(DOMAIN_BITS - 1 - level)
    for i in range(seeds.shape[0]):
        row = order[i]
        b = (points[i] >> shift) & one
        seeds[i, 0], seeds[i, 1], t[i] = _child(aes[row, 0], aes[row, 1], seeds[i, 0],
                                                seeds[i, 1], t[i], b, level, i, cw_seeds,
                                                cw_bits)
    if level + 1 == DOMAIN_BITS:
        return 0
    return _arrange(seeds, points, np.uint64(DOMAIN_BITS - 2 - level), order, blocks)

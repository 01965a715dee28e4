"""KKRT16 batched OPRF kernels (Kolesnikov-Kumaresan-Rosulek-Trieu, CCS 2016), in bulk numpy.

The OPRF receiver holds one input r_j per bin j (cuckoo table, hash-index tweak included); the
sender learns a key that lets it evaluate F(j, y) = H(j, q_j ^ (C(y) & s)) for any y, the receiver
learns exactly F(j, r_j) = H(j, t_j). This is IKNP OT extension with the repetition code replaced
by a pseudo-random code C of w = 448 or 512 bits:

    receiver, per bin:   c_j = C(r_j);  t^i = G(k_i^0),  u^i = t^i ^ G(k_i^1) ^ c^i  (columns)
    sender, per column:  q^i = G(k_i^{s_i}) ^ s_i * u^i   => row q_j = t_j ^ (c_j & s)

where (k_i^0, k_i^1) are the receiver's base-OT pairs, s the sender's base-OT choice bits, G an
AES-CTR PRG per seed, and columns/rows are flipped by bitmatrix.transpose.

Parameters and assumptions (semi-honest):
- code width: the code must keep every pair (receiver's input at bin j, sender's query at bin j)
  at Hamming distance >= kappa = 128 (KKRT16 sec. 5), else the sender's output there is correlated
  with the receiver's. For a random code of w bits a pair is closer with probability
  P[Bin(w, 1/2) < 128] = 2^-66.5 for w = 448 and 2^-102.3 for w = 512 (exact sums). The sender
  makes at most 8 queries per id (3 functions + a stash of at most 5), so `code_width` picks 448
  bits while 8 n_S * 2^-66.5 <= 2^-40 (n_S <= 11.8 million) and 512 above (any n_S < 2^59).
- C(d, i) = B(d) ^ D_i, B a pseudo-random code from AES under the sender's fresh key kc, D_i a
  pseudo-random offset per hash index i (3 = stash); see `PseudoRandomCode`.
- H(j, x) = MMO chain of fixed-key AES over the four 16-byte blocks of x, started from the block
  (j, domain): a tweakable correlation-robust hash under the ideal-permutation heuristic (GKWY20);
  it outputs 128 bits, of which the engine compares a prefix sized for its false-positive bound.
"""

from __future__ import annotations

import numpy as np

from node.mpc.psi import bitmatrix
from node.mpc.psi.aes import CtrStream, FixedKeyAes

WIDTH = 448
WIDE = 512
MAX_QUERIES_PER_ID = 8
TWEAKS = 4  # hash indices 0, 1, 2 and the stash
STASH_TWEAK = 3
_HASH_KEY = bytes.fromhex("3c6ef372a54ff53a510e527f9b05688c")  # public fixed key for H
_HASH_DOMAIN = np.uint64(0x4B4B52542D483031)  # "KKRT-H01"


ROW_WORDS = 8  # rows are kept as 8 words (zero-padded) so every array op runs contiguous


def code_width(n_sender: int) -> int:
    """448 bits while MAX_QUERIES_PER_ID * n_S * 2^-66.5 <= 2^-40, else 512 (see above)."""
    return WIDTH if MAX_QUERIES_PER_ID * max(n_sender, 1) <= 2**26.5 else WIDE


class PseudoRandomCode:
    """C(d, i) = B(d) ^ D_i: w-bit code words of 128-bit digests, keyed by the sender's code key.

    B(d) = AES_kc(d ^ K_0) || ... || AES_kc(d ^ K_3) (first w bits) is a pseudo-random code on
    digests; D_i are pseudo-random w-bit offsets, one per hash index (3 = stash). Two distinct
    inputs (d, i) != (d', i') get code words at pseudo-random distance: B(d) ^ B(d') ^ D_i ^ D_i'
    for d != d', and the fixed D_i ^ D_i' (weight ~w/2, checked >= 128 at construction) for d = d'.
    That distance is all KKRT's proof asks of the code. Computing B once per id and XOR-ing the
    offsets makes the sender's three evaluations of an id cost one code word instead of three.
    """

    def __init__(self, key: bytes, width: int = WIDTH) -> None:
        self.width = width
        self._aes = FixedKeyAes(key)
        tweaks = np.zeros((8, 2), dtype=np.uint64)
        tweaks[:, 0] = np.arange(8, dtype=np.uint64)
        tweaks[:, 1] = np.uint64(0x50524321)  # "!CRP"
        self._keys = self._aes.permute(tweaks)[:4].reshape(ROW_WORDS)
        offsets = np.zeros((TWEAKS, 4, 2), dtype=np.uint64)
        offsets[:, :, 0] = np.arange(TWEAKS * 4, dtype=np.uint64).reshape(TWEAKS, 4) + 64
        offsets[:, :, 1] = np.uint64(0x4F464653)  # "SFFO"
        self.offsets = self._aes.permute(offsets).reshape(TWEAKS, ROW_WORDS)
        self.offsets[:, width // 64 :] = 0
        for i in range(TWEAKS):
            for k in range(i):
                diff = np.bitwise_xor(self.offsets[i], self.offsets[k])
                if int(np.unpackbits(diff.view(np.uint8)).sum()) < 128:
                    raise ValueError("code offsets too close; use another code key")

    def base(self, digests: np.ndarray) -> np.ndarray:
        """`(m, 8)` uint64 B(d) (zero past the width)."""
        m = digests.shape[0]
        x = np.empty((m, ROW_WORDS), dtype=np.uint64)
        for w in range(ROW_WORDS):  # 1-D strided ops: long inner loops
            np.bitwise_xor(digests[:, w & 1], self._keys[w], out=x[:, w])
        self._aes.permute_inplace(x)
        x[:, self.width // 64 :] = 0
        return x

    def words(self, digests: np.ndarray, tweak: int | np.ndarray) -> np.ndarray:
        """`(m, 8)` uint64 C(d, i); `tweak` one hash index for all, or one per digest."""
        x = self.base(digests)
        np.bitwise_xor(x, self.offsets[tweak], out=x)
        return x


class RowHash:
    """H(j, x) for rows x `(m, 8)` uint64 (zero-padded) and bins j: `(m, 2)` uint64 (128 bits)."""

    def __init__(self) -> None:
        self._aes = FixedKeyAes(_HASH_KEY)

    def __call__(self, rows: np.ndarray, bins: np.ndarray | int) -> np.ndarray:
        m = rows.shape[0]
        h = np.empty((m, 2), dtype=np.uint64)
        h[:, 0] = bins
        h[:, 1] = _HASH_DOMAIN
        t = np.empty((m, 2), dtype=np.uint64)
        for w in range(0, ROW_WORDS, 2):
            np.bitwise_xor(h[:, 0], rows[:, w], out=t[:, 0])
            np.bitwise_xor(h[:, 1], rows[:, w + 1], out=t[:, 1])
            self._aes.mmo(t, out=h)
        return h


def _fill_columns(streams: list[CtrStream], out: np.ndarray) -> np.ndarray:
    for i, stream in enumerate(streams):
        stream.fill(out[i])
    return out


class OprfReceiver:
    """The receiver's side, chunk by chunk of bins (in order, sizes multiples of 64): `u_chunk`
    makes what is sent; `outputs` (called later, same chunks in the same order) replays the
    T columns from their seeds and hashes them, so that work stays off the streaming phase."""

    def __init__(self, seed_pairs: list[tuple[bytes, bytes]], code: PseudoRandomCode) -> None:
        self.width = code.width
        if len(seed_pairs) != self.width:
            raise ValueError(f"need {self.width} base-OT pairs, got {len(seed_pairs)}")
        self._g0 = [CtrStream(k0) for k0, _ in seed_pairs]
        self._g1 = [CtrStream(k1) for _, k1 in seed_pairs]
        self._t = [CtrStream(k0) for k0, _ in seed_pairs]
        self._code = code
        self._hash = RowHash()

    def u_chunk(self, digests: np.ndarray, tweaks: np.ndarray) -> np.ndarray:
        """U columns `(w, cb/8)` uint8 for the next cb bins, inputs (digests, tweaks)."""
        cb, w = digests.shape[0], self.width
        codes = self._code.words(digests, tweaks)
        u = np.empty((w, cb // 8), dtype=np.uint8)
        bitmatrix.transpose_words(codes[:, : w // 64], u.view(np.uint64))
        del codes
        g = _fill_columns(self._g0, np.empty((w, cb // 8), dtype=np.uint8))
        np.bitwise_xor(u, g, out=u)
        _fill_columns(self._g1, g)
        np.bitwise_xor(u, g, out=u)
        return u

    def outputs(self, first_bin: int, cb: int) -> np.ndarray:
        """OPRF outputs H(j, t_j) `(cb, 2)` uint64 of bins first_bin .. first_bin + cb."""
        w = self.width
        t_cols = _fill_columns(self._t, np.empty((w, cb // 8), dtype=np.uint8))
        t_rows = np.zeros((cb, ROW_WORDS), dtype=np.uint64)
        bitmatrix.transpose_words(t_cols.view(np.uint64), t_rows[:, : w // 64])
        bins = np.arange(first_bin, first_bin + cb, dtype=np.uint64)
        return self._hash(t_rows, bins)

    def chunk(
        self, digests: np.ndarray, tweaks: np.ndarray, first_bin: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """`u_chunk` and `outputs` of one chunk at once (for callers that do not defer)."""
        return self.u_chunk(digests, tweaks), self.outputs(first_bin, digests.shape[0])


class OprfSender:
    """The sender's side: absorbs the U chunks into Q rows, then evaluates F(j, y) in batches."""

    def __init__(self, choices: np.ndarray, chosen_seeds: list[bytes], code: PseudoRandomCode,
                 total_bins: int) -> None:
        self.width = code.width
        if len(chosen_seeds) != self.width or choices.size != self.width:
            raise ValueError(f"need {self.width} base-OT keys and choice bits")
        self._streams = [CtrStream(k) for k in chosen_seeds]
        self._flip = np.flatnonzero(choices)
        s = np.zeros(ROW_WORDS, dtype=np.uint64)
        packed = np.packbits(choices.astype(np.uint8), bitorder="little")
        s[: self.width // 64] = packed.view(np.uint64)
        self._s = s
        self._offsets_s = code.offsets & s  # D_i & s
        self._s_tiled = np.zeros((0, ROW_WORDS), dtype=np.uint64)
        self._code = code
        self._hash = RowHash()
        self.q = np.zeros((total_bins, ROW_WORDS), dtype=np.uint64)

    def absorb(self, u: np.ndarray, first_bin: int) -> None:
        cb = u.shape[1] * 8
        q_cols = _fill_columns(self._streams, np.empty((self.width, cb // 8), dtype=np.uint8))
        q_cols[self._flip] ^= u[self._flip]
        rows = self.q[first_bin : first_bin + cb, : self.width // 64]
        bitmatrix.transpose_words(q_cols.view(np.uint64), rows)

    def masked_base(self, digests: np.ndarray) -> np.ndarray:
        """B(d) & s for a batch: shared by all of an id's evaluations."""
        m = digests.shape[0]
        if self._s_tiled.shape[0] < m:
            self._s_tiled = np.tile(self._s, (m, 1))
        x = self._code.base(digests)
        np.bitwise_and(x, self._s_tiled[:m], out=x)
        return x

    def evaluate_masked(self, masked: np.ndarray, bins: np.ndarray, tweak: int) -> np.ndarray:
        """F(bins[k], (d_k, tweak)) from `masked_base` rows: H(j, q_j ^ (B(d) & s) ^ (D_i & s))."""
        x = self.q[bins]
        np.bitwise_xor(x, masked, out=x)
        np.bitwise_xor(x, self._offsets_s[tweak], out=x)
        return self._hash(x, bins)

    def evaluate(self, digests: np.ndarray, bins: np.ndarray, tweak: int) -> np.ndarray:
        """F(bins[k], (digests[k], tweak)) as `(m, 2)` uint64."""
        return self.evaluate_masked(self.masked_base(digests), bins, tweak)

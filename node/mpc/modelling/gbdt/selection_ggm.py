"""Pure kernels of the secure-histogram selection: random OTs, the GGM all-but-one tree, tweaks.

No I/O here; `selection.py` runs the protocol around these. Blocks are 128-bit, held as
`(..., 2)` uint64 (little-endian), and every AES call goes through `node.mpc.psi.aes` (fixed-key
AES written into reused buffers: `update()` would be 7-15x slower).

- Random OT (IKNP03 with the hash of GKWY20): the passive party holds a choice bit per OT, the
  active party learns two random 128-bit messages (m0, m1) and the passive one m_c. 128 base OTs
  (Chou-Orlandi, `node.mpc.psi.base_ot`) seed AES-CTR streams (`CtrStream`); the 128 x M bit
  matrix is flipped by `node.mpc.psi.bitmatrix`; outputs are H(j, row) with the tweakable
  correlation-robust hash H(j, x) = pi(pi(x) ^ j) ^ pi(x) (GKWY20, ideal-permutation heuristic).
- GGM tree of depth D = ceil(log2 n_bins) from one 128-bit root per (row, feature), computed
  level-major (`(nodes, N, 2)` for a block of N (row, feature): long contiguous numpy runs); the
  children of node i at level l are i (left) and i + 2^l (right), child_c(s) = pi_c(s) ^ s
  (fixed-key MMO under two public keys, a length-doubling PRG in the ideal-permutation model).
  So leaf b's path takes at level l the side given by bit l-1 of b; its level-l node is b mod 2^l.
- Per-pair tweak R_j(q) = pi(y_j ^ T_q) ^ y_j of each leaf y_j (T_q a public block of the tree
  pair number q and the lane block): correlation-robust, so leaves of different pairs look
  independent even though they come from the same y_j; trees 2q and 2q+1 use disjoint halves of
  R_j(q) (one GGM expansion and one AES block per leaf serve two trees).
"""

from __future__ import annotations

import numpy as np

from node.mpc.psi import bitmatrix
from node.mpc.psi.aes import CtrStream, FixedKeyAes

KAPPA = 128
_LEFT_KEY = bytes.fromhex("6a09e667f3bcc908bb67ae8584caa73b")
_RIGHT_KEY = bytes.fromhex("3c6ef372fe94f82ba54ff53a5f1d36f1")
_HASH_KEY = bytes.fromhex("510e527fade682d19b05688c2b3e6c1f")
_TWEAK_KEY = bytes.fromhex("1f83d9abfb41bd6b5be0cd19137e2179")
_OT_DOMAIN = np.uint64(0x47424454_4F542D31)  # "GBDT-OT1"
_PAIR_DOMAIN = np.uint64(0x47424454_50524732)  # "GBDTPRG2": T_{q,k} of tree pair q


def depth_for(n_bins: int) -> int:
    """Levels of the GGM tree for `n_bins` leaves (2 bins: 1 level; 16: 4; 256: 8)."""
    return max(1, (n_bins - 1).bit_length())


class Prg:
    """The GGM tree's length-doubling PRG and the per-tree tweak, with their scratch buffers."""

    def __init__(self) -> None:
        self._left = FixedKeyAes(_LEFT_KEY)
        self._right = FixedKeyAes(_RIGHT_KEY)
        self._tweak = FixedKeyAes(_TWEAK_KEY)
        self._tile = np.empty((0, 2), dtype=np.uint64)
        self._tile_key = (-1, -1)

    def expand(self, roots: np.ndarray, depth: int) -> np.ndarray:
        """`(N, 2)` roots -> `(2^depth, N, 2)` leaves (level-major, see `children`)."""
        nodes = np.ascontiguousarray(roots).reshape(1, -1, 2)
        for _ in range(depth):
            nodes = self.children(nodes)
        return nodes

    def children(self, nodes: np.ndarray) -> np.ndarray:
        """Level l `(2^l, N, 2)` -> level l+1 `(2^(l+1), N, 2)` (children of i: i and i + 2^l).

        Level-major: every AES call, XOR and per-level sum runs over long contiguous runs."""
        width = nodes.shape[0]
        out = np.empty((2 * width, *nodes.shape[1:]), dtype=np.uint64)
        self._left.mmo(nodes, out=out[:width])
        self._right.mmo(nodes, out=out[width:])
        return out

    def tweak(self, leaves: np.ndarray, pair: int, blocks: int) -> np.ndarray:
        """r = pi(y ^ T_{q,k}) ^ y for pair q = `pair` and blocks k < `blocks`: `(L, N, 2)` ->
        `(L, N, 2 * blocks)` words; trees 2q and 2q+1 each take half of them (`selection`)."""
        width, n, _ = leaves.shape
        out = np.empty((width, n, 2 * blocks), dtype=np.uint64)
        x = np.empty_like(leaves)
        for k in range(blocks):
            np.bitwise_xor(leaves, self._tweak_block(pair, k, n * width).reshape(x.shape), out=x)
            view = self._tweak.permute_view(x).view(np.uint64).reshape(x.shape)
            target = out if blocks == 1 else out[..., 2 * k: 2 * k + 2]
            np.bitwise_xor(view, leaves, out=target)
        return out

    def _tweak_block(self, pair: int, k: int, count: int) -> np.ndarray:
        """T_{q,k} repeated `count` times `(count, 2)`, kept between calls (broadcasting one
        block over a length-2 axis would run numpy's slowest inner loop)."""
        if self._tile_key != (pair, k) or self._tile.shape[0] < count:
            self._tile = np.empty((max(count, self._tile.shape[0]), 2), dtype=np.uint64)
            self._tile[:, 0] = np.uint64(pair)
            self._tile[:, 1] = _PAIR_DOMAIN ^ np.uint64(k << 56)
            self._tile_key = (pair, k)
        return self._tile[:count]


def level_sums(level: np.ndarray) -> np.ndarray:
    """(K_0, K_1) of one level `(2^l, N, 2)` -> `(2, N, 2)`: K_c is the XOR of the nodes whose
    last step was c (the first half of the level, or the second)."""
    half = level.shape[0] // 2
    out = np.empty((2, *level.shape[1:]), dtype=np.uint64)
    np.bitwise_xor.reduce(level[:half], axis=0, out=out[0])
    np.bitwise_xor.reduce(level[half:], axis=0, out=out[1])
    return out


def active_tree(prg: Prg, roots: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """The active side of setup: (per level l = 1..D, (K_0, K_1) `(N, D, 2, 2)`; the leaves
    `(L, N, 2)`)."""
    out = np.empty((roots.shape[0], depth, 2, 2), dtype=np.uint64)
    nodes = np.ascontiguousarray(roots).reshape(1, -1, 2)
    for level in range(depth):
        nodes = prg.children(nodes)
        out[:, level] = level_sums(nodes).transpose(1, 0, 2)
    return out, nodes


def passive_choices(bins: np.ndarray, depth: int) -> np.ndarray:
    """The OT choice bit at each level: the side NOT on the path to `bins` -> `(N, D)` uint8."""
    shifts = np.arange(depth, dtype=np.uint16)
    return (((bins.astype(np.uint16)[:, None] >> shifts) & 1) ^ 1).astype(np.uint8)


def passive_copath(prg: Prg, sides: np.ndarray, bins: np.ndarray, depth: int) -> np.ndarray:
    """The sibling of the path node at each level from the K_c the passive party obtained.

    `sides` `(N, D, 2)`: K_{c_l} of level l (c_l the side off the path). Walks the tree: level l's
    nodes off the path are the children of level l-1's known nodes, except the path node's
    sibling, which is K_{c_l} XOR the other known nodes of its side. Returns `(N, D, 2)`."""
    n = bins.shape[0]
    idx = np.arange(n)
    b = bins.astype(np.int64)
    copath = np.empty((n, depth, 2), dtype=np.uint64)
    nodes = np.zeros((1, n, 2), dtype=np.uint64)  # level 0: the root, unknown (kept zero)
    zero = np.zeros(n, dtype=np.complex128)
    for level in range(1, depth + 1):
        nodes = prg.children(nodes)
        flat = nodes.view(np.complex128).reshape(-1)  # 16-byte items: one move per seed
        node = b & ((1 << level) - 1)
        path = node * n + idx
        sibling = (node ^ (1 << (level - 1))) * n + idx
        flat[path] = zero  # garbage from the unknown parent
        flat[sibling] = zero
        sums = level_sums(nodes)
        side = ((b >> (level - 1)) & 1) ^ 1
        value = sides[:, level - 1] ^ sums.reshape(-1, 2)[side * n + idx]
        flat[sibling] = value.view(np.complex128)[:, 0]
        copath[:, level - 1] = value
    return copath


def passive_leaves(prg: Prg, copath: np.ndarray, bins: np.ndarray, depth: int) -> np.ndarray:
    """Every leaf but leaf `bins` from the co-path seeds `(N, D, 2)`, as `(L, N, 2)`; leaf `bins`
    holds garbage (the caller overwrites it)."""
    n = bins.shape[0]
    idx = np.arange(n)
    b = bins.astype(np.int64)
    nodes = np.zeros((1, n, 2), dtype=np.uint64)
    seeds = np.ascontiguousarray(copath).view(np.complex128)[..., 0]  # 16-byte items: one move
    for level in range(1, depth + 1):
        nodes = prg.children(nodes)
        sibling = (b & ((1 << level) - 1)) ^ (1 << (level - 1))
        nodes.view(np.complex128).reshape(-1)[sibling * n + idx] = seeds[:, level - 1]
    return nodes


def random_seeds(n: int) -> np.ndarray:
    """`(n, 2)` uint64 fresh 128-bit seeds from the OS."""
    import secrets

    return np.frombuffer(secrets.token_bytes(16 * n), dtype=np.uint64).reshape(n, 2).copy()


class OtHash:
    """H(j, x) = pi(pi(x) ^ (j, domain)) ^ pi(x): the tweakable correlation-robust hash."""

    def __init__(self) -> None:
        self._aes = FixedKeyAes(_HASH_KEY)

    def __call__(self, rows: np.ndarray, first: int) -> np.ndarray:
        px = self._aes.permute(rows)
        x = px.copy()
        x[:, 0] ^= np.arange(first, first + rows.shape[0], dtype=np.uint64)
        x[:, 1] ^= _OT_DOMAIN
        out = self._aes.permute(x)
        np.bitwise_xor(out, px, out=out)
        return out


def _fill(streams: list[CtrStream], cols: int) -> np.ndarray:
    out = np.empty((KAPPA, cols // 8), dtype=np.uint8)
    for i, stream in enumerate(streams):
        stream.fill(out[i])
    return out


class OtReceiverExt:
    """IKNP receiver (the passive party), chunk by chunk of M OTs (M a multiple of 64)."""

    def __init__(self, pairs: list[tuple[bytes, bytes]]) -> None:
        if len(pairs) != KAPPA:
            raise ValueError(f"need {KAPPA} base-OT pairs, got {len(pairs)}")
        self._g0 = [CtrStream(k0) for k0, _ in pairs]
        self._g1 = [CtrStream(k1) for _, k1 in pairs]
        self._hash = OtHash()

    def chunk(self, choices: np.ndarray, first: int) -> tuple[np.ndarray, np.ndarray]:
        """(u `(128, M/8)` uint8 to send, m_c `(M, 2)` uint64) for choice bits `(M,)`."""
        m = choices.shape[0]
        t = _fill(self._g0, m)
        u = _fill(self._g1, m)
        np.bitwise_xor(u, t, out=u)
        packed = np.packbits(choices.astype(np.uint8), bitorder="little")
        np.bitwise_xor(u, packed[None, :], out=u)
        rows = bitmatrix.transpose(t).view(np.uint64).reshape(m, 2)
        return u, self._hash(rows, first)


class OtSenderExt:
    """IKNP sender (the active party): both random messages of every OT, chunk by chunk."""

    def __init__(self, choices: np.ndarray, keys: list[bytes]) -> None:
        if len(keys) != KAPPA or choices.size != KAPPA:
            raise ValueError(f"need {KAPPA} base-OT keys and choice bits")
        self._streams = [CtrStream(k) for k in keys]
        self._flip = np.flatnonzero(choices)
        self._s = np.packbits(choices.astype(np.uint8), bitorder="little").view(np.uint64).copy()
        self._hash = OtHash()

    def chunk(self, u: np.ndarray, first: int) -> tuple[np.ndarray, np.ndarray]:
        """(m0, m1), each `(M, 2)` uint64, from the receiver's u `(128, M/8)`."""
        m = u.shape[1] * 8
        q = _fill(self._streams, m)
        q[self._flip] ^= u[self._flip]
        rows = bitmatrix.transpose(q).view(np.uint64).reshape(m, 2)
        m0 = self._hash(rows, first)
        np.bitwise_xor(rows, self._s, out=rows)
        return m0, self._hash(rows, first)

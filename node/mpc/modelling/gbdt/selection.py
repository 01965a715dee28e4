"""Secure histograms for vertical boosting: the active party's values selected by the passive
party's private bins, as additive shares mod 2^64, through an all-but-one (GGM) correlation.

Roles: the *active* party (label holder) has per-row values v (e.g. fixed-point gradient and
hessian, `(n_rows, m)` uint64); the *passive* party has each row's bin b in [0, n_bins) for each
of its features. For every tree both end up with additive shares (mod 2^64) of
h[f, j] = sum of v[rows] over the rows whose bin of feature f is j, for any node's row set, at a
cost of local sums only (both parties know the node partition; SecureBoost's model).

Protocol, per (row, feature), with L = 2^D >= n_bins leaves:
- setup (once): the active party draws a GGM root and expands leaves y_0 .. y_{L-1}; for each level
  l it forms K_0^l, K_1^l (XOR of the level's left / right children). D random OTs (IKNP
  extension of 128 Chou-Orlandi base OTs), the passive party choosing at level l the side *off*
  its path to leaf b, give it K^l of that side (the active party sends K^l_c ^ m_c for c = 0, 1),
  from which it rebuilds the path's sibling at every level, hence every leaf y_j except y_b.
  The active party keeps only the root, the passive party the D co-path seeds.
- per pair of trees (2q, 2q+1): both derive R_j = H(q, y_j) = pi(y_j ^ T_q) ^ y_j (fixed-key
  AES; m blocks of 128 bits per leaf for m lanes); tree 2q's masks r_j are the first m 64-bit
  words of R_j, tree 2q+1's the other m, so one GGM expansion and one tweak per leaf serve two
  trees. Per tree t the active party sends c = v + sum_{j < n_bins} r_j. Shares: active a_j =
  -r_j; passive p_j = r_j for j != b and p_b = c - sum_{j != b} r_j = v + r_b. So a + p =
  v * onehot(b), and a node's histogram share is the sum of its rows' share vectors (subtract a
  child from its parent for the sibling: shares are linear).

Security (semi-honest, static corruption of one party), assumptions: OT security of Chou-Orlandi
(CDH, SHA-256 as a random oracle) and of the IKNP extension with the GKWY20 tweakable
correlation-robust hash; fixed-key AES as an ideal permutation for the GGM PRG (MMO) and for the
tweak H(q, y) (correlation robustness: y_b is uniform and unknown to the passive party, so the
R_b of distinct pairs are independent pseudo-random 128-bit values, and the two disjoint halves of
one R_b, which mask trees 2q and 2q+1, are independent of each other too; nothing lets it test a
guess of low-entropy values across trees; a tree number is refused a second time, as two c's with
the same r_b would reveal v - v').
- The passive party sees: base-OT and OT-extension messages (simulatable without the active
  party's values), the corrections K_c ^ m_c (the side it did not choose is masked by the m it
  cannot know; the chosen side determines only leaves it is meant to have), and per tree
  c = v + r_b + (its own known leaves): r_b is pseudo-random and fresh per tree, so c is
  indistinguishable from uniform and independent of v. It learns nothing about v.
- The active party sees: the IKNP u matrix (uniform given its base-OT choices: it hides the
  passive party's choice bits, hence its bins) and the passive party's hello. It learns nothing
  about the bins. Its share a = -r is independent of the bins too.
- What the parties learn is whatever the caller later reveals from the shares (in SecureBoost, the
  active party receives the passive party's histogram shares: it learns per-bin sums of its own
  values, the model's stated leakage); this module reveals nothing by itself.

Cost. Setup: D random OTs (D * 16 bytes of OT-extension matrix) and 2 * D * 16 bytes of
corrections per (row, feature) on the wire (192 bytes for 16 bins); 2^(D+1) - 2 AES blocks per
(row, feature) for the GGM tree. Per tree: n_rows * F * m * 8 bytes of masked values (45 MB at
284,807 rows x 20 features, m = 1). Per pair of trees and (row, feature), on each side: m * 2^D
AES blocks of tweak (16 for 16 bins, m = 1), plus 2^(D+1) - 2 to expand the GGM tree again when
the leaves are not kept; the fused kernels (selection_kernels.py) then form c, the share vectors
and the all-rows sums (the root's histogram, free) in one pass. node_sums: adds of the node's
rows' share vectors (F * n_bins * m words per row), proportional to the node's rows. CPU-bound:
run it off the event loop (`asyncio.to_thread`; the kernels release the GIL) for big nodes.

Memory: with `leaf_bytes` large enough (default 1.5 GiB: all of 284,807 x 20 x 16 bins) both keep
the 2^D untweaked leaves (16 bytes each; the passive party's own-bin slot is garbage) instead of
a 16-byte root (active) or D 16-byte co-path seeds (passive) per (row, feature). Per tree, the
share vectors (F * n_bins * m * 8 bytes per row) and the odd tree's masks are kept for as many
rows as `cache_bytes` allows (default 1.5 GiB for both: all of 284,807 x 20 x 16 at m = 1, ~31%
of 1e6 rows); a node's rows beyond those are re-expanded from the seeds when summed (cost still
proportional to the node's rows: the tree's AES again instead of a gather).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import numpy as np

from node.errors import InputValueError, NodeError, ProtocolAborted, ProtocolError
from node.failures import public_abort_reason
from node.mpc.modelling.gbdt import selection_ggm as ggm
from node.mpc.modelling.gbdt import selection_kernels as K
from node.mpc.psi.base_ot import POINT_BYTES, OtReceiver, OtSender
from node.mpc.transport import Transport

VERSION = 2
MAX_BINS = 256
DEFAULT_CACHE_BYTES = 3 << 29  # per party: the per-tree share vectors kept in memory
DEFAULT_LEAF_BYTES = 3 << 29  # per party: the untweaked leaves, kept when they all fit (all of
# 284,807 x 20 x 16 bins: a pair of trees then costs 16 AES blocks per (row, feature), not 46)
_SETUP_OTS = 1 << 16  # OTs per setup chunk (1 MiB of OT-extension matrix)
_BLOCK_BYTES = 1 << 20  # leaf bytes computed at once: AES and adds stay in cache
_SEND_BYTES = 4 << 20  # masked values per message
_SUM_ROWS = 256  # rows gathered at once when summing a node

T = TypeVar("T")


async def _guarded(transport: Transport, work: Callable[[], Awaitable[T]]) -> T:
    """Run `work`; on any failure abort the job for every party (so no peer waits out its
    deadline) with a coded reason (no values), then raise: our own error as is, others wrapped."""
    try:
        return await work()
    except ProtocolAborted:
        raise
    except Exception as exc:
        await transport.abort(public_abort_reason(exc, transport.party, set()))
        if isinstance(exc, NodeError):
            raise
        raise ProtocolAborted(f"{transport.party}: {type(exc).__name__}: {exc}",
                              transport.party) from exc


def _check_dims(n_rows: int, n_features: int, n_bins: int) -> None:
    if not 2 <= n_bins <= MAX_BINS:
        raise ProtocolError(f"secure histograms need 2 <= n_bins <= {MAX_BINS}, got {n_bins}; "
                            "bin the features again with fewer bins")
    if n_rows < 0 or n_features < 1:
        raise ProtocolError(f"secure histograms need n_rows >= 0 and n_features >= 1, "
                            f"got {n_rows} rows and {n_features} features")


async def _hello(transport: Transport, peer: str, step: str, mine: dict[str, int]) -> None:
    await transport.send(peer, f"{step}/hello", "dims", json.dumps(mine).encode())
    try:
        theirs = json.loads(await transport.recv(peer, f"{step}/hello", "dims"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"{peer} sent a malformed secure-histogram hello") from exc
    if theirs != mine:
        raise ProtocolError(f"secure-histogram setup: {peer} has {theirs}, this party {mine}; "
                            "both must run the same job on the same aligned rows")


def _row_chunks(n_rows: int, per_row: int, budget: int) -> list[tuple[int, int]]:
    step = max(1, budget // max(per_row, 1))
    return [(r0, min(r0 + step, n_rows)) for r0 in range(0, n_rows, step)]


def _padded(count: int) -> int:
    return (count + 63) // 64 * 64


def _cached_rows(n_rows: int, per_row_bytes: int, cache_bytes: int) -> int:
    return int(min(n_rows, max(0, cache_bytes) // max(per_row_bytes, 1)))


def _leaf_store(n_rows: int, n_features: int, depth: int, leaf_bytes: int) -> np.ndarray | None:
    """Room for every (row, feature)'s untweaked leaves `(L, n_rows * F, 2)` (level-major, so a
    block of rows is a view) if they fit `leaf_bytes`: each pair of trees then only tweaks them
    (2^D AES blocks instead of 2^(D+1) - 2 more to expand the tree again)."""
    if n_rows * n_features * (16 << depth) > leaf_bytes:
        return None
    return np.empty((1 << depth, n_rows * n_features, 2), dtype=np.uint64)


async def setup_active(
    transport: Transport, peer: str, n_rows: int, n_features: int, n_bins: int, step: str,
    *, cache_bytes: int = DEFAULT_CACHE_BYTES, leaf_bytes: int = DEFAULT_LEAF_BYTES,
) -> ActiveSelector:
    """The label holder's side of the one-time setup (runs with `setup_passive` at `peer`)."""

    async def work() -> ActiveSelector:
        _check_dims(n_rows, n_features, n_bins)
        await _hello(transport, peer, step, {"version": VERSION, "n_rows": n_rows,
                                             "n_features": n_features, "n_bins": n_bins})
        choices = np.frombuffer(ggm.random_seeds(1).tobytes(), dtype=np.uint8)
        bits = np.unpackbits(choices, bitorder="little")
        receiver = OtReceiver([int(c) for c in bits])
        a_point = await transport.recv(peer, f"{step}/base-ot", "A")
        points = await asyncio.to_thread(receiver.reply, a_point)
        await transport.send(peer, f"{step}/base-ot", "B", b"".join(points))
        ext = ggm.OtSenderExt(bits, await asyncio.to_thread(receiver.keys))
        depth = ggm.depth_for(n_bins)
        leaves = _leaf_store(n_rows, n_features, depth, leaf_bytes)
        roots = np.empty((n_rows if leaves is None else 0, n_features, 2), dtype=np.uint64)
        prg = ggm.Prg()
        first = 0
        for k, (r0, r1) in enumerate(_row_chunks(n_rows, n_features * depth, _SETUP_OTS)):
            count = (r1 - r0) * n_features
            u = await transport.recv_array(peer, f"{step}/ot", f"u{k}")
            if u.shape != (ggm.KAPPA, _padded(count * depth) // 8) or u.dtype != np.uint8:
                raise ProtocolError(f"{peer} sent an OT-extension chunk of the wrong shape")

            def corrections(u: np.ndarray = u, r0: int = r0, r1: int = r1, count: int = count,
                            first: int = first) -> np.ndarray:
                m0, m1 = ext.chunk(u, first)
                seeds = ggm.random_seeds(count)
                sums, tree = ggm.active_tree(prg, seeds, depth)  # (N, D, 2, 2), (L, N, 2)
                if leaves is not None:
                    leaves[:, r0 * n_features: r1 * n_features] = tree
                else:
                    roots[r0:r1] = seeds.reshape(r1 - r0, n_features, 2)
                sums[:, :, 0] ^= m0[: count * depth].reshape(count, depth, 2)
                sums[:, :, 1] ^= m1[: count * depth].reshape(count, depth, 2)
                return sums

            await transport.send_array(peer, f"{step}/ot", f"e{k}",
                                       await asyncio.to_thread(corrections))
            first += _padded(count * depth)
        return ActiveSelector(transport, peer, step, (n_rows, n_features), roots, n_bins,
                              cache_bytes, leaves)

    return await _guarded(transport, work)


def _check_bins(bins: np.ndarray, n_bins: int) -> np.ndarray:
    bins = np.asarray(bins)
    if bins.ndim != 2:
        raise ProtocolError(f"bins must be a (n_rows, n_features) array, got shape {bins.shape}")
    if not np.issubdtype(bins.dtype, np.integer):
        raise ProtocolError(f"bins must be integers (uint8), got {bins.dtype}")
    if bins.size and (bins.min() < 0 or bins.max() >= n_bins):
        bad = np.argwhere((bins < 0) | (bins >= n_bins))[0]
        raise InputValueError(
            f"bin {int(bins[bad[0], bad[1]])} of feature {int(bad[1])} is outside [0, {n_bins}); "
            "bin the feature with at most n_bins bins", row=int(bad[0]) + 1)
    return np.ascontiguousarray(bins, dtype=np.uint8)


async def setup_passive(
    transport: Transport, peer: str, bins: np.ndarray, n_bins: int, step: str,
    *, cache_bytes: int = DEFAULT_CACHE_BYTES, leaf_bytes: int = DEFAULT_LEAF_BYTES,
) -> PassiveSelector:
    """The feature holder's side of the one-time setup; `bins` `(n_rows, n_features)` uint8."""

    async def work() -> PassiveSelector:
        if not 2 <= n_bins <= MAX_BINS:
            _check_dims(0, 1, n_bins)
        own = _check_bins(bins, n_bins)
        n_rows, n_features = own.shape
        _check_dims(n_rows, n_features, n_bins)
        await _hello(transport, peer, step, {"version": VERSION, "n_rows": n_rows,
                                             "n_features": n_features, "n_bins": n_bins})
        sender = OtSender()
        await transport.send(peer, f"{step}/base-ot", "A", sender.a_point)
        raw = await transport.recv(peer, f"{step}/base-ot", "B")
        if len(raw) != ggm.KAPPA * POINT_BYTES:
            raise ProtocolError(f"{peer} sent {len(raw)} bytes of base-OT replies")
        points = [raw[i: i + POINT_BYTES] for i in range(0, len(raw), POINT_BYTES)]
        ext = ggm.OtReceiverExt(await asyncio.to_thread(sender.keys, points))
        depth = ggm.depth_for(n_bins)
        leaves = _leaf_store(n_rows, n_features, depth, leaf_bytes)
        copath = np.empty((n_rows if leaves is None else 0, n_features, depth, 2),
                          dtype=np.uint64)
        prg = ggm.Prg()
        chunks = _row_chunks(n_rows, n_features * depth, _SETUP_OTS)
        pending: list[tuple[int, int, int, np.ndarray]] = []
        first = 0

        async def finish(k: int, r0: int, r1: int, chosen: np.ndarray) -> None:
            count = (r1 - r0) * n_features
            e = await transport.recv_array(peer, f"{step}/ot", f"e{k}")
            if e.shape != (count, depth, 2, 2) or e.dtype != np.uint64:
                raise ProtocolError(f"{peer} sent a GGM correction chunk of the wrong shape")

            def rebuild() -> None:
                b = own[r0:r1].reshape(-1)
                side = ggm.passive_choices(b, depth).astype(np.int64)
                got = np.take_along_axis(e, side[:, :, None, None], axis=2)[:, :, 0]
                got ^= chosen[: count * depth].reshape(count, depth, 2)
                seeds = ggm.passive_copath(prg, got, b, depth)
                if leaves is not None:
                    leaves[:, r0 * n_features: r1 * n_features] = ggm.passive_leaves(
                        prg, seeds, b, depth)
                else:
                    copath[r0:r1] = seeds.reshape(r1 - r0, n_features, depth, 2)

            await asyncio.to_thread(rebuild)

        for k, (r0, r1) in enumerate(chunks):
            count = (r1 - r0) * n_features

            def extend(r0: int = r0, r1: int = r1, count: int = count,
                       first: int = first) -> tuple[np.ndarray, np.ndarray]:
                choice = np.zeros(_padded(count * depth), dtype=np.uint8)
                choice[: count * depth] = ggm.passive_choices(own[r0:r1].reshape(-1), depth).ravel()
                return ext.chunk(choice, first)

            u, chosen = await asyncio.to_thread(extend)
            await transport.send_array(peer, f"{step}/ot", f"u{k}", u)
            first += _padded(count * depth)
            pending.append((k, r0, r1, chosen))
            if len(pending) > 1:  # one chunk in flight: the peer works while we compute
                await finish(*pending.pop(0))
        while pending:
            await finish(*pending.pop(0))
        return PassiveSelector(transport, peer, step, copath, own, n_bins, cache_bytes, leaves)

    return await _guarded(transport, work)


class _Selector:
    """What both sides share: per-tree bookkeeping, the caches of share vectors, node sums.

    Trees come in pairs (2q, 2q+1) sharing one tweak per leaf: when every row's share vectors
    fit the budget twice, the even tree's pass also keeps the odd tree's masks (`_next`), so the
    odd tree needs no AES at all."""

    _negated = False  # the active party's cache holds r, its share is -r

    def __init__(self, transport: Transport, peer: str, step: str, n_rows: int,
                 n_features: int, n_bins: int, cache_bytes: int) -> None:
        self._transport = transport
        self._peer = peer
        self._step = step
        self.n_rows = n_rows
        self.n_features = n_features
        self.n_bins = n_bins
        self.depth = ggm.depth_for(n_bins)
        self._cache_bytes = cache_bytes
        self._cache = np.empty((0, n_features, n_bins, 1), dtype=np.uint64)
        self._next = np.empty((0, n_features, n_bins, 1), dtype=np.uint64)
        self._next_for: tuple[int, int] | None = None
        self._used: set[int] = set()
        self._all_rows = np.zeros((n_features, n_bins, 1), dtype=np.uint64)
        self._generation = 0
        self._prg = ggm.Prg()
        K.warm_up()

    def _start_tree(self, tree: int, m: int) -> tuple[int, int, bool, bool]:
        """(generation, cached rows, whether the tree's masks of the cached rows are stored,
        whether to store the pair's odd tree's masks: only when the share vectors of every row
        fit the budget twice; otherwise the whole budget caches this tree's shares of twice the
        rows, which saves more AES in node sums than keeping the odd tree's masks would)."""
        if (isinstance(tree, bool) or not isinstance(tree, int | np.integer)
                or not 0 <= tree < 2**63):
            raise ProtocolError(f"tree must be an integer in [0, 2^63), got {tree!r}")
        if tree in self._used:
            raise ProtocolError(f"tree {tree} was already shared: each tree number is used once "
                                "(the same masks twice would reveal differences of values)")
        if m < 1:
            raise ProtocolError(f"need at least one value per row, got m = {m}")
        self._used.add(int(tree))
        self._generation += 1
        self._all_rows = np.zeros((self.n_features, self.n_bins, m), dtype=np.uint64)
        per_row = self.n_features * self.n_bins * m * 8
        pairs = 2 * per_row * self.n_rows <= self._cache_bytes
        n_cache = _cached_rows(self.n_rows, per_row * (2 if pairs else 1), self._cache_bytes)
        shape = (n_cache, self.n_features, self.n_bins, m)
        next_shape = shape if pairs else (0, *shape[1:])
        stored = pairs and self._next_for == (int(tree), m) and self._next.shape == shape
        self._next_for = None  # set again once an even tree has filled `_next`
        if stored:
            self._cache, self._next = self._next, self._cache
        elif self._cache.shape != shape or self._next.shape != next_shape:
            self._cache = self._next = np.empty(0, dtype=np.uint64)
            self._cache = np.empty(shape, dtype=np.uint64)
            self._next = np.empty(next_shape, dtype=np.uint64)
        return self._generation, n_cache, stored, pairs and not int(tree) & 1

    def _finish_tree(self, tree: int, m: int, stored_next: bool) -> None:
        if stored_next:
            self._next_for = (int(tree) + 1, m)

    def _block_rows(self, m: int) -> int:
        leaf_bytes = self.n_features * (1 << self.depth) * m * 16
        return max(1, _BLOCK_BYTES // leaf_bytes)

    def _chunks(self, m: int) -> list[tuple[int, int]]:
        """Row ranges sent as one message: a whole number of compute blocks."""
        block = self._block_rows(m)
        step = block * max(1, _SEND_BYTES // (self.n_features * m * 8 * block))
        return [(r0, min(r0 + step, self.n_rows)) for r0 in range(0, self.n_rows, step)]

    def _blocks(self, r0: int, r1: int, m: int) -> list[tuple[int, int]]:
        block = self._block_rows(m)
        return [(b0, min(b0 + block, r1)) for b0 in range(r0, r1, block)]

    def _pair_masks(self, leaves: np.ndarray, tree: int, m: int) -> np.ndarray:
        """Tweaked leaves `(L, N, 2m)` of tree `tree`'s pair: words [0, m) are the even tree's
        masks, [m, 2m) the odd tree's."""
        return self._prg.tweak(leaves, int(tree) >> 1, m)

    def _recomputed_sum(self, rows: np.ndarray, tree: int, m: int) -> np.ndarray:
        raise NotImplementedError

    def node_sums(self, generation: int, tree: int, m: int, rows: np.ndarray) -> np.ndarray:
        if generation != self._generation:
            raise ProtocolError(f"the shares of tree {tree} were replaced by a later tree's; "
                                "sum a tree's nodes before sharing the next tree")
        rows = np.asarray(rows)
        if rows.ndim != 1 or not (np.issubdtype(rows.dtype, np.integer) or rows.size == 0):
            raise ProtocolError(f"rows must be a 1-D array of row indices, got {rows.dtype} "
                                f"of shape {rows.shape}")
        rows = rows.astype(np.int64, copy=False)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_rows):
            raise ProtocolError(f"row indices must lie in [0, {self.n_rows}); got "
                                f"{int(rows.min())} .. {int(rows.max())}")
        if rows.size == self.n_rows > 0 and _is_all(rows):  # the root: summed while sharing
            return self._all_rows.copy()
        out = np.zeros((self.n_features, self.n_bins, m), dtype=np.uint64)
        n_cache = self._cache.shape[0]
        cached = rows[rows < n_cache] if n_cache < self.n_rows else rows
        if cached.size:
            K.gather_sum(self._cache.reshape(n_cache, -1), np.ascontiguousarray(cached),
                         out.reshape(-1))
            if self._negated:
                np.negative(out, out=out)
        if n_cache < self.n_rows:
            rest = rows[rows >= n_cache]
            step = self._block_rows(m)
            for s in range(0, rest.size, step):
                out += self._recomputed_sum(rest[s: s + step], tree, m)
        return out


class ActiveSelector(_Selector):
    """The label holder's handle after setup: `share_tree` once per tree."""

    _negated = True

    def __init__(self, transport: Transport, peer: str, step: str, dims: tuple[int, int],
                 roots: np.ndarray, n_bins: int, cache_bytes: int,
                 leaves: np.ndarray | None = None) -> None:
        """`dims`: (rows, features); `roots` `(rows, F, 2)`, or empty when `leaves` are kept."""
        super().__init__(transport, peer, step, dims[0], dims[1], n_bins, cache_bytes)
        self._roots = roots
        self._leaves = leaves

    def _tree_leaves(self, rows: np.ndarray | slice) -> np.ndarray:
        """Untweaked leaves `(L, N, 2)` of some rows: kept, or expanded from the roots."""
        if self._leaves is not None:
            return _kept(self._leaves, rows, self.n_features)
        return self._prg.expand(self._roots[rows].reshape(-1, 2), self.depth)

    def _recomputed_sum(self, rows: np.ndarray, tree: int, m: int) -> np.ndarray:
        """Sum of a = -r over rows beyond the cache, `(F, n_bins, m)`."""
        out = np.zeros((self.n_features, self.n_bins, m), dtype=np.uint64)
        tw = self._pair_masks(self._tree_leaves(rows), tree, m)
        c = np.empty((tw.shape[1], m), dtype=np.uint64)
        none = self._cache[:0]
        K.active_block(tw, np.zeros((rows.size, m), dtype=np.uint64), self.n_features,
                       self.n_bins, m, (int(tree) & 1) * m, 0, c, out, none, none, False)
        return out

    async def share_tree(self, tree: int, values: np.ndarray) -> ActiveTreeShares:
        """Send tree `tree`'s masked `values` `(n_rows, m)` uint64; returns this side's shares."""

        async def work() -> ActiveTreeShares:
            v = np.asarray(values)
            if v.ndim != 2 or v.shape[0] != self.n_rows or v.dtype != np.uint64:
                raise ProtocolError(f"values must be a ({self.n_rows}, m) uint64 array of ring "
                                    f"elements, got {v.dtype} of shape {v.shape}")
            v = np.ascontiguousarray(v)
            m = v.shape[1]
            generation, n_cache, stored, store_next = self._start_tree(tree, m)
            use, other = (int(tree) & 1) * m, (1 - (int(tree) & 1)) * m
            step = f"{self._step}/tree{int(tree)}"
            await self._transport.send(self._peer, step, "head",
                                       json.dumps({"tree": int(tree), "m": m}).encode())
            f, nb = self.n_features, self.n_bins
            for k, (r0, r1) in enumerate(self._chunks(m)):

                def masked(r0: int = r0, r1: int = r1) -> np.ndarray:
                    c = np.empty((r1 - r0, f, m), dtype=np.uint64)
                    start = r0
                    if stored and r0 < n_cache:
                        start = min(r1, n_cache)
                        K.active_stored(self._cache[r0:start], v[r0:start], c[: start - r0],
                                        self._all_rows)
                    for b0, b1 in self._blocks(start, r1, m):
                        tw = self._pair_masks(self._tree_leaves(slice(b0, b1)), int(tree), m)
                        end = max(b0, min(b1, n_cache))
                        K.active_block(tw, v[b0:b1], f, nb, m, use, other,
                                       c[b0 - r0: b1 - r0].reshape(-1, m), self._all_rows,
                                       self._cache[b0:end], self._next[b0:end], store_next)
                    return c

                await self._transport.send_array(self._peer, step, f"c{k}",
                                                 await asyncio.to_thread(masked))
            self._finish_tree(int(tree), m, store_next)
            return ActiveTreeShares(self, generation, int(tree), m)

        return await _guarded(self._transport, work)


class PassiveSelector(_Selector):
    """The feature holder's handle after setup: `share_tree` once per tree."""

    def __init__(self, transport: Transport, peer: str, step: str, copath: np.ndarray,
                 bins: np.ndarray, n_bins: int, cache_bytes: int,
                 leaves: np.ndarray | None = None) -> None:
        super().__init__(transport, peer, step, bins.shape[0], bins.shape[1], n_bins,
                         cache_bytes)
        self._copath = copath
        self._leaves = leaves
        self._bins = bins
        self._slot = np.empty((0, self.n_features, 1), dtype=np.uint64)

    def _tree_leaves(self, rows: np.ndarray | slice) -> np.ndarray:
        """Every untweaked leaf but each item's own bin's `(L, N, 2)` (that slot: garbage)."""
        if self._leaves is not None:
            return _kept(self._leaves, rows, self.n_features)
        return ggm.passive_leaves(self._prg, self._copath[rows].reshape(-1, self.depth, 2),
                                  self._bins[rows].reshape(-1), self.depth)

    def _recomputed_sum(self, rows: np.ndarray, tree: int, m: int) -> np.ndarray:
        """Sum of p (r with v + r_b, kept while sharing, at bin b) over rows beyond the cache,
        `(F, n_bins, m)`."""
        out = np.zeros((self.n_features, self.n_bins, m), dtype=np.uint64)
        d = np.ascontiguousarray(self._slot[rows - self._cache.shape[0]].reshape(-1, m))
        tw = self._pair_masks(self._tree_leaves(rows), tree, m)
        K.passive_sum(tw, np.ascontiguousarray(self._bins[rows].reshape(-1)), d,
                      self.n_features, self.n_bins, m, (int(tree) & 1) * m, out)
        return out

    async def share_tree(self, tree: int, m: int) -> PassiveTreeShares:
        """Receive tree `tree`'s masked values (m per row) and form this side's shares."""

        async def work() -> PassiveTreeShares:
            generation, n_cache, stored, store_next = self._start_tree(tree, m)
            use, other = (int(tree) & 1) * m, (1 - (int(tree) & 1)) * m
            step = f"{self._step}/tree{int(tree)}"
            try:
                head = json.loads(await self._transport.recv(self._peer, step, "head"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise ProtocolError(f"{self._peer} sent a malformed tree header") from exc
            if head != {"tree": int(tree), "m": m}:
                raise ProtocolError(f"{self._peer} shares {head}, this party expects tree "
                                    f"{int(tree)} with m = {m}; both must grow the same tree")
            self._slot = np.empty((self.n_rows - n_cache, self.n_features, m), dtype=np.uint64)
            f, nb = self.n_features, self.n_bins
            for k, (r0, r1) in enumerate(self._chunks(m)):
                c = await self._transport.recv_array(self._peer, step, f"c{k}")
                if c.shape != (r1 - r0, f, m) or c.dtype != np.uint64:
                    raise ProtocolError(f"{self._peer} sent masked values of the wrong shape")
                c = np.ascontiguousarray(c)

                def absorb(c: np.ndarray = c, r0: int = r0,
                           r1: int = r1) -> None:
                    start = r0
                    if stored and r0 < n_cache:
                        start = min(r1, n_cache)
                        K.passive_stored(self._cache[r0:start], self._bins[r0:start],
                                         c[: start - r0], self._all_rows)
                    for b0, b1 in self._blocks(start, r1, m):
                        tw = self._pair_masks(self._tree_leaves(slice(b0, b1)), int(tree), m)
                        end = max(b0, min(b1, n_cache))
                        d = np.empty(((b1 - b0) * f, m), dtype=np.uint64)
                        K.passive_block(tw, self._bins[b0:b1].reshape(-1),
                                        c[b0 - r0: b1 - r0].reshape(-1, m), f, nb, m, use,
                                        other, d, self._all_rows, self._cache[b0:end],
                                        self._next[b0:end], store_next)
                        if b1 > n_cache:
                            self._slot[end - n_cache: b1 - n_cache] = d.reshape(
                                b1 - b0, f, m)[end - b0:]

                await asyncio.to_thread(absorb)
            self._finish_tree(int(tree), m, store_next)
            return PassiveTreeShares(self, generation, int(tree), m)

        return await _guarded(self._transport, work)


def _kept(leaves: np.ndarray, rows: np.ndarray | slice, n_features: int) -> np.ndarray:
    """The kept leaves `(L, N, 2)` of some rows: a view for a slice, a gather for indices."""
    if isinstance(rows, slice):
        return leaves[:, rows.start * n_features: rows.stop * n_features]
    items = (rows[:, None] * n_features + np.arange(n_features)).reshape(-1)
    return leaves[:, items]


def _is_all(rows: np.ndarray) -> bool:
    """Whether `rows` (as many as the table has) is 0, 1, ..., n-1 in order."""
    return bool(rows[0] == 0 and np.all(rows[1:] == rows[:-1] + 1))


class _TreeShares:
    def __init__(self, selector: _Selector, generation: int, tree: int, m: int) -> None:
        self._selector = selector
        self._generation = generation
        self.tree = tree
        self.m = m

    def node_sums(self, rows: np.ndarray) -> np.ndarray:
        """This party's share `(n_features, n_bins, m)` uint64 of the node's per-bin sums."""
        return self._selector.node_sums(self._generation, self.tree, self.m, rows)


class ActiveTreeShares(_TreeShares):
    """The active party's shares of one tree: `node_sums(rows)` for any node."""


class PassiveTreeShares(_TreeShares):
    """The passive party's shares of one tree: `node_sums(rows)` for any node."""

"""The bulk PSI engine: KKRT16 OPRF + cuckoo hashing, two parties streaming over a Transport.

Roles. The OPRF receiver R is the party owed the intersection (if both or neither are, the one
with the smaller set, then the first name); the other is the sender S.

Protocol (step "psi.kkrt"; semi-honest model; AES as an ideal permutation, CDH for the base OTs):
1. R sends the bin count (1.27 n_R) and the first base-OT message; S answers with a fresh cuckoo
   hash key, then its base-OT reply (choice bits s = its OT-extension secret) and a fresh code key.
   R cuckoo-hashes its digests (retrying with the next derived key in the negligible case of a
   stash over 5) and sends S the stash size; S computes its ids' bins meanwhile.
2. R streams U = T ^ G(k^1) ^ C(inputs) in chunks of 32 768 bins (w = 448 or 512 columns, see
   kkrt.code_width); S turns each chunk into its rows of Q (kkrt.py) as it arrives, so the two
   overlap. R then replays T from its seeds chunk by chunk and hashes it into its own outputs.
3. S puts its digests in a secret random order and evaluates, in batches of 65 536 ids, the OPRF at
   each id's three bins (and at every stash slot), and streams the outputs, truncated (below).
4. R finds S's outputs among its own (lookup.py). It learns the intersection (the ids in matched
   bins). If S is owed the intersection R returns the matched positions in S's stream (S maps them
   to its ids); if S is owed the cardinality, R returns the count.

What each side learns. R: n_S (the stream length), the intersection (by construction of the OPRF,
S's outputs for ids not in R's set are pseudo-random) — and if only the cardinality is owed to R,
it still computes the intersection internally but this engine hands back only the count; S: n_R
(the bin count), the stash size (0 except with negligible probability), and the output the job
names for it. A party owed nothing gets nothing. The positions R returns to an intersection-owed S
reveal nothing beyond the intersection because S's order is a secret random permutation.

False positives. R compares up to (3 + stash) * n_S outputs against n_R of its own. Outputs are
compared on 63 bits of prefix (the low bit is forced to 1 so 0 can mark empty slots) plus a 16-, 32-
or 64-bit suffix, chosen so that 63 + suffix >= 40 + log2((3 + stash) * n_S * n_R): the
probability of any false match is <= 2^-40. Example: 1e7 x 1e7, no stash: 88.1 bits needed, 95 used.

Memory: messages are bounded (one U chunk of ~1.8 MB, one batch of outputs) and kernels work in
cache-sized blocks. What stays is packed arrays: R keeps its digests (16 B per id), the cuckoo
table (~7 B per bin) and its outputs in a lookup table (~28 B per id); S keeps its digests, its
ids' bins (12 B per id) and Q (64 B per receiver bin, i.e. ~81 B per receiver id: 0.8 GB at 1e7,
8 GB at 1e8). Larger sets run as padded digest-prefix partitions, one engine run each, one after
another (partition.py), which bounds this state by the partition size. Every hot path runs on
whole arrays (no per-id Python loop).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import secrets
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from node.errors import ProtocolError
from node.mpc.psi import cuckoo
from node.mpc.psi.base_ot import POINT_BYTES, OtReceiver, OtSender
from node.mpc.psi.kkrt import (
    MAX_QUERIES_PER_ID,
    STASH_TWEAK,
    OprfReceiver,
    OprfSender,
    PseudoRandomCode,
    code_width,
)
from node.mpc.psi.lookup import ValueTable
from node.mpc.psi.roles import PsiOutcome, PsiRoles
from node.mpc.psi.trace import Phases
from node.mpc.transport import Transport

STEP = "psi.kkrt"
CHUNK_BINS = 1 << 15  # bins per U message (~1.8 MB): cache-friendly kernels, measured
BATCH = 1 << 16  # sender ids per message
EVAL_BLOCK = 1 << 13  # sender ids per evaluation step: its arrays stay in cache (2x faster)
SIGMA = 40
MAX_STASH = MAX_QUERIES_PER_ID - cuckoo.HASHES
CUCKOO_TRIES = 3
T = TypeVar("T")


def attempt_key(seed: bytes, attempt: int) -> bytes:
    """The cuckoo hash key of one insertion attempt, derived from the sender's seed key."""
    return hashlib.sha256(b"alliance-psi-cuckoo" + seed + bytes([attempt])).digest()[:16]


def receiver_is_me(roles: PsiRoles) -> bool:
    """Both parties reach the same answer from the same facts."""
    if roles.gets_intersection != roles.peer_gets_intersection:
        return roles.gets_intersection
    if roles.n_mine != roles.n_peer:
        return roles.n_mine < roles.n_peer
    return roles.me < roles.peer


def suffix_dtype(n_receiver: int, n_sender: int, stash: int, sigma: float = SIGMA) -> np.dtype:
    """Suffix width so that 63 + its bits >= sigma + log2(comparisons)."""
    comparisons = (cuckoo.HASHES + stash) * max(n_sender, 1) * max(n_receiver, 1)
    need = sigma + math.log2(comparisons) - 63
    for dtype in (np.uint16, np.uint32, np.uint64):
        if need <= np.dtype(dtype).itemsize * 8:
            return np.dtype(dtype)
    raise ProtocolError(f"sets of {n_receiver} x {n_sender} ids exceed this engine's 127-bit "
                        "comparison budget; split the job")


def total_bins(nbins: int, stash: int) -> int:
    return -(-(nbins + stash) // 64) * 64


def chunk_bounds(total: int) -> list[tuple[int, int]]:
    return [(s, min(s + CHUNK_BINS, total)) for s in range(0, total, CHUNK_BINS)]


def _split(values: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    prefix = values[:, 0] | np.uint64(1)
    suffix = values[:, 1].astype(dtype)
    return prefix, suffix


async def _thread(fn: Callable[..., T], *args: object) -> T:
    return await asyncio.to_thread(fn, *args)


async def run_kkrt(transport: Transport, roles: PsiRoles, digests: np.ndarray) -> PsiOutcome:
    """This party's side of the bulk engine over its unique digests ((n, 2) uint64)."""
    return await run_kkrt_as(receiver_is_me(roles), transport, roles, digests)


async def run_kkrt_as(receiver: bool, transport: Transport, roles: PsiRoles, digests: np.ndarray,
                      step: str = STEP, sigma: float = SIGMA,
                      code_queries: int | None = None) -> PsiOutcome:
    """One run in a given role, on messages of `step`, with false-positive budget 2^-sigma and
    the code width sized for `code_queries` sender ids in all (default: this run's sender ids) —
    partition.py runs one per partition."""
    cls = _Receiver if receiver else _Sender
    party = cls(transport, roles, digests)
    party.step, party.sigma = step, sigma
    n_sender = roles.n_peer if receiver else roles.n_mine
    party.width = code_width(code_queries if code_queries is not None else n_sender)
    return await party.run()


async def _expect_json(transport: Transport, peer: str, tag: str,
                       step: str = STEP) -> dict[str, object]:
    raw = await transport.recv(peer, step, tag)
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ProtocolError(f"{peer} sent malformed {tag!r}: {exc}") from exc
    if not isinstance(value, dict):
        raise ProtocolError(f"{peer} sent malformed {tag!r}")
    return value


class _Receiver:
    def __init__(self, transport: Transport, roles: PsiRoles, digests: np.ndarray) -> None:
        self.t = transport
        self.roles = roles
        self.peer = roles.peer
        self.digests = digests
        self.n = digests.shape[0]
        self.n_sender = roles.n_peer
        self.step, self.sigma, self.width = STEP, float(SIGMA), code_width(self.n_sender)

    async def run(self) -> PsiOutcome:
        t, peer = self.t, self.peer
        nbins = cuckoo.bin_count(self.n)
        ot = OtSender()
        await t.send(peer, self.step, "setup", json.dumps({"nbins": nbins}).encode())
        await t.send(peer, self.step, "ot.a", ot.a_point)
        seed_key = await t.recv(peer, self.step, "hash-key")
        if len(seed_key) != 16:
            raise ProtocolError(f"{peer} sent a cuckoo hash key of {len(seed_key)} bytes")

        def place() -> tuple[int, cuckoo.CuckooTable]:
            """Cuckoo insertion; a stash over MAX_STASH (negligible probability) retries with the
            next derived key, which reveals only that a retry happened."""
            for attempt in range(CUCKOO_TRIES):
                key = attempt_key(seed_key, attempt)
                bins = cuckoo.bin_indices(self.digests, key, nbins)
                table = cuckoo.insert(bins, nbins, seed=secrets.randbits(64))
                if table.stash.size <= MAX_STASH:
                    return attempt, table
            raise ProtocolError(f"cuckoo hashing left {table.stash.size} ids in the stash "
                                f"{CUCKOO_TRIES} times; re-run the job")

        phases = Phases("kkrt receiver")
        attempt, table = await _thread(place)
        phases.mark("cuckoo")
        stash = int(table.stash.size)
        await t.send(peer, self.step, "stash",
                     json.dumps({"stash": stash, "attempt": attempt}).encode())
        reply = await t.recv(peer, self.step, "ot.b")
        width = self.width
        if len(reply) != width * POINT_BYTES + 16:
            raise ProtocolError(f"{peer} sent a base-OT reply of {len(reply)} bytes")
        b_points = [reply[i : i + POINT_BYTES] for i in range(0, width * POINT_BYTES, POINT_BYTES)]
        pairs = await _thread(ot.keys, b_points)
        oprf = OprfReceiver(pairs, PseudoRandomCode(reply[-16:], width))
        phases.mark("base-ot")

        total = total_bins(nbins, stash)
        item_of_bin = np.full(total, -1, dtype=np.int32 if self.n < 2**31 else np.int64)
        item_of_bin[:nbins] = table.table
        item_of_bin[nbins : nbins + stash] = table.stash
        tweak_of_bin = np.zeros(total, dtype=np.int8)
        placed = item_of_bin[:nbins] >= 0
        tweak_of_bin[:nbins][placed] = table.choice[table.table[placed]]
        tweak_of_bin[nbins : nbins + stash] = STASH_TWEAK
        del table
        sdtype = suffix_dtype(self.n, self.n_sender, stash, self.sigma)
        rng = np.random.default_rng(secrets.randbits(128))

        def chunk(c0: int, c1: int) -> np.ndarray:
            items = item_of_bin[c0:c1]
            d = self.digests[np.maximum(items, 0)] if self.n else np.zeros((c1 - c0, 2), np.uint64)
            empty = items < 0
            d[empty] = rng.integers(0, 2**64, (int(empty.sum()), 2), dtype=np.uint64,
                                    endpoint=False)
            return oprf.u_chunk(d, tweak_of_bin[c0:c1])

        sending: asyncio.Task[None] | None = None
        for k, (c0, c1) in enumerate(chunk_bounds(total)):
            u = await _thread(chunk, c0, c1)
            if sending is not None:
                await sending
            sending = asyncio.ensure_future(t.send_array(peer, self.step, f"u.{k}", u))
        if sending is not None:
            await sending
        phases.mark("u-stream")

        def own_outputs() -> ValueTable:
            """R's OPRF outputs at its occupied bins, into the lookup table."""
            prefix = np.empty(occupied.size, dtype=np.uint64)
            suffix = np.empty(occupied.size, dtype=sdtype)
            bounds = np.searchsorted(occupied, [c0 for c0, _ in chunk_bounds(total)] + [total])
            for k, (c0, c1) in enumerate(chunk_bounds(total)):
                k0, k1 = int(bounds[k]), int(bounds[k + 1])
                p, s = _split(oprf.outputs(c0, c1 - c0), sdtype)
                local = occupied[k0:k1] - c0
                prefix[k0:k1], suffix[k0:k1] = p[local], s[local]
            return ValueTable(prefix, suffix)

        occupied = np.flatnonzero(item_of_bin >= 0)
        lookup = await _thread(own_outputs)
        phases.mark("own-outputs+table")

        per_item = cuckoo.HASHES + stash
        hits_pos: list[np.ndarray] = []
        hits_entry: list[np.ndarray] = []
        for b, (s0, s1) in enumerate(_batches(self.n_sender)):
            p = await t.recv_array(peer, self.step, f"vp.{b}")
            s = await t.recv_array(peer, self.step, f"vs.{b}")
            if p.shape != ((s1 - s0) * per_item,) or s.shape != p.shape or s.dtype != sdtype:
                raise ProtocolError(f"{peer} sent a batch of shape {p.shape}/{s.shape}, expected "
                                    f"{((s1 - s0) * per_item,)} of {sdtype}")
            q, e = await _thread(lookup.find, p, s)
            hits_pos.append(q + s0 * per_item)
            hits_entry.append(e)
        phases.mark("match-stream")
        entries = np.concatenate(hits_entry) if hits_entry else np.zeros(0, np.int64)
        positions = np.concatenate(hits_pos) if hits_pos else np.zeros(0, np.int64)
        matched = np.sort(item_of_bin[occupied[entries]])
        count = int(matched.size)
        if self.roles.peer_gets_intersection:
            await t.send_array(peer, self.step, "hits", np.sort(positions).astype(np.int64))
        elif self.roles.peer_gets_cardinality:
            await t.send(peer, self.step, "count", json.dumps({"count": count}).encode())
        phases.mark("finish")
        phases.report()
        return PsiOutcome(
            matched=matched if self.roles.gets_intersection else None,
            cardinality=count if (self.roles.gets_intersection or self.roles.gets_cardinality)
            else None,
        )


def _batches(n: int) -> list[tuple[int, int]]:
    return [(s, min(s + BATCH, n)) for s in range(0, n, BATCH)]


class _Sender:
    def __init__(self, transport: Transport, roles: PsiRoles, digests: np.ndarray) -> None:
        self.t = transport
        self.roles = roles
        self.peer = roles.peer
        self.digests = digests
        self.n = digests.shape[0]
        self.n_receiver = roles.n_peer
        self.step, self.sigma, self.width = STEP, float(SIGMA), code_width(self.n)

    async def run(self) -> PsiOutcome:
        t, peer = self.t, self.peer
        phases = Phases("kkrt sender")
        setup = await _expect_json(t, peer, "setup", self.step)
        try:
            nbins = int(setup["nbins"])  # type: ignore[call-overload]
        except (KeyError, ValueError) as exc:
            raise ProtocolError(f"{peer} sent a malformed setup ({exc})") from exc
        if nbins != cuckoo.bin_count(self.n_receiver):
            raise ProtocolError(f"{peer} sized its table for {nbins} bins, expected "
                                f"{cuckoo.bin_count(self.n_receiver)}")
        seed_key = secrets.token_bytes(16)
        await t.send(peer, self.step, "hash-key", seed_key)
        width = self.width
        choices = np.frombuffer(secrets.token_bytes(width), dtype=np.uint8) & 1
        ot = OtReceiver(choices.tolist())
        a_point = await t.recv(peer, self.step, "ot.a")
        b_points = await _thread(ot.reply, a_point)
        code_key = secrets.token_bytes(16)
        await t.send(peer, self.step, "ot.b", b"".join(b_points) + code_key)
        seeds = await _thread(ot.keys)
        order = np.random.default_rng(secrets.randbits(128)).permutation(self.n)

        def all_bins(key: bytes) -> np.ndarray:
            """Candidate bins of every id, in the secret order (while R hashes its own)."""
            out = np.empty((cuckoo.HASHES, self.n),
                           dtype=np.int32 if nbins < 2**31 else np.int64)
            for s0 in range(0, self.n, BATCH):
                part = self.digests[order[s0 : s0 + BATCH]]
                out[:, s0 : s0 + BATCH] = cuckoo.bin_indices(part, key, nbins)
            return out

        bins_all = await _thread(all_bins, attempt_key(seed_key, 0))
        placed = await _expect_json(t, peer, "stash", self.step)
        try:
            stash = int(placed["stash"])  # type: ignore[call-overload]
            attempt = int(placed["attempt"])  # type: ignore[call-overload]
        except (KeyError, ValueError) as exc:
            raise ProtocolError(f"{peer} sent a malformed stash message ({exc})") from exc
        if not 0 <= stash <= MAX_STASH or not 0 <= attempt < CUCKOO_TRIES:
            raise ProtocolError(f"{peer} announced a stash of {stash} (at most {MAX_STASH}) "
                                f"after attempt {attempt}")
        if attempt:
            bins_all = await _thread(all_bins, attempt_key(seed_key, attempt))
        total = total_bins(nbins, stash)
        sdtype = suffix_dtype(self.n_receiver, self.n, stash, self.sigma)
        oprf = OprfSender(choices, seeds, PseudoRandomCode(code_key, width), total)
        phases.mark("setup+base-ot+wait-cuckoo")

        pending = None
        for k, (c0, c1) in enumerate(chunk_bounds(total)):
            u = await t.recv_array(peer, self.step, f"u.{k}")
            if u.shape != (width, (c1 - c0) // 8) or u.dtype != np.uint8:
                raise ProtocolError(f"{peer} sent a U chunk of shape {u.shape}")
            if pending is not None:
                await pending
            pending = asyncio.ensure_future(_thread(oprf.absorb, u, c0))
        if pending is not None:
            await pending
        phases.mark("u-absorb")

        per_item = cuckoo.HASHES + stash

        def evaluate(s0: int, s1: int) -> tuple[np.ndarray, np.ndarray]:
            m = s1 - s0
            values = np.empty((per_item, m, 2), dtype=np.uint64)
            for e0 in range(0, m, EVAL_BLOCK):
                e1 = min(e0 + EVAL_BLOCK, m)
                d = self.digests[order[s0 + e0 : s0 + e1]]
                bins = bins_all[:, s0 + e0 : s0 + e1]
                masked = oprf.masked_base(d)
                for i in range(cuckoo.HASHES):
                    values[i, e0:e1] = oprf.evaluate_masked(masked, bins[i], i)
                for slot in range(stash):
                    stash_bin = np.full(e1 - e0, nbins + slot)
                    values[cuckoo.HASHES + slot, e0:e1] = oprf.evaluate_masked(
                        masked, stash_bin, STASH_TWEAK)
            return _split(values.reshape(per_item * m, 2), sdtype)

        sending: asyncio.Future[list[None]] | None = None
        for b, (s0, s1) in enumerate(_batches(self.n)):
            p, s = await _thread(evaluate, s0, s1)
            if sending is not None:
                await sending
            sending = asyncio.gather(t.send_array(peer, self.step, f"vp.{b}", p),
                                     t.send_array(peer, self.step, f"vs.{b}", s))
        if sending is not None:
            await sending
        phases.mark("evaluate-stream")
        phases.report()

        if self.roles.gets_intersection:
            positions = await t.recv_array(peer, self.step, "hits")
            if positions.size and (positions.min() < 0 or positions.max() >= self.n * per_item):
                raise ProtocolError(f"{peer} returned match positions outside the stream")
            starts = positions // (BATCH * per_item) * BATCH
            sizes = np.minimum(BATCH, self.n - starts)
            within = positions % (BATCH * per_item)
            matched = np.sort(order[starts + within % sizes])
            return PsiOutcome(matched=matched, cardinality=int(matched.size))
        if self.roles.gets_cardinality:
            count = int((await _expect_json(t, peer, "count", self.step))["count"])  # type: ignore[call-overload]
            return PsiOutcome(cardinality=count)
        return PsiOutcome()

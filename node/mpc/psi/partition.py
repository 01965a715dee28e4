"""Large sets in bounded memory: the bulk engine run on padded digest-prefix partitions, in turn.

The sender of the KKRT OPRF keeps 64 bytes per receiver bin (engine.py): 8 GB at 1e8 ids. Above
`SINGLE_MAX` ids (larger side), both parties split their unique digests into P partitions by the
digest's top bits (P a power of two <= 256, the smallest with n/P <= `PARTITION_MAX`; the same
for both sides since it depends only on the two public set sizes) and run one complete engine
instance per partition (fresh base OTs, keys and cuckoo table; messages on step "psi.kkrt.<p>"),
one after another, summing the cardinality and collecting the matched rows. Equal ids have equal
digests, so they fall in the same partition: the union of the partitions' intersections is the
intersection.

Padding. Partition sizes would tell the other side how a party's digests spread over prefixes. So
every partition of a party is padded to one public bound B(n, P) computed from its total size n
alone: mu + t with mu = n/P and t = L/3 + sqrt(L^2/9 + 2 mu L), L = ln(P * 2^40) (Bernstein's
inequality for a Binomial(n, 1/P) count, union over the P partitions): a party's partition exceeds
it with probability <= 2^-40 (digests are pseudo-random; ids chosen to crowd one prefix only get
their own owner's job refused: the party aborts with a clear error, which tells the other side
that one of its partitions overflowed). At 1e8 and P = 32: B = 3,138,973 for mu = 3,125,000
(0.45% padding). Dummies cannot match: a dummy of partition p has a prefix outside p's range (real
ids of p all have prefixes inside it), and the receiver's dummies have the low bit of the low word
0, the sender's 1, so a dummy never equals the other side's dummy either. Matches at dummy
positions are dropped (there are none unless the engine is broken).

What each side learns (semi-honest), beyond what engine.py states for one run: only P and the two
bounds, all functions of the public set sizes; every per-partition run has the same public sizes.
The receiver learns the intersection partition by partition (the same set as the unpartitioned
run), the sender what the job names for it.

False positives: each of the P runs compares outputs on a width chosen for 2^-(40 + log2 P)
(engine.suffix_dtype), and its code width for the sender's queries over all partitions
(P * B ids, kkrt.code_width): over the whole set the bound stays <= 2^-40.

Memory: one partition's engine state (about 140 B per padded id on the sender, less on the
receiver) plus what prepare.py holds for the whole set; the matched rows are kept in the spent
front of the source's row index (`keep`), so they take no memory of their own. See
bench/README.md for the figures.
"""

from __future__ import annotations

import asyncio
import math
import secrets

import numpy as np

from node.errors import ProtocolError
from node.mpc.psi.engine import SIGMA, STEP, receiver_is_me, run_kkrt_as
from node.mpc.psi.prepare import BUCKET_BITS, BUCKETS, PreparedIds, StreamedIds
from node.mpc.psi.roles import PsiOutcome, PsiRoles
from node.mpc.psi.trace import Phases
from node.mpc.transport import Transport

SINGLE_MAX = 15_000_000  # the larger set up to this many ids: one partition, no padding
PARTITION_MAX = 1 << 22  # ids per partition (before padding) at most, above SINGLE_MAX
_TOP = np.uint64(0xFFFFFFFFFFFFFFFF >> BUCKET_BITS)


def partition_count(n_a: int, n_b: int, single_max: int = SINGLE_MAX,
                    partition_max: int = PARTITION_MAX) -> int:
    """P for these two public set sizes (1, or a power of two up to 256)."""
    n = max(n_a, n_b)
    if n <= single_max:
        return 1
    parts = 2
    while n > parts * partition_max and parts < BUCKETS:
        parts *= 2
    return parts


def partition_bound(n: int, parts: int, sigma: float = SIGMA) -> int:
    """Padded size of each of a party's P partitions: exceeded with probability <= 2^-sigma."""
    if parts == 1:
        return n
    mu = n / parts
    ln = math.log(2) * (sigma + math.log2(parts))
    return min(n, math.ceil(mu + ln / 3 + math.sqrt(ln * ln / 9 + 2 * mu * ln)))


def bucket_range(p: int, parts: int) -> tuple[int, int]:
    return p * BUCKETS // parts, (p + 1) * BUCKETS // parts


def pad(digests: np.ndarray, bound: int, outside: int, low_bit: int) -> np.ndarray:
    """`digests` followed by bound - m dummies: prefix bucket `outside`, low bit `low_bit`."""
    m = digests.shape[0]
    out = np.empty((bound, 2), dtype=np.uint64)
    out[:m] = digests
    if bound > m:
        rng = np.random.default_rng(secrets.randbits(128))
        dummies = rng.integers(0, 2**64, (bound - m, 2), dtype=np.uint64, endpoint=False)
        dummies[:, 1] = (dummies[:, 1] & _TOP) | (np.uint64(outside) << np.uint64(64 - BUCKET_BITS))
        dummies[:, 0] = (dummies[:, 0] & ~np.uint64(1)) | np.uint64(low_bit)
        out[m:] = dummies
    return out


async def run_partitioned(transport: Transport, roles: PsiRoles,
                          source: PreparedIds | StreamedIds, parts: int) -> PsiOutcome:
    """This party's side of P padded engine runs; `matched` holds the source's rows."""
    receiver = receiver_is_me(roles)
    bound_mine = partition_bound(roles.n_mine, parts)
    bound_peer = partition_bound(roles.n_peer, parts)
    sigma = SIGMA + math.log2(parts)
    code_queries = parts * (bound_peer if receiver else bound_mine)
    per_run = PsiRoles(
        me=roles.me, peer=roles.peer, n_mine=bound_mine, n_peer=bound_peer,
        gets_intersection=roles.gets_intersection, gets_cardinality=roles.gets_cardinality,
        peer_gets_intersection=roles.peer_gets_intersection,
        peer_gets_cardinality=roles.peer_gets_cardinality,
    )
    phases = Phases(f"partitions {roles.me}")
    count: int | None = None
    def fetch(p: int) -> asyncio.Future[tuple[np.ndarray, np.ndarray]]:
        return asyncio.ensure_future(asyncio.to_thread(source.slice, *bucket_range(p, parts)))

    upcoming = fetch(0)
    try:
        for p in range(parts):
            b1 = bucket_range(p, parts)[1]
            digests, rows = await upcoming
            if p + 1 < parts:  # the next partition's digests are computed while this one runs
                upcoming = fetch(p + 1)
            m = int(digests.shape[0])
            if m > bound_mine:
                raise ProtocolError(
                    f"partition {p} holds {m} ids, over its public bound {bound_mine} "
                    "(probability <= 2^-40 for ordinary ids); the ids crowd one digest prefix — "
                    "check the column")
            padded = pad(digests, bound_mine, b1 % BUCKETS, 0 if receiver else 1)
            del digests
            step = STEP if parts == 1 else f"{STEP}.{p}"
            outcome = await run_kkrt_as(receiver, transport, per_run, padded, step=step,
                                        sigma=sigma, code_queries=code_queries)
            del padded
            if outcome.matched is not None:  # kept in the source's spent row index: at 1e8
                # a list of the matched rows would grow to 0.2 GB by the last partition
                source.keep(bucket_range(p, parts)[0], outcome.matched[outcome.matched < m])
            del rows
            if outcome.cardinality is not None:
                count = (count or 0) + outcome.cardinality
            phases.mark(f"p{p}")
    finally:
        upcoming.cancel()  # after an error: drop the prefetch
    phases.report()
    if roles.gets_intersection:
        rows_all = source.kept_rows()
        return PsiOutcome(matched=rows_all, cardinality=int(rows_all.size))
    return PsiOutcome(cardinality=count)

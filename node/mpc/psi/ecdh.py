"""ECDH-PSI over Curve25519: the reference engine, and the choice for small sets.

Group and library. Ids are hashed onto the prime-order subgroup of Curve25519 and blinded by
commutative scalar multiplication:
- hash to curve: libsodium's `crypto_core_ed25519_from_uniform` (Elligator 2, then the cofactor
  cleared, so the point is in the order-l subgroup; PyPI `pynacl`) on 32 bytes derived from the
  id's digest, then mapped to the Montgomery u-coordinate, u = (1 + y) / (1 - y) mod 2^255 - 19
  (batched inversion in Python integers, ~1 us per id);
- blinding: X25519 from `cryptography` (OpenSSL), u -> u(c * P) with the party's clamped scalar c.
  Why this is commutative and exact: X25519 is the x-only Montgomery ladder, which computes
  u(c * P) for any integer c; for P in the order-l subgroup, u(a * (b * P)) = u(ab * P) =
  u(b * (a * P)). The clamped scalar c = 8m with 2^251 <= m < 2^252 < l is never 0 mod l, so
  blinding is a bijection on the subgroup (no false matches from blinding). Results stay in the
  subgroup, never on the twist: hashing straight to a u-coordinate would land on the twist half
  the time and leak a bit of each id; Elligator 2 into the subgroup does not.
- why not `cryptography` alone: it has no point addition or Elligator, and a pure-Python square
  root costs ~90 us per id, three times the scalar multiplication.

Protocol (two parties A, B; semi-honest model; DDH in the subgroup, H a random oracle):
1. Each party hashes its unique ids, applies a secret random permutation, blinds with its key a
   (resp. b) and sends the singles a*H(x) (resp. b*H(y)) in chunks.
2. Each party re-blinds the other's singles: a*b*H(y). These doubles, truncated to L bytes, are
   its view of the other's set. It sends them back to the other party only if the other is owed an
   output: in received order if the other is owed the intersection (it can undo its own
   permutation and find its matching ids), sorted if it is owed the cardinality only (a set of
   pseudo-random strings, so only the number of matches can be read from it), not at all otherwise.
3. A party owed an output matches its own doubles against the doubles it computed (sort/merge).

What each side learns: the other's set size (sent openly), and exactly the output the job names
for it (intersection, or cardinality); a party named for neither learns only the other's size.
Nothing else under DDH: singles and doubles are pseudo-random group elements, the permutation
hides the order of ids. Not secure against a malicious party (it could send crafted points or
re-blind wrongly); the approval on the ledger and the receipts bound that risk, not the maths.

False positives: two different ids collide if their truncated doubles agree. L bytes with
8L >= 40 + log2(n_a) + log2(n_b) keeps the probability over all n_a * n_b pairs <= 2^-40
(L <= 32; hash collisions on the 128-bit digests and on the curve add < 2^-70).
"""

from __future__ import annotations

import asyncio
import math
import secrets
from collections.abc import Sequence

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from nacl.bindings import crypto_core_ed25519_from_uniform

from node.errors import ProtocolError
from node.mpc.psi.digest import curve_seeds
from node.mpc.psi.roles import PsiOutcome, PsiRoles
from node.mpc.psi.trace import Phases
from node.mpc.transport import Transport

STEP = "psi.ecdh"
CHUNK = 1 << 12
FIELD_P = 2**255 - 19
_MASK255 = (1 << 255) - 1


def double_length(n_a: int, n_b: int, sigma: int = 40) -> int:
    """Bytes of each double so that n_a * n_b comparisons collide with probability <= 2^-sigma."""
    bits = sigma + math.log2(max(n_a, 1)) + math.log2(max(n_b, 1))
    return min(32, max(8, math.ceil(bits / 8)))


def _batch_inverse(values: list[int]) -> list[int]:
    """Modular inverses mod p of non-zero field elements, with one exponentiation (Montgomery)."""
    prefix = []
    acc = 1
    for v in values:
        prefix.append(acc)
        acc = acc * v % FIELD_P
    inv = pow(acc, FIELD_P - 2, FIELD_P)
    out = [0] * len(values)
    for i in range(len(values) - 1, -1, -1):
        out[i] = inv * prefix[i] % FIELD_P
        inv = inv * values[i] % FIELD_P
    return out


def edwards_points(digests: np.ndarray) -> list[bytes]:
    """H(id) as encoded Edwards25519 points of the order-l subgroup (Elligator 2, libsodium)."""
    seeds = curve_seeds(digests).tobytes()
    return [crypto_core_ed25519_from_uniform(seeds[i : i + 32]) for i in range(0, len(seeds), 32)]


def hash_to_curve(digests: np.ndarray) -> list[bytes]:
    """Montgomery u-coordinates (32 bytes LE) of H(id), points of the order-l subgroup."""
    ys = [int.from_bytes(e, "little") & _MASK255 for e in edwards_points(digests)]
    denominators = [(1 - y) % FIELD_P for y in ys]
    if any(d == 0 for d in denominators):  # the neutral element: probability ~2^-250
        raise ProtocolError("an id hashed to the neutral point; re-run the job")
    inverses = _batch_inverse(denominators)
    return [
        ((1 + y) * inv % FIELD_P).to_bytes(32, "little")
        for y, inv in zip(ys, inverses, strict=True)
    ]


class Blinder:
    """One party's secret X25519 scalar; `blind` maps u(P) -> u(c*P) for a batch."""

    def __init__(self, scalar: bytes | None = None) -> None:
        self._key = X25519PrivateKey.from_private_bytes(scalar or secrets.token_bytes(32))

    def blind(self, points: Sequence[bytes]) -> np.ndarray:
        exchange = self._key.exchange
        public = X25519PublicKey.from_public_bytes
        try:
            joined = b"".join([exchange(public(u)) for u in points])
        except ValueError as exc:  # a small-order point: only a deviating peer sends one
            raise ProtocolError(f"peer sent a point outside the curve's subgroup: {exc}") from exc
        return np.frombuffer(joined, dtype=np.uint8).reshape(len(points), 32)

    def blind_rows(self, rows: np.ndarray) -> np.ndarray:
        data = np.ascontiguousarray(rows, dtype=np.uint8).tobytes()
        return self.blind([data[i : i + 32] for i in range(0, len(data), 32)])


def _rows_key(rows: np.ndarray) -> np.ndarray:
    """Fixed-width bytes view of (n, L) uint8 rows, sortable and comparable by numpy."""
    rows = np.ascontiguousarray(rows)
    return rows.view(f"S{rows.shape[1]}").reshape(-1) if rows.shape[0] else np.zeros(0, "S1")


def _chunks(n: int) -> list[tuple[int, int]]:
    return [(s, min(s + CHUNK, n)) for s in range(0, n, CHUNK)]


async def run_ecdh(transport: Transport, roles: PsiRoles, digests: np.ndarray) -> PsiOutcome:
    """This party's side of ECDH-PSI over its unique id digests; outcome as the job allows."""
    peer = roles.peer
    n_mine, n_peer = roles.n_mine, roles.n_peer
    length = double_length(n_mine, n_peer)
    blinder = Blinder()
    order = np.random.default_rng(secrets.randbits(128)).permutation(n_mine)

    async def send_singles() -> None:
        for k, (s, e) in enumerate(_chunks(n_mine)):
            part = digests[order[s:e]]
            singles = await asyncio.to_thread(lambda p=part: blinder.blind(hash_to_curve(p)))
            await transport.send_array(peer, STEP, f"single.{k}", singles)

    async def reblind_peer() -> np.ndarray:
        doubles = np.empty((n_peer, length), dtype=np.uint8)
        for k, (s, e) in enumerate(_chunks(n_peer)):
            singles = await transport.recv_array(peer, STEP, f"single.{k}")
            if singles.shape != (e - s, 32) or singles.dtype != np.uint8:
                raise ProtocolError(f"{peer} sent singles of shape {singles.shape}; expected "
                                    f"({e - s}, 32) uint8 — the parties disagree on set sizes")
            full = await asyncio.to_thread(blinder.blind_rows, singles)
            doubles[s:e] = full[:, :length]
            if roles.peer_gets_intersection:
                await transport.send_array(peer, STEP, f"double.{k}", doubles[s:e])
        if roles.peer_gets_cardinality and not roles.peer_gets_intersection:
            await transport.send_array(peer, STEP, "double.sorted", np.sort(_rows_key(doubles))
                                       .view(np.uint8).reshape(n_peer, length))
        return doubles

    phases = Phases(f"ecdh {roles.me}")
    sender = asyncio.ensure_future(send_singles())
    try:
        peer_doubles = await reblind_peer()
        await sender
    finally:
        if not sender.done():
            sender.cancel()
    phases.mark("singles+reblind")
    phases.report()
    if not (roles.gets_intersection or roles.gets_cardinality):
        return PsiOutcome()
    peer_keys = np.sort(_rows_key(peer_doubles))
    if roles.gets_intersection:
        mine = np.empty((n_mine, length), dtype=np.uint8)
        for k, (s, e) in enumerate(_chunks(n_mine)):
            mine[s:e] = await transport.recv_array(peer, STEP, f"double.{k}")
        keys = _rows_key(mine)
        pos = np.searchsorted(peer_keys, keys)
        pos[pos == peer_keys.size] = 0
        hit = peer_keys[pos] == keys if peer_keys.size else np.zeros(n_mine, dtype=bool)
        matched = np.sort(order[hit])
        return PsiOutcome(matched=matched, cardinality=int(matched.size))
    mine_sorted = await transport.recv_array(peer, STEP, "double.sorted")
    common = np.intersect1d(_rows_key(mine_sorted.reshape(n_mine, length)), peer_keys,
                            assume_unique=True)
    return PsiOutcome(cardinality=int(common.size))

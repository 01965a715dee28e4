"""The lookup's second round: the servers add up only the records that carry the applicant's tag.

After round 1 both servers hold y = D XOR rho at the C slots a lookup reads (its candidate slot
in every part of every segment, layout.py): D = T XOR R is the masked table, rho a mask the
asker chose (each server knows only its own half; relay.py). The asker knows R at those slots
(masks.py) and the applicant's tag t, so it knows m = rho XOR R, and T = y XOR m. For each slot
c it gives each server one key of an FSS point function (fss.py) on the 32-bit tag domain:

    f_c(x) = beta_c if x == alpha_c else 0,   alpha_c = t XOR m_c.tag

so f_c(y_c.tag) = beta_c exactly when slot c holds the applicant's record (a foreign tag matches
with probability 2^-32; an empty slot has tag 0 and t != 0). The payload beta_c is
[1, m_c's bit k for every bit k of the answered fields]: with [match] shared additively (mod
2^64) and y public, each server computes alone its share of

    [match] * T_f = sum_k 2^k [match] (y_k XOR m_k)
                  = sum_k 2^k (y_k [match] + (1 - 2 y_k) [match] m_k)

summed over the slots in Z_2^64. The two servers' shares add up to the sum over members of the
applicant's records, field by field, as true integers (a field holds one member's value, so no
sum ever wraps it): nothing per member, nothing of another applicant. Fields the service does
not answer are never in the payload and never read. Pure; a server's sums in one compiled loop
(`_field_sums`: the same arithmetic mod 2^64 as numpy's, without ~40 small-array operations per
batch).
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from node.query import fss
from node.query.errors import ProtocolError
from node.query.record import FIELDS, LANES, LAYOUT, Aggregates, field


def payload_size(fields: Sequence[str]) -> int:
    """uint64 words of a slot's payload for these answered fields."""
    return 1 + sum(LAYOUT[f][2] for f in fields)


def check_fields(fields: Sequence[str]) -> tuple[str, ...]:
    bad = [f for f in fields if f not in FIELDS]
    if bad or len(set(fields)) != len(fields):
        raise ProtocolError(f"fields must be distinct names among {', '.join(FIELDS)}; got "
                            f"{', '.join(fields) or 'none'}")
    return tuple(fields)


def _bits(records: np.ndarray, name: str) -> np.ndarray:
    """(slots, width) 0/1 uint64: the field's bits, least significant first."""
    lane, shift, width = LAYOUT[name]
    shifts = np.uint64(shift) + np.arange(width, dtype=np.uint64)
    return (records[:, lane, None] >> shifts) & np.uint64(1)


def keys(tag: int, r: np.ndarray, rho: np.ndarray, fields: Sequence[str],
         rng: bytes | None = None) -> tuple[bytes, bytes]:
    """The asker's FSS keys (server A's, server B's) for the slots whose masks are `r` and
    round-1 masks `rho` (both uint64, (slots, LANES)); `tag` is the applicant's (nonzero)."""
    if r.shape != rho.shape or r.ndim != 2 or r.shape[1] != LANES:
        raise ValueError(f"r and rho must be uint64 of the same shape (slots, {LANES})")
    return keys_of(np.array([tag], dtype=np.uint64), r[None], rho[None], fields, rng)


def keys_of(tags: np.ndarray, r: np.ndarray, rho: np.ndarray, fields: Sequence[str],
            rng: bytes | None = None) -> tuple[bytes, bytes]:
    """`keys` of several lookups at once (one tree walk for them all), one lookup's keys after
    the other's: `tags` (lookups,), `r` and `rho` (lookups, slots, LANES)."""
    fields = check_fields(fields)
    if r.shape != rho.shape or r.ndim != 3 or r.shape[2] != LANES or len(tags) != len(r):
        raise ValueError(f"r and rho must be uint64 of the same shape (lookups, slots, {LANES}) "
                         "with one tag per lookup")
    slots = r.shape[1]
    m = (r ^ rho).reshape(-1, LANES)
    alphas = np.repeat(tags.astype(np.uint64), slots) ^ field(m, "tag")
    betas = np.empty((len(m), payload_size(fields)), dtype=np.uint64)
    betas[:, 0] = 1
    column = 1
    for name in fields:
        width = LAYOUT[name][2]
        betas[:, column:column + width] = _bits(m, name)
        column += width
    return fss.generate(alphas, betas, rng)


def parse_keys(key_bytes: bytes, fields: Sequence[str], party: int, slots: int
               ) -> fss.KeyBatch:
    """A lookup's FSS keys for this server (`party`): one per slot read."""
    batch = fss.KeyBatch.parse(key_bytes, payload_size(check_fields(fields)))
    if len(batch) != slots:
        raise ProtocolError(f"a lookup's second round carries one key per slot read "
                            f"({slots}), got {len(batch)}")
    if np.any(batch.party != party):
        raise ProtocolError("an FSS key for the other server was sent to this one")
    return batch


def shares(y: np.ndarray, key_bytes: bytes, fields: Sequence[str], party: int) -> np.ndarray:
    """A server's additive shares (mod 2^64) of the matched records' sum, one uint64 per
    answered field; `y` (uint64, (slots, LANES)) is D XOR rho at the lookup's slots."""
    return shares_of(y[None], parse_keys(key_bytes, fields, party, len(y)), fields)[0]


def shares_of(ys: np.ndarray, keys: fss.KeyBatch, fields: Sequence[str]) -> np.ndarray:
    """`shares` of several lookups at once, (lookups, fields): `ys` (lookups, slots, LANES),
    `keys` their parsed keys one lookup after the other (one tree walk for them all)."""
    fields = check_fields(fields)
    lookups = ys.shape[0]
    y = np.ascontiguousarray(ys.reshape(-1, LANES), dtype=np.uint64)
    z = fss.evaluate(keys, field(y, "tag"))  # a fresh contiguous uint64 array
    lane, shift, width = (np.array([LAYOUT[name][i] for name in fields], dtype=np.int64)
                          for i in range(3))
    return _field_sums(y, z, lane, shift, width, lookups)


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _field_sums(y: np.ndarray, z: np.ndarray, lane: np.ndarray, shift: np.ndarray,
                width: np.ndarray, lookups: int) -> np.ndarray:
    """(lookups, fields) uint64: per lookup (its y.shape[0] / lookups slots one after the other)
    and field f, the sum over its slots and the field's bits k of 2^k (y_k [match] + (1 - 2 y_k)
    [match] m_k), all mod 2^64: z[:, 0] is the share of [match], then each field's bits'
    shares of [match] m_k, field after field (the payload's order)."""
    slots = y.shape[0] // lookups
    one = np.uint64(1)
    out = np.zeros((lookups, lane.shape[0]), dtype=np.uint64)
    for q in range(lookups):
        for s in range(q * slots, (q + 1) * slots):
            match = z[s, 0]
            column = 1
            for f in range(lane.shape[0]):
                word = y[s, lane[f]] >> np.uint64(shift[f])
                total = out[q, f]
                for k in range(width[f]):
                    bit = (word >> np.uint64(k)) & one
                    d = bit * match + (one - np.uint64(2) * bit) * z[s, column + k]
                    total += d << np.uint64(k)
                out[q, f] = total
                column += width[f]
    return out


def combine(share_a: np.ndarray, share_b: np.ndarray, fields: Sequence[str]) -> Aggregates:
    """The asker's sum of the two servers' shares: the aggregates of the answered fields (the
    others 0)."""
    fields = check_fields(fields)
    if share_a.shape != (len(fields),) or share_b.shape != (len(fields),):
        raise ProtocolError(f"an answer carries one share per answered field ({len(fields)})")
    total = share_a + share_b
    return Aggregates(**{name: int(total[i]) for i, name in enumerate(fields)})

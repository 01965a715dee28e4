"""Keyword layout: where an applicant's record lives in the table, and how often that fails.

Count-min style with a fixed total size: the table of 2^table_bits slots is cut into `subtables`
equal parts of S slots; an applicant (its id hashed with the alliance-wide salt, never sent or
stored in the clear) has one slot in each part, and every member adds its record to all of them.
A lookup reads all its slots (one DPF key per part: the servers scan the whole table once per
lookup) and keeps a *pure* one (`record.is_pure`: no other applicant there).

The applicant's slots share one *mask block* index b (uniform over the S/128 blocks) and differ
in their offset inside the block (uniform and independent per part): a lookup then needs one
oblivious mask evaluation instead of one per part (masks.py).

Error probability: with m applicants present, the number n of others in the applicant's block
is Poisson((m-1)·128/S); given n, each part's slot is shared with probability
1 - (1 - 1/128)^n, parts independently, so a lookup finds no pure slot with probability
E_n[(1 - (1 - 1/128)^n)^k]. That event is detected (the client raises QueryAmbiguous, never a
wrong answer); an undetected wrong answer needs a 32-bit tag collision in every impure slot
(≤ k·2^-32). `capacity(2^-20)` is the number of applicants a layout serves at ≤ 2^-20 per query
(16 parts: ~33,000 applicants in a 2^20-slot table, ~4x that in 2^22; 2^20 applicants need
2^25 slots: `slots_for`). Pure.

Why not a denser layout (cuckoo, buckets, 2-choice): placement there depends on which *other*
applicants are present, and no party may see the applicant set (members contribute blind,
servers hold masked shares only; building it obliviously is a 2-party sort of the whole table
per epoch). With blind, additive contributions the asker reads k slots of sums and can isolate
its applicant's record only from a slot no other applicant touches (an applicant sharing one of
the k slots — with different records in the others — leaves one unknown per such slot, and
hitting two of them has probability ~k²/slots). So a lookup succeeds iff one of its k slots is
pure, and no layout of k slots of S does better than P(miss) = (1 - e^(-k·m/S))^k, minimised
at k·m/S = ln 2: at most `pure_slot_bound(target)` = (ln 2)² / ln(1/target) applicants per slot
(0.0347 at 2^-20). 16 parts in one mask block reach 0.0315 (91 %; the shared block costs the
rest), 16 independent slots 0.0341, 20 slots 0.0347. Denser needs more slots read (more scans)
or a party that learns who is present.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass

from node.query.dpf import LEAF_BITS, LEAF_POINTS

SALT_BYTES = 32
TARGET_ERROR = 2.0 ** -20


def pure_slot_bound(target: float = TARGET_ERROR) -> float:
    """Most applicants per slot any layout of blind additive contributions can serve when a
    lookup must find a pure slot among those it reads, failing with probability ≤ target."""
    return math.log(2) ** 2 / math.log(1 / target)


def hash_applicant(salt: bytes, applicant_id: str) -> bytes:
    """The applicant's keyed hash (HMAC-SHA256 with the alliance-wide salt)."""
    if len(salt) < 16:
        raise ValueError("the alliance salt must be at least 16 bytes")
    return hmac.new(salt, applicant_id.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class Layout:
    """2^table_bits slots in `subtables` equal parts (a power of two)."""

    table_bits: int
    subtables: int = 16

    def __post_init__(self) -> None:
        parts = self.subtables
        if parts < 1 or parts & (parts - 1):
            raise ValueError("subtables must be a power of two")
        if self.part_bits < LEAF_BITS + 3:
            raise ValueError(f"each part needs at least 2^{LEAF_BITS + 3} slots")

    @property
    def slots(self) -> int:
        return 1 << self.table_bits

    @property
    def part_bits(self) -> int:
        return self.table_bits - int(math.log2(self.subtables))

    @property
    def part_slots(self) -> int:
        return 1 << self.part_bits


    @property
    def part_blocks(self) -> int:
        """Mask blocks per part; block b spans slots b*128 .. b*128+127 of every part."""
        return self.part_slots >> LEAF_BITS

    def locate(self, hashed: bytes) -> tuple[list[int], int]:
        """(position inside each part, tag) of a hashed applicant; all in one mask block."""
        stream = hashlib.shake_128(b"alliance/query/layout/" + hashed).digest(
            8 + self.subtables)
        block = int.from_bytes(stream[:4], "little") & (self.part_blocks - 1)
        tag = int.from_bytes(stream[4:8], "little")
        offsets = stream[8:8 + self.subtables]
        return [(block << LEAF_BITS) | (o & (LEAF_POINTS - 1)) for o in offsets], tag

    def block_of(self, hashed: bytes) -> int:
        return self.locate(hashed)[0][0] >> LEAF_BITS

    def slots_of(self, hashed: bytes) -> tuple[list[int], int]:
        """(global slot in each part, tag)."""
        positions, tag = self.locate(hashed)
        return [i * self.part_slots + p for i, p in enumerate(positions)], tag

    def miss_probability(self, applicants: int) -> float:
        """Probability that a lookup of one present applicant finds no pure slot."""
        mean = max(applicants - 1, 0) / self.part_blocks
        if mean == 0:
            return 0.0
        total, n = 0.0, 0
        log_pmf = -mean
        while True:
            shared = 1.0 - (1.0 - 1.0 / LEAF_POINTS) ** n
            total += math.exp(log_pmf) * shared ** self.subtables
            n += 1
            log_pmf += math.log(mean) - math.log(n)
            if n > mean and log_pmf < -60:
                return total

    @classmethod
    def slots_for(cls, applicants: int, subtables: int = 16,
                  target: float = TARGET_ERROR) -> Layout:
        """The smallest layout (power-of-two slots) serving `applicants` within `target`."""
        bits = max(LEAF_BITS + 3 + int(math.log2(subtables)), 1)
        while cls(bits, subtables).miss_probability(applicants) > target:
            bits += 1
        return cls(bits, subtables)

    def capacity(self, target: float = TARGET_ERROR) -> int:
        """The most applicants for which `miss_probability` stays ≤ target."""
        low, high = 1, 1
        while self.miss_probability(high) <= target:
            low, high = high, high * 2
        while high - low > 1:
            middle = (low + high) // 2
            if self.miss_probability(middle) <= target:
                low = middle
            else:
                high = middle
        return low

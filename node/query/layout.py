"""Keyword layout: where an applicant's record lives in the table, and how often that fails.

Count-min style with a fixed total size: the table of 2^table_bits slots is cut into `subtables`
equal parts; an applicant (its id hashed with the alliance-wide salt, never sent or stored in
the clear) has one slot in each part, and every member adds its record to all of them. A lookup
reads all its slots (one DPF key per part: the servers scan the whole table once per lookup) and
keeps a *pure* one (`record.is_pure`: no other applicant there).

Error probability: with m applicants present, a given slot of another applicant is shared with
probability p = 1 - (1 - 1/S)^(m-1) (S slots per part), all parts independently, so a lookup finds
no pure slot with probability p^k. That event is detected (the client raises QueryAmbiguous, never
a wrong answer); an undetected wrong answer needs a 32-bit tag collision in every impure slot
(≤ k·2^-32). `capacity(2^-20)` is the number of applicants a layout serves at ≤ 2^-20 per query:
16 parts of a 2^20-slot table hold ~35,000 applicants, of a 2^22-slot table ~143,000.
Pure.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass

from node.query.dpf import LEAF_BITS

SALT_BYTES = 32
TARGET_ERROR = 2.0 ** -20


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
    def blocks(self) -> int:
        """Mask blocks (one per DPF leaf of 128 slots) in the whole table."""
        return self.slots >> LEAF_BITS

    def locate(self, hashed: bytes) -> tuple[list[int], int]:
        """(position inside each part, tag) of a hashed applicant."""
        stream = hashlib.shake_128(b"alliance/query/layout/" + hashed).digest(
            4 * (self.subtables + 1))
        words = [int.from_bytes(stream[4 * i:4 * i + 4], "little")
                 for i in range(self.subtables + 1)]
        mask = self.part_slots - 1
        return [w & mask for w in words[:-1]], words[-1]

    def slots_of(self, hashed: bytes) -> tuple[list[int], int]:
        """(global slot in each part, tag)."""
        positions, tag = self.locate(hashed)
        return [i * self.part_slots + p for i, p in enumerate(positions)], tag

    def miss_probability(self, applicants: int) -> float:
        """Probability that a lookup of one present applicant finds no pure slot."""
        shared = 1.0 - (1.0 - 1.0 / self.part_slots) ** max(applicants - 1, 0)
        return shared ** self.subtables

    def capacity(self, target: float = TARGET_ERROR) -> int:
        """The most applicants for which `miss_probability` stays ≤ target."""
        p = target ** (1.0 / self.subtables)
        return int(math.log(1.0 - p) / math.log(1.0 - 1.0 / self.part_slots)) + 1

"""Keyword layout: where a member's record of an applicant lives in the table.

The table is one *segment* per contributing member (in the service job's contributor order:
sorted org names), each of 3 parts of P slots: `part_blocks` mask blocks of BLOCK_SLOTS = 1,024
slots, any number up to 2^(part_bits - 10), where 2^part_bits is the DPF's domain (the servers
evaluate it whole and scan only the first P positions). A job sized for a number of applicants
(`for_applicants`) gets the fewest blocks that hold them, not the next power of two: up to half
the table, and the time of a pass over it, saved. An applicant (its id hashed with the
alliance-wide salt, never sent or stored in the clear) has one candidate slot in each part, the
same in every segment: one mask block b (uniform over the P/1,024 blocks) and an offset inside
the block per part. A member places *its own* applicants in its own segment by cuckoo hashing
(cuckoo.py): each sits in exactly one of its 3 candidates, no two share a slot. Only that
member sees its placement (what it sends is secret-shared), and it needs nobody else's
applicants to build it: members stay blind to each other, the servers to positions.

A lookup reads the applicant's candidate slot of every part of every segment (3 DPF keys, one per
part position, applied to every segment: the servers scan the whole table once per lookup) and
the servers add up, by an FSS equality test on each slot's tag (client.py, fss.py), only the
records that carry the applicant's tag: the asker learns the sum over members and nothing about
which member holds which record, nor other applicants' records.

Error probability: an undetected wrong answer needs another applicant's 32-bit tag in one of the
3 x segments slots read (<= 3 x segments x 2^-32 per lookup: 2^-28 at 5 contributors, 2^-20 at
85). A member whose applicants do not fit its segment (more than ~0.9 x 3P: cuckoo insertion
fails) is told so when it builds its contribution; `for_applicants` sizes P for a load of at
most `MAX_LOAD` = 0.8.

Why blocks of 1,024 slots: an applicant's candidates share one block so that a lookup needs
one OPRF evaluation per server for all its slots (masks.py), and cuckoo placement then works
block by block. The fullest of many blocks sits well above the mean load (a block's count is
binomial), and that block is what fails: with blocks of 3 x 128 slots, builds failed from a
load of 0.75 (2 of 20) and 0.8 (6 of 6), so the layout planned for 0.6; with 3 x 1,024 slots,
none of 52 builds failed at 0.8 (2^20 and 2^22 applicants per member) and the first failures
came at 0.85 (2 of 12 at 2^22; bench/README.md; tests/unit/test_query_cuckoo.py places at 0.8
and 0.84). The same applicants now need 0.6 / 0.8 = 3/4 of the slots: a pass over the table
reads a quarter less.

Why not the earlier count-min layout (16 slots per applicant, every member adding at all of
them): a lookup there needs a slot no other applicant touches, which caps blind additive layouts
at (ln 2)^2 / ln(2^20) = 0.035 applicants per slot (2^20 applicants in 2^25 slots, 512 MiB per
table); here a member's segment holds up to MAX_LOAD = 0.8 applicants per slot. Pure.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from node.query.dpf import LEAF_BITS
from node.query.record import FORMAT

SALT_BYTES = 32
KEY_BYTES = 32
"""A hashed applicant (`hash_applicant`: HMAC-SHA256)."""
CHOICES = 3
"""Candidate slots per applicant (one per part of a segment)."""
MAX_LOAD = 0.8
"""Most applicants per slot of a member's segment that `for_applicants` plans for."""
BLOCK_BITS = 10
BLOCK_SLOTS = 1 << BLOCK_BITS
"""Slots of one part in a mask block: an applicant's candidates lie in one block (a whole
number of the DPF's 128-point leaves)."""
assert BLOCK_BITS >= LEAF_BITS
TAG_BITS = 32
MIN_PART_BITS = BLOCK_BITS
MIN_BLOCKS = 1
CONTRIBUTION_FORMAT = 2
"""What a contribution covers: the member's own segment (1, until 2026-12-05: the whole table,
zeros outside its segment). In the fingerprint: servers drop contributions stored in another."""
Slot = TypeVar("Slot", int, np.ndarray)
"""A slot index, or a numpy array of them."""


def hash_applicant(salt: bytes, applicant_id: str) -> bytes:
    """The applicant's keyed hash (HMAC-SHA256 with the alliance-wide salt)."""
    if len(salt) < 16:
        raise ValueError("the alliance salt must be at least 16 bytes")
    return hmac.new(salt, applicant_id.encode(), hashlib.sha256).digest()


def bits_for(blocks: int) -> int:
    """The smallest DPF domain (log2 of its points) holding `blocks` mask blocks."""
    return max(MIN_PART_BITS, (blocks - 1).bit_length() + BLOCK_BITS)


@dataclass(frozen=True)
class Layout:
    """One segment of CHOICES parts of part_blocks x BLOCK_SLOTS slots per contributor (in `members`
    order); a DPF over 2^part_bits points selects a slot of a part."""

    part_bits: int
    members: tuple[str, ...]
    part_blocks: int = 0
    """Mask blocks per part; 0 (the default) means all 2^part_bits / BLOCK_SLOTS of them."""

    def __post_init__(self) -> None:
        if self.part_bits < MIN_PART_BITS:
            raise ValueError(f"each part needs at least 2^{MIN_PART_BITS} slots")
        if not self.part_blocks:
            object.__setattr__(self, "part_blocks", 1 << (self.part_bits - BLOCK_BITS))
        if self.part_blocks < MIN_BLOCKS or bits_for(self.part_blocks) != self.part_bits:
            raise ValueError(f"{self.part_blocks} blocks of {BLOCK_SLOTS} slots per part need "
                             f"a DPF domain of 2^{bits_for(max(self.part_blocks, 1))}, not "
                             f"2^{self.part_bits} (at least {MIN_BLOCKS} blocks)")
        if not self.members or len(set(self.members)) != len(self.members):
            raise ValueError("a layout needs one or more distinct contributors")

    @classmethod
    def of(cls, part_bits: int, contributors: Iterable[str], part_blocks: int = 0) -> Layout:
        """The layout of a service job: its size and its contributors in sorted order."""
        return cls(part_bits, tuple(sorted(contributors)), part_blocks)

    @classmethod
    def of_blocks(cls, part_blocks: int, contributors: Iterable[str]) -> Layout:
        """The layout whose parts hold `part_blocks` mask blocks (the smallest DPF domain)."""
        return cls.of(bits_for(part_blocks), contributors, part_blocks)

    @property
    def segments(self) -> int:
        return len(self.members)

    @property
    def subtables(self) -> int:
        """Parts of the whole table (CHOICES per segment)."""
        return CHOICES * self.segments

    @property
    def part_slots(self) -> int:
        return self.part_blocks << BLOCK_BITS

    @property
    def part_words(self) -> int:
        """uint64 words of one bit column of a part (64 slots each)."""
        return self.part_slots // 64

    @property
    def segment_slots(self) -> int:
        return CHOICES * self.part_slots

    @property
    def slots(self) -> int:
        return self.subtables * self.part_slots

    @property
    def capacity(self) -> int:
        """Applicants one member can place in its segment at MAX_LOAD."""
        return int(MAX_LOAD * self.segment_slots)

    @property
    def wrong_answer_bound(self) -> float:
        """Probability bound of an undetected wrong answer per lookup (a tag collision)."""
        return self.subtables * 2.0 ** -TAG_BITS

    def fingerprint(self) -> str:
        """Names the layout in contributions and epochs: a share built for another layout
        (another size, contributor order, record or contribution format) must never be added
        into this one."""
        size = str(self.part_bits) if self.part_slots == 1 << self.part_bits \
            else f"{self.part_bits}/{self.part_blocks}"
        body = (f"{size}|b{BLOCK_BITS}|r{FORMAT}|c{CONTRIBUTION_FORMAT}|"
                f"{','.join(self.members)}").encode()
        return "layout:" + hashlib.sha256(body).hexdigest()[:16]

    def segment_of(self, member: str) -> int:
        try:
            return self.members.index(member)
        except ValueError:
            raise ValueError(f"{member} is not a contributor of this layout "
                             f"({', '.join(self.members)})") from None

    def locate(self, hashed: bytes) -> tuple[list[int], int]:
        """(candidate slot inside each of a segment's parts, nonzero 32-bit tag) of a hashed
        applicant; the candidates all lie in one mask block."""
        stream = hashlib.shake_128(b"alliance/query/layout/v3/" + hashed).digest(8 + 2 * CHOICES)
        block = (int.from_bytes(stream[:4], "little") * self.part_blocks) >> 32  # uniform
        tag = int.from_bytes(stream[4:8], "little") or 1  # 0 marks an empty slot
        offsets = [int.from_bytes(stream[at:at + 2], "little") & (BLOCK_SLOTS - 1)
                   for at in range(8, 8 + 2 * CHOICES, 2)]
        return [(block << BLOCK_BITS) | o for o in offsets], tag

    @staticmethod
    def block_of(position: int) -> int:
        """The mask block of a position in a part (masks.block_point)."""
        return position >> BLOCK_BITS

    def cell(self, segment: int, choice: Slot, position: Slot) -> Slot:
        """The global slot of candidate `choice` (at `position` in its part) in a segment;
        elementwise for arrays of choices and positions."""
        return (segment * CHOICES + choice) * self.part_slots + position

    def offsets(self, positions: list[int]) -> list[int]:
        """Each part's offset inside the mask block, for every part of the table in order (the
        masks of the slots a lookup reads: masks.slot_masks)."""
        return [p & (BLOCK_SLOTS - 1) for p in positions] * self.segments

    @classmethod
    def for_applicants(cls, per_member: int, contributors: Iterable[str]) -> Layout:
        """The smallest layout whose segments hold `per_member` applicants at MAX_LOAD."""
        return cls.of_blocks(blocks_for(per_member), contributors)


def blocks_for(per_member: int) -> int:
    """The fewest mask blocks per part that hold `per_member` applicants at MAX_LOAD."""
    return max(MIN_BLOCKS, math.ceil(per_member / (MAX_LOAD * CHOICES * BLOCK_SLOTS)))

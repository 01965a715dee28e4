"""The per-applicant record: five aggregates and a tag in 128 bits (84 of them used).

A table slot holds one member's record of one applicant (its segment's cuckoo placement,
layout.py) or zeros; a lookup sums the records carrying the applicant's tag over every member's
segment (matching.py). Every share and mask of a record is an XOR one (a slot is written by one
member only), so a field needs only the bits of one member's value, not of the sum over
members: the servers' second round adds the matched records' true values up in Z_2^64
(matching.py). Two uint64 lanes, fields from the most significant bits down:

    lane 0:  tag (32) | active_loans (5) | distinct_lenders (1) | applications_7d (4) |
             applications_30d (8) | spare (14)
    lane 1:  outstanding_cents (34) | spare (30)

A record's tag is the applicant's (never 0: an empty slot is all zeros). The spare bits are 0 in
every record and never read: the servers do not scan them (SCANNED_BITS, table.py; 84 columns
where the fields sized for the sum over 64 members took 118, 29 % less table per lookup).

A member's node saturates its values at MEMBER_CAPS (31 active loans, 15 applications a week,
255 a month, 2^34-1 cents ≈ 171 M per applicant and member) — far beyond what lending rules
allow, and stated in the answer's documentation; a sum over members never overflows (Z_2^64).
Pure numpy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

LANES = 2
RECORD_BYTES = 8 * LANES
FORMAT = 2
"""Named in the layout's fingerprint (layout.py): a share built for another record format (1:
fields sized for sums, fieldwise additive shares) is never combined with this one's."""

FIELDS = ("active_loans", "distinct_lenders", "outstanding_cents", "applications_7d",
          "applications_30d")

LAYOUT = {
    # name: (lane, shift, width); bits not named here are spare (0, never read)
    "tag": (0, 32, 32),
    "active_loans": (0, 27, 5),
    "distinct_lenders": (0, 26, 1),
    "applications_7d": (0, 22, 4),
    "applications_30d": (0, 14, 8),
    "outstanding_cents": (1, 30, 34),
}

MEMBER_CAPS = {
    "active_loans": 31,
    "distinct_lenders": 1,
    "outstanding_cents": (1 << 34) - 1,
    "applications_7d": 15,
    "applications_30d": 255,
}


@dataclass(frozen=True)
class Aggregates:
    """What the asker learns about one applicant (other members only, after exclusion)."""

    active_loans: int = 0
    distinct_lenders: int = 0
    outstanding_cents: int = 0
    applications_7d: int = 0
    applications_30d: int = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in FIELDS}

    def minus(self, other: Aggregates) -> Aggregates:
        return Aggregates(**{n: getattr(self, n) - getattr(other, n) for n in FIELDS})

    def only(self, fields: Iterable[str]) -> Aggregates:
        """These aggregates with every field not in `fields` set to 0 (withheld)."""
        keep = set(fields)
        return Aggregates(**{n: getattr(self, n) if n in keep else 0 for n in FIELDS})


def saturate(values: Aggregates) -> Aggregates:
    """A member's own values clamped to MEMBER_CAPS (and to zero below)."""
    return Aggregates(**{n: min(max(getattr(values, n), 0), MEMBER_CAPS[n]) for n in FIELDS})


def pack(tags: np.ndarray, fields: dict[str, np.ndarray]) -> np.ndarray:
    """Records (uint64, shape (len, 2)) for members' applicants: `tags` (uint32) and each field's
    values, already within MEMBER_CAPS (the spare bits 0)."""
    count = len(tags)
    out = np.zeros((count, LANES), dtype=np.uint64)
    columns = dict(fields)
    columns["tag"] = tags
    for name, (lane, shift, width) in LAYOUT.items():
        values = np.asarray(columns.get(name, np.zeros(count)), dtype=np.uint64)
        if values.size and int(values.max()) >> width:
            raise ValueError(f"{name} exceeds {width} bits")
        out[:, lane] |= values << np.uint64(shift)
    return out


def _scanned_bits() -> np.ndarray:
    bits = [lane * 64 + shift + k for lane, shift, width in LAYOUT.values()
            for k in range(width)]
    return np.array(sorted(bits), dtype=np.int64)


SCANNED_BITS = _scanned_bits()
"""The record bits a lookup reads (bit b = bit b % 64 of lane b // 64): the tag's and every
field's, not the spare ones; 84 of 128."""


def field(records: np.ndarray, name: str) -> np.ndarray:
    """One field of records (uint64, shape (..., 2))."""
    lane, shift, width = LAYOUT[name]
    return (records[..., lane] >> np.uint64(shift)) & np.uint64((1 << width) - 1)

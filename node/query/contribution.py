"""A member's side of the table: its loan events, its records, and its secret-shared contribution.

The member's node feeds its own loan events (application, loan opened, amount changed, loan
closed) into a `LoanBook`. Each interval it re-shares its whole contribution C: its own segment
of the table (every applicant it currently has a record for, at the one of its candidate slots
the cuckoo placement gave it: layout.py, cuckoo.py; every other slot of the segment zero): a
fresh 16-byte seed to server B, which expands it to S = AES-CTR(seed), and C XOR S to server A
(XOR shares: a slot is written by one member only, and a field needs only one member's value's
bits: record.py). Neither server learns which slots changed, nor how many events there were:
one segment's worth of traffic per interval whatever happened. The rest of the table is other
members' segments: a member's contribution is zero there, known to everybody, so it is never
sent (traffic and storage grow with the table, not with contributors x table), and a member
can write nothing but its own segment.

Windows: applications are bucketed by UTC day (days since 1970-01-01); on day `today` the 7-day
window holds days today-6 .. today and the 30-day window today-29 .. today. A member contributes
a record for an applicant while it holds an open loan to them or saw an application from them in
the last 30 days (a record otherwise would only crowd the table). Pure apart from os.urandom.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from node.query import cuckoo
from node.query.errors import ContributionError
from node.query.layout import Layout, hash_applicant
from node.query.masks import prg_share
from node.query.record import FIELDS, LANES, Aggregates, pack, saturate

WINDOW_SHORT = 7
WINDOW_LONG = 30


class EventKind(StrEnum):
    APPLICATION = "application"
    LOAN_OPENED = "loan_opened"
    AMOUNT_CHANGED = "amount_changed"
    LOAN_CLOSED = "loan_closed"


@dataclass(frozen=True)
class LoanEvent:
    """One event of the member's own book. `loan_id` is the member's own reference (unused for
    applications); `amount_cents` is the new outstanding amount (opened, changed)."""

    kind: EventKind
    applicant_id: str
    day: int
    loan_id: str = ""
    amount_cents: int = 0


@dataclass
class _Loan:
    applicant: bytes
    outstanding: int


@dataclass(frozen=True)
class Contribution:
    """One interval's shares: `masked` (C XOR S) for server A, `seed` (expands to S) for server
    B."""

    version: int
    masked: np.ndarray
    seed: bytes


class LoanBook:
    """The member's own loans and recent applications, by hashed applicant."""

    def __init__(self, salt: bytes, layout: Layout, member: str) -> None:
        self.salt = salt
        self.layout = layout
        self.member = member
        self._loans: dict[str, _Loan] = {}
        self._applications: dict[bytes, dict[int, int]] = defaultdict(dict)
        self._slots: dict[bytes, tuple[list[int], int]] = {}
        self.events = 0

    def key(self, applicant_id: str) -> bytes:
        hashed = hash_applicant(self.salt, applicant_id)
        if hashed not in self._slots:
            self._slots[hashed] = self.layout.locate(hashed)
        return hashed

    def ingest(self, event: LoanEvent) -> None:
        """Apply one event; ContributionError (nothing changed) if it does not fit the book."""
        applicant = self.key(event.applicant_id)
        if event.amount_cents < 0:
            raise ContributionError(f"event for loan {event.loan_id!r}: negative amount")
        if event.kind is EventKind.APPLICATION:
            days = self._applications[applicant]
            days[event.day] = days.get(event.day, 0) + 1
            return
        loan = self._loans.get(event.loan_id)
        if event.kind is EventKind.LOAN_OPENED:
            if loan is not None:
                raise ContributionError(f"loan {event.loan_id!r} is already open")
            self._loans[event.loan_id] = _Loan(applicant, event.amount_cents)
            return
        if loan is None or loan.applicant != applicant:
            raise ContributionError(
                f"{event.kind.value} for loan {event.loan_id!r}, which is not open for this "
                "applicant; send its loan_opened event first")
        if event.kind is EventKind.AMOUNT_CHANGED:
            loan.outstanding = event.amount_cents
        else:
            del self._loans[event.loan_id]

    def ingest_many(self, events: list[LoanEvent]) -> int:
        for event in events:
            self.ingest(event)
        self.events += len(events)
        return len(events)

    def aggregates(self, today: int) -> dict[bytes, Aggregates]:
        """This member's saturated record for every applicant it contributes for on `today`."""
        loans: dict[bytes, list[int]] = defaultdict(list)
        for loan in self._loans.values():
            loans[loan.applicant].append(loan.outstanding)
        out: dict[bytes, Aggregates] = {}
        for applicant in set(loans) | set(self._applications):
            days = self._applications.get(applicant, {})
            for day in [d for d in days if d <= today - WINDOW_LONG]:
                del days[day]
            short = sum(c for d, c in days.items() if today - WINDOW_SHORT < d <= today)
            long = sum(c for d, c in days.items() if today - WINDOW_LONG < d <= today)
            held = loans.get(applicant, [])
            if not held and not long:
                continue
            out[applicant] = saturate(Aggregates(
                active_loans=len(held), distinct_lenders=1 if held else 0,
                outstanding_cents=sum(held), applications_7d=short, applications_30d=long))
        return out

    def vector(self, records: dict[bytes, Aggregates]) -> np.ndarray:
        """C: this member's segment, each record at the slot the cuckoo placement gave its
        applicant, zeros elsewhere (uint64, (segment_slots, LANES); slot i of it is the
        table's slot segment x segment_slots + i). ContributionError when this member is not a
        contributor of the layout or its applicants do not fit its segment."""
        try:
            self.layout.segment_of(self.member)
        except ValueError as exc:
            raise ContributionError(str(exc)) from exc
        table = np.zeros((self.layout.segment_slots, LANES), dtype=np.uint64)
        if not records:
            return table
        keys = list(records)
        positions = np.array([self._slots[k][0] for k in keys], dtype=np.int64)
        tags = np.array([self._slots[k][1] for k in keys], dtype=np.uint32)
        fields = {n: np.array([getattr(records[k], n) for k in keys], dtype=np.uint64)
                  for n in FIELDS}
        choices = cuckoo.place(positions, self.layout.part_slots)
        cells = self.layout.cell(0, choices, positions[np.arange(len(keys)), choices])
        table[cells] = pack(tags, fields)
        return table

    def share(self, vector: np.ndarray, version: int) -> Contribution:
        """Fresh shares of C: C XOR S for server A, the seed of S for server B."""
        seed = os.urandom(16)
        share = prg_share(seed, self.layout.segment_slots)
        masked = np.bitwise_xor(vector, share, out=share)
        return Contribution(version, masked, seed)

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
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import NamedTuple

import numpy as np

from node.query import cuckoo
from node.query.errors import ContributionError
from node.query.layout import CHOICES, KEY_BYTES, Layout, hash_applicant
from node.query.masks import prg_share
from node.query.record import FIELDS, LANES, MEMBER_CAPS, Aggregates, pack

WINDOW_SHORT = 7
WINDOW_LONG = 30


class EventKind(StrEnum):
    APPLICATION = "application"
    LOAN_OPENED = "loan_opened"
    AMOUNT_CHANGED = "amount_changed"
    LOAN_CLOSED = "loan_closed"


class LoanEvent(NamedTuple):
    """One event of the member's own book. `loan_id` is the member's own reference (unused for
    applications); `amount_cents` is the new outstanding amount (opened, changed). A named
    tuple: a node reads millions back at every push, and a frozen dataclass took ~4x as long
    to make."""

    kind: EventKind
    applicant_id: str
    day: int
    loan_id: str = ""
    amount_cents: int = 0


@dataclass(frozen=True)
class Contribution:
    """One interval's shares: `masked` (C XOR S) for server A, `seed` (expands to S) for server
    B."""

    version: int
    masked: np.ndarray
    seed: bytes


@dataclass(frozen=True, eq=False)
class Records(Mapping[bytes, Aggregates]):
    """A member's saturated records as columns (row i: hashed applicant `applicants[i]`), with each
    applicant's candidate positions and tag (layout.locate) for its placement; a mapping of
    hashed applicant -> Aggregates for whoever reads one record (the own-record exclusion)."""

    applicants: list[bytes]
    fields: dict[str, np.ndarray]
    """uint64 per field of record.FIELDS, within MEMBER_CAPS."""
    positions: np.ndarray
    """int64, (len, CHOICES)."""
    tags: np.ndarray
    """uint32, (len,)."""

    @cached_property
    def _rows(self) -> dict[bytes, int]:
        return {key: row for row, key in enumerate(self.applicants)}

    def __getitem__(self, key: bytes) -> Aggregates:
        row = self._rows[key]
        return Aggregates(**{name: int(self.fields[name][row]) for name in FIELDS})

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.applicants)

    def __len__(self) -> int:
        return len(self.applicants)

    def as_dicts(self) -> Iterator[tuple[bytes, dict[str, int]]]:
        """(hashed applicant, its fields) for every record, without an Aggregates each."""
        columns = [self.fields[name].tolist() for name in FIELDS]
        for key, *values in zip(self.applicants, *columns, strict=True):
            yield key, dict(zip(FIELDS, values, strict=True))


_AMOUNT_CAP = MEMBER_CAPS["outstanding_cents"]
_TYPES = {"q": "<i8", "Q": "<u8", "I": "<u4"}


def _words(typecode: str, values: np.ndarray) -> array[int]:
    """`values` as an array of `typecode` (a book's growable column)."""
    return array(typecode, np.ascontiguousarray(values, _TYPES[typecode]).tobytes())


@dataclass(frozen=True, eq=False)
class BookState:
    """A `LoanBook`'s contents as arrays: what a member's node keeps between pushes
    (member_store.py), so a push ingests only the events that came since."""

    keys: np.ndarray
    """uint8, (applicants, 32): the hashed applicants in the order first seen."""
    part_blocks: int
    """The layout's mask blocks per part that `positions` were located for."""
    positions: np.ndarray
    """int64, (applicants, CHOICES)."""
    tags: np.ndarray
    """uint32, (applicants,)."""
    applied_by: np.ndarray
    applied_on: np.ndarray
    """int64 each, one entry per application kept: the applicant's number and the UTC day."""
    loan_ids: list[str]
    loan_applicants: np.ndarray
    """int64 per open loan (the order of `loan_ids`)."""
    loan_outstanding: np.ndarray
    """uint64 per open loan, capped."""
    events: int
    pruned_at: int | None
    """The latest day the applications were cut at (older ones dropped): the book holds what
    any day from then on needs, not an earlier day's."""


class LoanBook:
    """The member's own loans and recent applications, by hashed applicant (each numbered in
    the order first seen: the records are formed as columns, not an object per applicant)."""

    def __init__(self, salt: bytes, layout: Layout, member: str) -> None:
        self.salt = salt
        self.layout = layout
        self.member = member
        self._loan_rows: dict[str, int] = {}
        """Each open loan's row of the two arrays below."""
        self._lent_to = array("q")
        """Per loan row: its applicant's number, -1 once the loan closed."""
        self._lent = array("Q")
        """Per loan row: its outstanding amount, capped at what a record holds
        (record.MEMBER_CAPS): amounts are never negative, so the capped sum of capped amounts
        is the capped sum."""
        self._numbers: dict[bytes, int] | None = {}
        """Each hashed applicant's number; None until an event needs it in a restored book (a
        re-share with no new events never does: 0.6 s of a 2^22 push)."""
        self._keys: list[bytes] = []
        self._positions = array("q")
        self._tags = array("I")
        self._applied_by = array("q")
        self._applied_on = array("q")
        """One entry per application: the applicant's number and the UTC day."""
        self.events = 0
        self.pruned_at: int | None = None

    def state(self) -> BookState:
        rows = np.fromiter(self._loan_rows.values(), np.int64, len(self._loan_rows))
        return BookState(
            keys=np.frombuffer(b"".join(self._keys), dtype=np.uint8).reshape(-1, KEY_BYTES),
            part_blocks=self.layout.part_blocks,
            positions=np.frombuffer(self._positions, dtype=np.int64).reshape(-1, CHOICES),
            tags=np.frombuffer(self._tags, dtype=np.uint32),
            applied_by=np.frombuffer(self._applied_by, dtype=np.int64),
            applied_on=np.frombuffer(self._applied_on, dtype=np.int64),
            loan_ids=list(self._loan_rows),
            loan_applicants=np.frombuffer(self._lent_to, dtype=np.int64)[rows],
            loan_outstanding=np.frombuffer(self._lent, dtype=np.uint64)[rows],
            events=self.events, pruned_at=self.pruned_at)

    @classmethod
    def restored(cls, salt: bytes, layout: Layout, member: str, state: BookState) -> LoanBook:
        """The book `state` was taken of (its applicants located again when `layout`'s blocks
        differ from those it was taken with). The caller vouches that `salt` is the one its
        applicants were hashed with."""
        book = cls(salt, layout, member)
        keys = np.ascontiguousarray(state.keys).tobytes()
        book._keys = [keys[at:at + KEY_BYTES] for at in range(0, len(keys), KEY_BYTES)]
        book._numbers = None
        if state.part_blocks == layout.part_blocks:
            book._positions = _words("q", state.positions)
            book._tags = _words("I", state.tags)
        else:
            for key in book._keys:
                book._locate(key)
        book._applied_by = _words("q", state.applied_by)
        book._applied_on = _words("q", state.applied_on)
        book._loan_rows = dict(zip(state.loan_ids, range(len(state.loan_ids)), strict=True))
        book._lent_to = _words("q", state.loan_applicants)
        book._lent = _words("Q", state.loan_outstanding)
        book.events = state.events
        book.pruned_at = state.pruned_at
        return book

    def key(self, applicant_id: str) -> bytes:
        return self._keys[self._number(applicant_id)]

    def _number(self, applicant_id: str, seen: dict[str, int] | None = None) -> int:
        """The applicant's number; `seen`: numbers of ids met earlier in the same batch of
        events (its keyed hash is the costliest step of an event, and ids repeat)."""
        if seen is not None:
            known = seen.get(applicant_id)
            if known is not None:
                return known
        hashed = hash_applicant(self.salt, applicant_id)
        if self._numbers is None:
            self._numbers = dict(zip(self._keys, range(len(self._keys)), strict=True))
        number = self._numbers.get(hashed)
        if number is None:
            number = self._numbers[hashed] = len(self._keys)
            self._keys.append(hashed)
            self._locate(hashed)
        if seen is not None:
            seen[applicant_id] = number
        return number

    def _locate(self, hashed: bytes) -> None:
        """Append the next applicant's candidate positions and tag (layout.locate)."""
        positions, tag = self.layout.locate(hashed)
        self._positions.extend(positions)
        self._tags.append(tag)

    def ingest(self, event: LoanEvent, seen: dict[str, int] | None = None) -> None:
        """Apply one event; ContributionError (nothing changed) if it does not fit the book."""
        applicant = self._number(event.applicant_id, seen)
        if event.amount_cents < 0:
            raise ContributionError(f"event for loan {event.loan_id!r}: negative amount")
        if event.kind is EventKind.APPLICATION:
            self._applied_by.append(applicant)
            self._applied_on.append(event.day)
            return
        row = self._loan_rows.get(event.loan_id)
        if event.kind is EventKind.LOAN_OPENED:
            if row is not None:
                raise ContributionError(f"loan {event.loan_id!r} is already open")
            self._loan_rows[event.loan_id] = len(self._lent_to)
            self._lent_to.append(applicant)
            self._lent.append(min(event.amount_cents, _AMOUNT_CAP))
            return
        if row is None or self._lent_to[row] != applicant:
            raise ContributionError(
                f"{event.kind.value} for loan {event.loan_id!r}, which is not open for this "
                "applicant; send its loan_opened event first")
        if event.kind is EventKind.AMOUNT_CHANGED:
            self._lent[row] = min(event.amount_cents, _AMOUNT_CAP)
        else:
            del self._loan_rows[event.loan_id]
            self._lent_to[row] = -1

    def ingest_many(self, events: list[LoanEvent]) -> int:
        seen: dict[str, int] = {}
        for event in events:
            self.ingest(event, seen)
        self.events += len(events)
        return len(events)

    def _applications(self, today: int) -> tuple[np.ndarray, np.ndarray]:
        """(applicant numbers, days) of the applications still inside the long window's
        horizon (older ones are dropped from the book for good)."""
        if self.pruned_at is not None and today < self.pruned_at:
            raise ContributionError(
                f"this book dropped the applications before day {self.pruned_at - WINDOW_LONG + 1}"
                f"; day {today}'s windows need them: build it again from the stored events")
        by = np.frombuffer(self._applied_by, dtype=np.int64)
        on = np.frombuffer(self._applied_on, dtype=np.int64)
        kept = on > today - WINDOW_LONG
        self.pruned_at = today
        if not kept.all():
            by, on = by[kept], on[kept]
            self._applied_by, self._applied_on = _words("q", by), _words("q", on)
        return by, on

    def aggregates(self, today: int) -> Records:
        """This member's saturated record for every applicant it contributes for on `today`:
        an open loan to them, or an application from them in the last 30 days."""
        count = len(self._keys)
        lent_to = np.frombuffer(self._lent_to, dtype=np.int64)
        amounts = np.frombuffer(self._lent, dtype=np.uint64)
        open_loans = lent_to >= 0
        lent_to, amounts = lent_to[open_loans], amounts[open_loans]
        active = np.bincount(lent_to, minlength=count)
        outstanding = np.zeros(count, dtype=np.uint64)
        np.add.at(outstanding, lent_to, amounts)
        by, on = self._applications(today)
        current = on <= today
        short = np.bincount(by[current & (on > today - WINDOW_SHORT)], minlength=count)
        long = np.bincount(by[current], minlength=count)
        rows = np.flatnonzero((active > 0) | (long > 0))
        values = {"active_loans": active, "distinct_lenders": np.minimum(active, 1),
                  "outstanding_cents": outstanding, "applications_7d": short,
                  "applications_30d": long}
        fields = {name: np.minimum(values[name][rows].astype(np.uint64),
                                   np.uint64(MEMBER_CAPS[name])) for name in FIELDS}
        positions = np.frombuffer(self._positions, dtype=np.int64).reshape(-1, CHOICES)
        tags = np.frombuffer(self._tags, dtype=np.uint32)
        return Records([self._keys[row] for row in rows.tolist()], fields,
                       positions[rows], tags[rows])

    def vector(self, records: Records) -> np.ndarray:
        """C: this member's segment, each record at the slot the cuckoo placement gave its
        applicant, zeros elsewhere (uint64, (segment_slots, LANES); slot i of it is the
        table's slot segment x segment_slots + i). ContributionError when this member is not a
        contributor of the layout or its applicants do not fit its segment."""
        try:
            self.layout.segment_of(self.member)
        except ValueError as exc:
            raise ContributionError(str(exc)) from exc
        table = np.zeros((self.layout.segment_slots, LANES), dtype=np.uint64)
        if not len(records):
            return table
        choices = cuckoo.place(records.positions, self.layout.part_slots)
        picked = records.positions[np.arange(len(records)), choices]
        table[self.layout.cell(0, choices, picked)] = pack(records.tags, records.fields)
        return table

    def share(self, vector: np.ndarray, version: int) -> Contribution:
        """Fresh shares of C: C XOR S for server A, the seed of S for server B."""
        seed = os.urandom(16)
        share = prg_share(seed, self.layout.segment_slots)
        masked = np.bitwise_xor(vector, share, out=share)
        return Contribution(version, masked, seed)

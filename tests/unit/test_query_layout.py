"""The keyword layout: its stated miss probability holds; a shared slot is never taken as pure."""

from __future__ import annotations

import os

import numpy as np
import pytest

from node.query import record
from node.query.contribution import EventKind, LoanBook, LoanEvent
from node.query.layout import TARGET_ERROR, Layout, hash_applicant, pure_slot_bound


def test_capacity_is_the_largest_load_within_the_target() -> None:
    layout = Layout(20, 16)
    cap = layout.capacity()
    assert layout.miss_probability(cap) <= TARGET_ERROR < layout.miss_probability(cap + 1)
    assert 30_000 < cap < 40_000
    assert Layout(22, 16).capacity() > 4 * 30_000


def test_benchmark_loads_are_within_two_to_the_minus_twenty() -> None:
    assert Layout(20, 16).miss_probability(1 << 15) <= TARGET_ERROR
    assert Layout(22, 16).miss_probability(1 << 17) <= TARGET_ERROR


def test_positions_depend_on_the_salt() -> None:
    layout = Layout(14, 4)
    a = layout.locate(hash_applicant(b"a" * 32, "alice"))
    b = layout.locate(hash_applicant(b"b" * 32, "alice"))
    assert a != b
    assert all(0 <= p < layout.part_slots for p in a[0])


def test_measured_miss_rate_matches_the_formula_on_a_crowded_small_table() -> None:
    """At a load where misses are frequent enough to count, the share of applicants with no
    pure slot is the stated probability (binomial 5-sigma band), and every pure slot found
    holds exactly that applicant's record."""
    layout = Layout(11, 2)  # 2 parts of 1024 slots
    applicants = 600
    book = LoanBook(os.urandom(32), layout)
    ids = [f"applicant-{i}" for i in range(applicants)]
    book.ingest_many([LoanEvent(EventKind.LOAN_OPENED, a, 10, f"L{i}", 100 + i)
                      for i, a in enumerate(ids)])
    vector = book.vector(book.aggregates(10))
    misses = 0
    for i, applicant in enumerate(ids):
        slots, tag = layout.slots_of(book.key(applicant))
        pure = [s for s in slots if record.is_pure(vector[s], tag)]
        if not pure:
            misses += 1
        for s in pure:
            assert record.aggregates(vector[s]).outstanding_cents == 100 + i
    p = layout.miss_probability(applicants)
    sigma = (applicants * p * (1 - p)) ** 0.5
    assert abs(misses - applicants * p) < 5 * sigma + 1


def test_a_slot_shared_by_two_applicants_is_not_pure_for_either() -> None:
    tags = np.array([0x1234567, 0x7654321], dtype=np.uint32)
    fields = {n: np.array([1, 2], dtype=np.uint64) for n in record.FIELDS}
    fields["distinct_lenders"] = np.array([1, 1], dtype=np.uint64)
    both = record.pack(tags, fields).sum(axis=0, dtype=np.uint64)
    assert not record.is_pure(both, int(tags[0]))
    assert not record.is_pure(both, int(tags[1]))
    assert record.is_pure(np.zeros(2, dtype=np.uint64), 99)


@pytest.mark.parametrize("name", record.FIELDS)
def test_member_values_saturate_at_the_caps(name: str) -> None:
    big = record.saturate(record.Aggregates(**{name: 1 << 50}))
    assert getattr(big, name) == record.MEMBER_CAPS[name]
    packed = record.own_record(5, record.Aggregates(**{name: 1 << 50}))
    assert int(record.field(packed, name)) == record.MEMBER_CAPS[name]


def test_sixty_four_members_at_the_caps_do_not_overflow_a_field() -> None:
    capped = record.Aggregates(**record.MEMBER_CAPS)
    one = record.own_record(7, capped)
    total = np.zeros(2, dtype=np.uint64)
    for _ in range(record.MAX_CONTRIBUTORS):
        total += one
    assert record.is_pure(total, 7)
    for name in record.FIELDS:
        assert int(record.field(total, name)) == 64 * record.MEMBER_CAPS[name]


def test_two_to_the_twenty_applicants_need_two_to_the_twenty_five_slots() -> None:
    layout = Layout.slots_for(1 << 20)
    assert layout.table_bits == 25
    assert layout.miss_probability(1 << 20) <= TARGET_ERROR
    assert Layout(24, 16).miss_probability(1 << 20) > TARGET_ERROR


def test_capacity_is_below_the_pure_slot_bound_and_within_ten_percent_of_it() -> None:
    """No layout of blind contributions beats (ln 2)^2 / ln(1/target) per slot; 16 parts in one
    mask block come within 10 % of it."""
    for bits in (20, 22):
        per_slot = Layout(bits, 16).capacity() / (1 << bits)
        assert 0.9 * pure_slot_bound() < per_slot <= pure_slot_bound()


"""The keyword layout: each member's segment, one applicant's candidates in one mask block, and
a member's record at exactly one of them in its own segment."""

from __future__ import annotations

import os

import numpy as np
import pytest

from node.query import record
from node.query.contribution import EventKind, LoanBook, LoanEvent
from node.query.errors import ContributionError
from node.query.layout import BLOCK_SLOTS, CHOICES, MAX_LOAD, Layout, hash_applicant

MEMBERS = ("telecom", "bank", "platform")


def _packed(values: record.Aggregates) -> np.ndarray:
    """One member's record for an applicant, saturated at the caps, as it packs it."""
    values = record.saturate(values)
    return record.pack(np.array([5], dtype=np.uint32),
                       {n: np.array([getattr(values, n)]) for n in record.FIELDS})[0]


def test_segments_follow_the_contributors_sorted() -> None:
    layout = Layout.of(10, MEMBERS)
    assert layout.members == ("bank", "platform", "telecom")
    assert [layout.segment_of(m) for m in ("bank", "platform", "telecom")] == [0, 1, 2]
    assert layout.subtables == CHOICES * 3
    assert layout.slots == 3 * CHOICES * 1024


def test_an_org_outside_the_contributors_has_no_segment() -> None:
    with pytest.raises(ValueError, match="not a contributor"):
        Layout.of(10, MEMBERS).segment_of("regulator")


def test_a_layout_needs_distinct_contributors() -> None:
    with pytest.raises(ValueError, match="distinct"):
        Layout(10, ("bank", "bank"))
    with pytest.raises(ValueError, match="distinct"):
        Layout(10, ())


def test_the_fingerprint_names_size_and_contributors() -> None:
    base = Layout.of(10, MEMBERS)
    assert base.fingerprint() == Layout.of(10, reversed(MEMBERS)).fingerprint()
    assert base.fingerprint() != Layout.of(11, MEMBERS).fingerprint()
    assert base.fingerprint() != Layout.of(10, ["bank", "platform", "lender"]).fingerprint()


def test_the_fingerprint_names_the_record_format(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shares stored under the earlier record format are never combined with this one's."""
    now = Layout.of(10, MEMBERS).fingerprint()
    monkeypatch.setattr("node.query.layout.FORMAT", record.FORMAT - 1)
    assert Layout.of(10, MEMBERS).fingerprint() != now


def test_the_fingerprint_names_the_contribution_format(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole-table contributions stored before segments are dropped, never read as segments."""
    now = Layout.of(10, MEMBERS).fingerprint()
    monkeypatch.setattr("node.query.layout.CONTRIBUTION_FORMAT", 1)
    assert Layout.of(10, MEMBERS).fingerprint() != now


def test_a_part_can_hold_fewer_blocks_than_its_dpf_domain() -> None:
    layout = Layout.of_blocks(12, MEMBERS)
    assert (layout.part_bits, layout.part_blocks, layout.part_slots) == (14, 12, 12 * 1024)
    assert layout.slots == 3 * CHOICES * 12 * 1024 and layout.part_words == 192
    assert layout.fingerprint() != Layout.of(14, MEMBERS).fingerprint()
    assert Layout.of(14, MEMBERS).part_blocks == 16


@pytest.mark.parametrize(("bits", "blocks"), [(15, 12), (14, 17), (10, 2)])
def test_a_layout_refuses_a_dpf_domain_that_is_not_the_smallest_for_its_blocks(
        bits: int, blocks: int) -> None:
    with pytest.raises(ValueError, match="DPF domain"):
        Layout(bits, MEMBERS, blocks)


def test_for_applicants_takes_the_fewest_blocks_not_the_next_power_of_two() -> None:
    layout = Layout.for_applicants(1_760_000, MEMBERS)
    assert layout.part_bits == 20 and layout.part_blocks == 717
    assert layout.capacity >= 1_760_000 > Layout.of_blocks(716, MEMBERS).capacity


def test_candidates_spread_over_every_block_of_a_part_and_no_further() -> None:
    layout = Layout.of_blocks(12, MEMBERS)
    salt = os.urandom(32)
    blocks = np.zeros(12, dtype=np.int64)
    for i in range(2400):
        positions, _ = layout.locate(hash_applicant(salt, f"applicant-{i}"))
        assert all(0 <= p < layout.part_slots for p in positions)
        blocks[Layout.block_of(positions[0])] += 1
    assert blocks.min() > 140 and blocks.max() < 260  # 200 each expected, sd ~14


def test_candidates_share_one_mask_block_and_the_tag_is_never_zero() -> None:
    layout = Layout.of(12, MEMBERS)
    salt = os.urandom(32)
    for i in range(500):
        positions, tag = layout.locate(hash_applicant(salt, f"applicant-{i}"))
        assert len(positions) == CHOICES
        assert len({Layout.block_of(p) for p in positions}) == 1
        assert all(0 <= p < layout.part_slots for p in positions)
        assert 0 < tag < 2 ** 32


def test_positions_depend_on_the_salt() -> None:
    layout = Layout.of(14, MEMBERS)
    a = layout.locate(hash_applicant(b"a" * 32, "alice"))
    b = layout.locate(hash_applicant(b"b" * 32, "alice"))
    assert a != b


def test_cells_and_mask_offsets_cover_every_segment() -> None:
    layout = Layout.of(12, MEMBERS)
    positions = [5, BLOCK_SLOTS + 6, 4 * BLOCK_SLOTS - 1]
    assert layout.cell(0, 0, 5) == 5
    assert layout.cell(2, 1, 130) == (2 * CHOICES + 1) * 4096 + 130
    assert layout.offsets(positions) == [5, 6, BLOCK_SLOTS - 1] * 3


def test_for_applicants_is_the_smallest_size_within_the_load() -> None:
    layout = Layout.for_applicants(400_000, MEMBERS)
    assert 400_000 <= layout.capacity <= 400_000 * 2
    assert Layout(layout.part_bits - 1, layout.members).capacity < 400_000
    assert layout.capacity == int(MAX_LOAD * CHOICES * layout.part_slots)


def test_the_wrong_answer_bound_counts_every_slot_read() -> None:
    assert Layout.of(10, MEMBERS).wrong_answer_bound == 9 * 2.0 ** -32


def test_a_members_contribution_is_its_segment_each_record_at_one_candidate() -> None:
    layout = Layout.of(10, MEMBERS)
    book = LoanBook(os.urandom(32), layout, "platform")
    ids = [f"applicant-{i}" for i in range(1500)]
    book.ingest_many([LoanEvent(EventKind.LOAN_OPENED, a, 10, f"L{i}", 100 + i)
                      for i, a in enumerate(ids)])
    vector = book.vector(book.aggregates(10))
    assert vector.shape == (layout.segment_slots, record.LANES)
    start = layout.segment_of("platform") * layout.segment_slots
    used = set()
    for i, applicant in enumerate(ids):
        positions, tag = layout.locate(book.key(applicant))
        cells = [layout.cell(1, c, p) - start for c, p in enumerate(positions)]
        held = [c for c in cells if int(record.field(vector[c], "tag")) == tag]
        assert len(held) == 1, applicant
        assert int(record.field(vector[held[0]], "outstanding_cents")) == 100 + i
        used.add(held[0])
    assert len(used) == len(ids) == np.count_nonzero(vector.any(axis=1))


def test_a_book_too_big_for_its_segment_is_refused_before_anything_is_sent() -> None:
    layout = Layout.of(10, MEMBERS)
    book = LoanBook(os.urandom(32), layout, "bank")
    book.ingest_many([LoanEvent(EventKind.APPLICATION, f"a-{i}", 10)
                      for i in range(layout.segment_slots + 1)])
    with pytest.raises(ContributionError, match="larger part_bits"):
        book.vector(book.aggregates(10))


def test_a_non_contributor_builds_no_vector() -> None:
    book = LoanBook(os.urandom(32), Layout.of(10, MEMBERS), "regulator")
    book.ingest(LoanEvent(EventKind.APPLICATION, "ann", 10))
    with pytest.raises(ContributionError, match="not a contributor"):
        book.vector(book.aggregates(10))


@pytest.mark.parametrize("name", record.FIELDS)
def test_member_values_saturate_at_the_caps(name: str) -> None:
    big = record.saturate(record.Aggregates(**{name: 1 << 50}))
    assert getattr(big, name) == record.MEMBER_CAPS[name]
    packed = _packed(record.Aggregates(**{name: 1 << 50}))
    assert int(record.field(packed, name)) == record.MEMBER_CAPS[name]


@pytest.mark.parametrize("name", record.FIELDS)
def test_a_field_holds_one_members_capped_value_and_no_more(name: str) -> None:
    """Sums over members are made in round 2 (Z_2^64), not in the table: a field is as wide as
    its member cap, every bit of it read."""
    width = record.LAYOUT[name][2]
    assert width == record.MEMBER_CAPS[name].bit_length()
    packed = _packed(record.Aggregates(**record.MEMBER_CAPS))
    assert int(record.field(packed, name)) == record.MEMBER_CAPS[name]

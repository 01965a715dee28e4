"""Fieldwise record arithmetic against a per-field reference, and the answer mask it makes safe:
an asker of a lookup under a job withholding a field gets nothing about that field."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from node.query import fieldwise, matching, record
from node.query.record import FIELDS, LANES, LAYOUT, MAX_CONTRIBUTORS, MEMBER_CAPS

Layout = Mapping[str, tuple[int, int, int]]

ODD = {  # one-bit fields and a whole-lane field
    "a": (0, 63, 1), "b": (0, 62, 1), "c": (0, 55, 7), "d": (0, 1, 54), "e": (0, 0, 1),
    "f": (1, 0, 64), "g": (2, 32, 32), "h": (2, 0, 32),
}


def reference(a: np.ndarray, b: np.ndarray, layout: Layout, subtract: bool) -> np.ndarray:
    """Field by field in Python integers, each mod 2^width."""
    out = np.zeros_like(a)
    for row in range(len(a)):
        for lane, shift, width in layout.values():
            top = (1 << width) - 1
            x = (int(a[row, lane]) >> shift) & top
            y = (int(b[row, lane]) >> shift) & top
            out[row, lane] |= np.uint64(((x - y if subtract else x + y) & top) << shift)
    return out


def random_records(rng: np.random.Generator, rows: int, lanes: int) -> np.ndarray:
    return rng.integers(0, 2**64, (rows, lanes), dtype=np.uint64, endpoint=False)


def one_field(layout: Layout, name: str, value: int, lanes: int) -> np.ndarray:
    lane, shift, width = layout[name]
    out = np.zeros((1, lanes), dtype=np.uint64)
    out[0, lane] = np.uint64((value & ((1 << width) - 1)) << shift)
    return out


@pytest.mark.parametrize(("layout", "lanes"), [(LAYOUT, LANES), (ODD, 3)])
def test_add_and_sub_match_the_per_field_reference(layout: Layout, lanes: int) -> None:
    rng = np.random.default_rng(11)
    top = fieldwise.top_bits(layout, lanes)
    a, b = random_records(rng, 500, lanes), random_records(rng, 500, lanes)
    assert np.array_equal(fieldwise.add(a, b, top=top), reference(a, b, layout, False))
    assert np.array_equal(fieldwise.sub(a, b, top=top), reference(a, b, layout, True))


@pytest.mark.parametrize(("layout", "lanes"), [(LAYOUT, LANES), (ODD, 3)])
def test_every_field_wraps_around_within_itself(layout: Layout, lanes: int) -> None:
    """All-ones + 1 is 0 and 0 - 1 is all-ones in the field; no other field changes."""
    top = fieldwise.top_bits(layout, lanes)
    for name, (_, _, width) in layout.items():
        full = one_field(layout, name, (1 << width) - 1, lanes)
        one = one_field(layout, name, 1, lanes)
        zero = np.zeros((1, lanes), dtype=np.uint64)
        assert np.array_equal(fieldwise.add(full, one, top=top), zero), name
        assert np.array_equal(fieldwise.sub(zero, one, top=top), full), name
        assert np.array_equal(fieldwise.add(one, full, top=top), zero), name
        others = ~full  # every bit outside the field
        assert np.array_equal(fieldwise.add(full | others, one, top=top), others), name


def test_sub_undoes_add_in_place_on_either_operand() -> None:
    rng = np.random.default_rng(5)
    a, b = random_records(rng, 300, LANES), random_records(rng, 300, LANES)
    total = a.copy()
    assert fieldwise.add(total, b, out=total) is total
    assert np.array_equal(total, reference(a, b, LAYOUT, False))
    back = b.copy()
    fieldwise.sub(total, back, out=back)
    assert np.array_equal(back, a)


def test_tables_of_any_leading_shape_and_read_only_operands() -> None:
    rng = np.random.default_rng(2)
    a = random_records(rng, 24, LANES).reshape(2, 3, 4, LANES)
    b = random_records(rng, 24, LANES).reshape(2, 3, 4, LANES)
    a.flags.writeable = False
    got = fieldwise.sub(a, b)
    assert got.shape == a.shape
    assert np.array_equal(got.reshape(-1, LANES),
                          reference(a.reshape(-1, LANES), b.reshape(-1, LANES), LAYOUT, True))


def test_true_values_sum_the_same_fieldwise_as_in_lanes() -> None:
    """64 members at their caps: no field overflows, so lane sums (a member's own vector) and
    fieldwise sums (the servers') agree."""
    capped = record.pack(np.array([0xFFFFFFFF], dtype=np.uint32),
                         {n: np.array([MEMBER_CAPS[n]]) for n in FIELDS})
    lanes, fields = np.zeros_like(capped), np.zeros_like(capped)
    for _ in range(MAX_CONTRIBUTORS):
        lanes += capped
        fieldwise.add(fields, capped, out=fields)
    assert np.array_equal(lanes, fields)


def test_bad_operands_and_layouts_are_refused() -> None:
    a = np.zeros((4, LANES), dtype=np.uint64)
    with pytest.raises(ValueError, match="same shape"):
        fieldwise.add(a, np.zeros((4, 3), dtype=np.uint64))
    with pytest.raises(ValueError, match="same shape"):
        fieldwise.add(a, a.astype(np.int64))
    with pytest.raises(ValueError, match="writable"):
        fieldwise.add(a, a, out=np.zeros((4, LANES), dtype=np.uint64)[::-1])
    with pytest.raises(ValueError, match="cover every bit"):
        fieldwise.top_bits({"x": (0, 0, 63)}, 1)
    with pytest.raises(ValueError, match="overlaps"):
        fieldwise.top_bits({"x": (0, 0, 40), "y": (0, 30, 34)}, 1)


# ---- what the asker learns of the fields ----------------------------------------------------

def table_row(values: dict[str, int]) -> np.ndarray:
    """One slot of T: a single contributor's record (tag 7)."""
    return record.pack(np.array([7], dtype=np.uint32),
                       {n: np.array([values.get(n, 0)]) for n in FIELDS})


def asker_view(row: np.ndarray, mask_a: np.ndarray, mask_b: np.ndarray,
               answered: tuple[str, ...], add: object = fieldwise.add) -> record.Aggregates:
    """What a lookup of the slot's applicant returns: the servers hold D = T + R_A + R_B
    (summed with `add`), the asker R = R_A + R_B; both rounds' arithmetic (matching.py)."""
    table_d = add(add(row, mask_a), mask_b)  # type: ignore[operator]
    masks = add(mask_a, mask_b)  # type: ignore[operator]
    rho = np.random.default_rng().integers(0, 2**64, row.shape, dtype=np.uint64,
                                           endpoint=False)
    keys = matching.keys(7, masks, rho, answered)
    y = table_d ^ rho
    shares = [matching.shares(y, keys[party], answered, party) for party in (0, 1)]
    return matching.combine(shares[0], shares[1], answered)


def lanes_add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a + b


@pytest.mark.parametrize("withheld", FIELDS)
def test_tables_differing_only_in_a_withheld_field_look_the_same_to_the_asker(
    withheld: str,
) -> None:
    """For any masks (here: random, and the all-ones masks that make every field carry), two
    tables that differ only in a withheld field give the asker the same answer, and the
    answered fields exactly."""
    answered = tuple(f for f in FIELDS if f != withheld)
    true = {"active_loans": 3, "distinct_lenders": 2, "outstanding_cents": 123_456,
            "applications_7d": 4, "applications_30d": 9}
    first, second = table_row(true), table_row({**true, withheld: 0})
    rng = np.random.default_rng(withheld.encode()[0])
    draws = [random_records(rng, 1, LANES) for _ in range(20)]
    draws.append(np.full((1, LANES), 2**64 - 1, dtype=np.uint64))
    for mask_a in draws:
        mask_b = random_records(rng, 1, LANES)
        seen = asker_view(first, mask_a, mask_b, answered)
        assert seen == asker_view(second, mask_a, mask_b, answered)
        assert seen == record.Aggregates(**true).only(answered)


def test_with_lane_sums_an_answered_field_would_leak_the_carry_of_a_withheld_one() -> None:
    """Why fieldwise: the same lookup over lane sums (mod 2^64) tells the two tables apart."""
    answered = tuple(f for f in FIELDS if f != "applications_30d")
    first = table_row({"applications_30d": 1})
    second = table_row({})
    mask_a = np.zeros((1, LANES), dtype=np.uint64)
    mask_a[0, 1] = np.uint64((1 << 14) - 1)  # R's applications_30d field all ones: 1 carries
    mask_b = np.zeros((1, LANES), dtype=np.uint64)
    assert asker_view(first, mask_a, mask_b, answered, lanes_add) != asker_view(
        second, mask_a, mask_b, answered, lanes_add)
    assert asker_view(first, mask_a, mask_b, answered) == asker_view(
        second, mask_a, mask_b, answered)

"""The second round's arithmetic against the plaintext sum: only records carrying the
applicant's tag count, field by field, whatever else the slots hold."""

from __future__ import annotations

import os

import numpy as np
import pytest

from node.query import matching, record
from node.query.errors import ProtocolError
from node.query.record import FIELDS, LANES, Aggregates

TAG = 0x2468ACE1


def _records(tags: list[int], rng: np.random.Generator) -> np.ndarray:
    fields = {n: rng.integers(0, cap + 1, len(tags), dtype=np.uint64)
              for n, cap in record.MEMBER_CAPS.items()}
    return record.pack(np.array(tags, dtype=np.uint32), fields)


def _lookup(t: np.ndarray, fields: tuple[str, ...], rng: np.random.Generator,
            r: np.ndarray | None = None) -> Aggregates:
    """Round 2 as both servers and the asker run it, on slots T with masks R (fresh unless
    given) and a fresh rho."""
    if r is None:
        r = rng.integers(0, 2**64 - 1, t.shape, dtype=np.uint64, endpoint=True)
    d = t ^ r
    rho = np.frombuffer(os.urandom(t.nbytes), dtype=np.uint64).reshape(t.shape)
    y = d ^ rho
    keys = matching.keys(TAG, r, rho, fields)
    shares = [matching.shares(y, keys[party], fields, party) for party in (0, 1)]
    return matching.combine(shares[0], shares[1], fields)


def _sum(rows: np.ndarray, fields: tuple[str, ...]) -> Aggregates:
    return Aggregates(**{n: int(record.field(rows, n).sum()) for n in fields})


@pytest.mark.parametrize("seed", range(5))
def test_the_sum_is_over_the_slots_holding_the_applicant(seed: int) -> None:
    """5 members x 3 candidates: the applicant in some members' segments, other applicants and
    empty slots in the rest."""
    rng = np.random.default_rng(seed)
    tags = [TAG if rng.random() < 0.3 else int(rng.integers(1, 2**32)) for _ in range(15)]
    t = _records(tags, rng)
    t[rng.random(15) < 0.3] = 0  # empty slots
    mine = np.array([int(record.field(row, "tag")) == TAG for row in t])
    assert _lookup(t, FIELDS, rng) == _sum(t[mine], FIELDS)


@pytest.mark.parametrize("fields", [FIELDS, ("outstanding_cents", "active_loans")])
def test_a_batch_of_second_rounds_gives_each_lookup_its_own_sum(fields: tuple[str, ...]) -> None:
    """Three lookups' slots and keys in one call (a server's batch): each lookup's shares
    combine to the sum over its own slots holding the applicant, in the fields' order."""
    rng = np.random.default_rng(7)
    ys, keys, wanted = [], [], []
    for _ in range(3):
        tags = [TAG if rng.random() < 0.4 else int(rng.integers(1, 2**32)) for _ in range(15)]
        t = _records(tags, rng)
        r = rng.integers(0, 2**64 - 1, t.shape, dtype=np.uint64, endpoint=True)
        rho = rng.integers(0, 2**64 - 1, t.shape, dtype=np.uint64, endpoint=True)
        ys.append(t ^ r ^ rho)
        keys.append(matching.keys(TAG, r, rho, fields))
        wanted.append(_sum(t[np.array([int(record.field(row, "tag")) == TAG for row in t])],
                           fields))
    shares = [matching.shares_of(np.stack(ys), matching.parse_keys(
        b"".join(k[party] for k in keys), fields, party, 45), fields) for party in (0, 1)]
    for i in range(3):
        assert matching.combine(shares[0][i], shares[1][i], fields) == wanted[i]


def test_an_absent_applicant_gets_zeros() -> None:
    rng = np.random.default_rng(11)
    t = _records([int(x) for x in rng.integers(1, 2**32, 15)], rng)
    assert _lookup(t, FIELDS, rng) == Aggregates()


def test_three_hundred_members_at_the_caps_sum_without_overflow() -> None:
    """A field holds one member's value; the sum over members is a true integer (Z_2^64),
    however many contribute."""
    rng = np.random.default_rng(12)
    capped = {n: np.full(300, cap, dtype=np.uint64) for n, cap in record.MEMBER_CAPS.items()}
    t = record.pack(np.full(300, TAG, dtype=np.uint32), capped)
    assert _lookup(t, FIELDS, rng) == Aggregates(
        **{n: 300 * cap for n, cap in record.MEMBER_CAPS.items()})


def test_only_the_answered_fields_are_computed() -> None:
    rng = np.random.default_rng(13)
    t = _records([TAG] * 3, rng)
    fields = ("active_loans", "applications_7d")
    got = _lookup(t, fields, rng)
    assert got == _sum(t, fields)
    assert got.outstanding_cents == 0
    assert matching.payload_size(fields) < matching.payload_size(FIELDS)


@pytest.mark.parametrize("withheld", FIELDS)
def test_tables_differing_only_in_a_withheld_field_look_the_same_to_the_asker(
    withheld: str,
) -> None:
    """For any masks (random, and all ones), two tables that differ only in a withheld field
    give the asker the same answer, and the answered fields exactly."""
    answered = tuple(f for f in FIELDS if f != withheld)
    true = {"active_loans": 3, "distinct_lenders": 1, "outstanding_cents": 123_456,
            "applications_7d": 4, "applications_30d": 9}
    first = record.pack(np.array([TAG], dtype=np.uint32),
                        {n: np.array([v]) for n, v in true.items()})
    second = record.pack(np.array([TAG], dtype=np.uint32),
                         {n: np.array([0 if n == withheld else v]) for n, v in true.items()})
    rng = np.random.default_rng(len(withheld))
    draws = [rng.integers(0, 2**64 - 1, (1, LANES), dtype=np.uint64, endpoint=True)
             for _ in range(20)]
    draws.append(np.full((1, LANES), 2**64 - 1, dtype=np.uint64))
    for r in draws:
        seen = [_lookup(t, answered, rng, r) for t in (first, second)]
        assert seen[0] == seen[1] == Aggregates(**true).only(answered)


def test_a_key_for_the_other_server_is_refused() -> None:
    t = np.zeros((3, LANES), dtype=np.uint64)
    keys = matching.keys(TAG, t, t, FIELDS)
    with pytest.raises(ProtocolError, match="other server"):
        matching.shares(t, keys[1], FIELDS, 0)


def test_one_key_per_slot_is_required() -> None:
    t = np.zeros((3, LANES), dtype=np.uint64)
    keys = matching.keys(TAG, t, t, FIELDS)
    with pytest.raises(ProtocolError, match="one key per slot"):
        matching.shares(np.zeros((4, LANES), dtype=np.uint64), keys[0], FIELDS, 0)


@pytest.mark.parametrize("fields", [("credit_score",), ("active_loans", "active_loans")])
def test_unknown_or_repeated_fields_are_refused(fields: tuple[str, ...]) -> None:
    with pytest.raises(ProtocolError, match="distinct names"):
        matching.check_fields(fields)


def test_an_answer_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(ProtocolError, match="one share per answered field"):
        matching.combine(np.zeros(2, dtype=np.uint64), np.zeros(5, dtype=np.uint64), FIELDS)

"""A member's loan book: loan lifecycle, rolling windows by UTC day, and its secret shares."""

from __future__ import annotations

import numpy as np
import pytest

from node.query import record
from node.query.contribution import EventKind, LoanBook, LoanEvent
from node.query.errors import ContributionError
from node.query.layout import Layout
from node.query.masks import prg_share
from tests.unit.loan_helpers import random_events

SALT = b"alliance-salt-for-tests-32-bytes"


@pytest.fixture
def book() -> LoanBook:
    return LoanBook(SALT, Layout.of(10, ["bank", "telecom"]), "telecom")


def _agg(book: LoanBook, applicant: str, today: int) -> record.Aggregates | None:
    return book.aggregates(today).get(book.key(applicant))


def test_loan_lifecycle_sets_count_amount_and_lender(book: LoanBook) -> None:
    book.ingest_many([
        LoanEvent(EventKind.LOAN_OPENED, "ann", 1, "L1", 10_000),
        LoanEvent(EventKind.LOAN_OPENED, "ann", 2, "L2", 500),
        LoanEvent(EventKind.AMOUNT_CHANGED, "ann", 3, "L1", 7_000),
    ])
    assert _agg(book, "ann", 3) == record.Aggregates(2, 1, 7_500, 0, 0)
    book.ingest(LoanEvent(EventKind.LOAN_CLOSED, "ann", 4, "L1"))
    assert _agg(book, "ann", 4) == record.Aggregates(1, 1, 500, 0, 0)
    book.ingest(LoanEvent(EventKind.LOAN_CLOSED, "ann", 5, "L2"))
    assert _agg(book, "ann", 5) is None


@pytest.mark.parametrize(("today", "short", "long"), [
    (100, 1, 1), (106, 1, 1), (107, 0, 1), (129, 0, 1), (130, None, None)])
def test_an_application_stays_7_then_30_days(book: LoanBook, today: int, short: int | None,
                                             long: int | None) -> None:
    book.ingest(LoanEvent(EventKind.APPLICATION, "bob", 100))
    got = _agg(book, "bob", today)
    if short is None:
        assert got is None
    else:
        assert got is not None
        assert (got.applications_7d, got.applications_30d) == (short, long)


def test_applications_on_several_days_are_counted_per_window(book: LoanBook) -> None:
    for day in (70, 80, 95, 99, 100, 100):
        book.ingest(LoanEvent(EventKind.APPLICATION, "cy", day))
    got = _agg(book, "cy", 100)
    assert got is not None and (got.applications_7d, got.applications_30d) == (4, 5)


def test_events_that_do_not_fit_the_book_are_refused_and_change_nothing(book: LoanBook) -> None:
    book.ingest(LoanEvent(EventKind.LOAN_OPENED, "dee", 1, "L1", 100))
    with pytest.raises(ContributionError, match="already open"):
        book.ingest(LoanEvent(EventKind.LOAN_OPENED, "dee", 1, "L1", 100))
    with pytest.raises(ContributionError, match="loan_opened"):
        book.ingest(LoanEvent(EventKind.LOAN_CLOSED, "dee", 1, "nope"))
    with pytest.raises(ContributionError, match="not open for this applicant"):
        book.ingest(LoanEvent(EventKind.AMOUNT_CHANGED, "eve", 1, "L1", 5))
    with pytest.raises(ContributionError, match="negative"):
        book.ingest(LoanEvent(EventKind.AMOUNT_CHANGED, "dee", 1, "L1", -5))
    assert _agg(book, "dee", 1) == record.Aggregates(1, 1, 100, 0, 0)


def test_shares_add_back_to_the_vector_and_each_looks_random(book: LoanBook) -> None:
    book.ingest(LoanEvent(EventKind.LOAN_OPENED, "fay", 1, "L1", 100))
    vector = book.vector(book.aggregates(1))
    first = book.share(vector, 1)
    second = book.share(vector, 2)
    # XOR shares: what the servers combine, and what a masked answer needs
    assert np.array_equal(first.masked ^ prg_share(first.seed, book.layout.segment_slots), vector)
    assert first.seed != second.seed
    assert np.count_nonzero(first.masked == second.masked) == 0
    assert np.count_nonzero(vector) == 2  # both lanes of the one slot it holds


def _plain_records(events: list[LoanEvent], today: int) -> dict[str, record.Aggregates]:
    """The records one applicant at a time, in plain Python (the columns must agree)."""
    loans: dict[str, tuple[str, int]] = {}
    applied: dict[str, list[int]] = {}
    for e in events:
        if e.kind is EventKind.APPLICATION:
            applied.setdefault(e.applicant_id, []).append(e.day)
        elif e.kind is EventKind.LOAN_CLOSED:
            del loans[e.loan_id]
        else:
            loans[e.loan_id] = (e.applicant_id, e.amount_cents)
    out = {}
    for applicant in {a for a, _ in loans.values()} | set(applied):
        held = [amount for a, amount in loans.values() if a == applicant]
        days = applied.get(applicant, [])
        short = sum(today - 7 < d <= today for d in days)
        long = sum(today - 30 < d <= today for d in days)
        if held or long:
            out[applicant] = record.saturate(record.Aggregates(
                len(held), 1 if held else 0, sum(held), short, long))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_the_records_are_each_applicants_capped_sums_over_its_events(seed: int) -> None:
    rng = np.random.default_rng(seed)
    book = LoanBook(SALT, Layout.of(12, ["bank", "telecom"]), "telecom")
    events = random_events(rng, 4000, applicants=60, days=(0, 140), open_loans=[])
    book.ingest_many(events)
    for today in (100, 120, 139, 200):  # later days drop old applications from the book
        want = _plain_records(events, today)
        got = book.aggregates(today)
        assert {k: got[k] for k in got} == {book.key(a): r for a, r in want.items()}
        assert dict(got.as_dicts()) == {book.key(a): r.as_dict() for a, r in want.items()}

"""A member's loan book kept between pushes: the same records as one built from every stored
event, and never used when it no longer fits the events file, the salt or the day."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from node.query.contribution import LoanBook, LoanEvent, Records
from node.query.layout import Layout
from node.query.member_store import MemberStore
from tests.unit.loan_helpers import random_events

SALT = b"alliance-salt-for-tests-32-bytes"
LAYOUT = Layout.of(12, ["bank", "telecom"])
MEMBER = "telecom"


def _events(seed: int, count: int, open_loans: list[tuple[str, str]]) -> list[LoanEvent]:
    return random_events(np.random.default_rng(seed), count, applicants=300, days=(60, 140),
                         open_loans=open_loans, prefix=f"L{seed}-")


def _push(store: MemberStore, events: list[LoanEvent], day: int,
          layout: Layout = LAYOUT) -> Records:
    """What `feeding.push_book` does with the store, without the servers."""
    book = store.book(SALT, layout, MEMBER, day)
    book.ingest_many(events)
    records = book.aggregates(day)
    store.add_events(events)
    store.keep_book(book)
    return records


def _rebuilt(events: list[LoanEvent], day: int, layout: Layout = LAYOUT) -> Records:
    book = LoanBook(SALT, layout, MEMBER)
    book.ingest_many(events)
    return book.aggregates(day)


def _same(got: Records, want: Records) -> None:
    assert dict(got.as_dicts()) == dict(want.as_dicts())
    order = {key: row for row, key in enumerate(want.applicants)}
    rows = [order[key] for key in got.applicants]
    assert np.array_equal(got.positions, want.positions[rows])
    assert np.array_equal(got.tags, want.tags[rows])


def test_pushes_from_a_kept_book_give_the_records_of_every_event(tmp_path: Path) -> None:
    store, stored, open_loans = MemberStore(tmp_path), [], []
    for push, day in enumerate((120, 120, 125, 139, 170)):
        new = _events(push, 700, open_loans)
        got = _push(store, new, day)
        stored += new
        _same(got, _rebuilt(stored, day))
    assert store.book_file.exists()


def test_a_kept_book_is_read_with_only_the_events_stored_since(tmp_path: Path) -> None:
    store, open_loans = MemberStore(tmp_path), []
    first, second = _events(1, 2000, open_loans), _events(2, 50, open_loans)
    _push(store, first, 130)
    store.add_events(second)  # stored by a push whose book could not be kept
    text = store.events_file.read_text()
    broken = text.replace('"kind"', '"kynd"', 1)  # the first event: long before the book's end
    store.events_file.write_text(broken)
    assert len(broken) == len(text)
    book = store.book(SALT, LAYOUT, MEMBER, 130)
    assert book.events == len(first) + len(second)
    _same(book.aggregates(130), _rebuilt(first + second, 130))


def test_a_book_kept_for_another_layout_is_located_again(tmp_path: Path) -> None:
    store, open_loans = MemberStore(tmp_path), []
    events = _events(3, 1500, open_loans)
    _push(store, events, 130)
    wider = Layout.of(13, ["bank", "telecom"])
    _same(store.book(SALT, wider, MEMBER, 130).aggregates(130), _rebuilt(events, 130, wider))


@pytest.mark.parametrize("change", ["replaced", "shorter", "garbage", "salt", "member"])
def test_a_kept_book_that_no_longer_fits_is_not_used(tmp_path: Path, change: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    store, open_loans = MemberStore(tmp_path), []
    events = _events(4, 1500, open_loans)
    _push(store, events, 130)
    salt, member = SALT, MEMBER
    if change == "replaced":  # restored from another backup
        events = _events(5, 1600, [])
        store.events_file.unlink()
        store.add_events(events)
    elif change == "shorter":
        events = events[:1000]
        store.events_file.unlink()
        store.add_events(events)
    elif change == "garbage":
        store.book_file.write_bytes(b"PK\x03\x04 not a book")
    elif change == "salt":
        salt = b"another-salt-for-tests-32-bytes!"
    else:
        member = "bank"
    with caplog.at_level(logging.INFO, logger="node.query.book_file"):
        book = store.book(salt, LAYOUT, member, 130)
    assert "building it from every stored event" in caplog.text
    rebuilt = LoanBook(salt, LAYOUT, member)
    rebuilt.ingest_many(events)
    _same(book.aggregates(130), rebuilt.aggregates(130))


def test_a_day_before_the_kept_book_was_cut_builds_it_again(tmp_path: Path) -> None:
    store, open_loans = MemberStore(tmp_path), []
    events = _events(6, 1500, open_loans)
    _push(store, events, 170)  # drops the applications of days before 141
    _same(store.book(SALT, LAYOUT, MEMBER, 130).aggregates(130), _rebuilt(events, 130))


def test_a_book_cut_at_a_day_refuses_an_earlier_one() -> None:
    from node.query.errors import ContributionError

    book = LoanBook(SALT, LAYOUT, MEMBER)
    book.ingest_many(_events(7, 200, []))
    book.aggregates(170)
    with pytest.raises(ContributionError, match="build it again"):
        book.aggregates(169)

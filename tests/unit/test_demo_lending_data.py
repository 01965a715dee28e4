"""The query demo's clear figures are the node's own: `exposure_in_clear` (plain Python over the
events) equals the sum of the other lenders' `LoanBook` records, so the demo checks its lookups
against what the protocol must answer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from alliance.app.query import parse_events
from alliance.cli.demo.lending_data import (
    APPLICANTS,
    LENDERS,
    NOBODY,
    exposure_in_clear,
    featured,
    record_in_clear,
    write_books,
)
from node.query.contribution import LoanBook
from node.query.layout import Layout
from node.query.record import FIELDS

TODAY = (dt.date(2026, 12, 5) - dt.date(1970, 1, 1)).days
SALT = b"s" * 32


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list]]:
    return write_books(tmp_path_factory.mktemp("lending"), seed=7, today=TODAY)


def _node_records(books: dict[str, tuple[Path, list]]) -> dict[str, tuple[LoanBook, dict]]:
    """Each lender's book as its node builds it from the CSV the demo writes."""
    layout = Layout.for_applicants(APPLICANTS, LENDERS)
    out = {}
    for org, (path, _) in books.items():
        book = LoanBook(SALT, layout, org)
        book.ingest_many(parse_events(path))
        out[org] = (book, dict(book.aggregates(TODAY).as_dicts()))
    return out


def test_the_clear_exposure_is_the_sum_of_the_other_lenders_node_records(books) -> None:
    nodes = _node_records(books)
    events = {org: e for org, (_, e) in books.items()}
    asked = [f"C{i:05d}" for i in range(0, APPLICANTS, 7)] + ["C00042", NOBODY]
    for applicant in asked:
        want = dict.fromkeys(FIELDS, 0)
        for org, (book, records) in nodes.items():
            if org != "platform":
                for name, value in records.get(book.key(applicant), {}).items():
                    want[name] += value
        assert exposure_in_clear(events, "platform", applicant, TODAY) == want, applicant


def test_the_featured_applicants_show_what_they_are_said_to(books) -> None:
    events = {org: e for org, (_, e) in books.items()}
    (featured_one, _), (both, _), (applied, _), (alone, why), (nobody, _) = featured(
        events, "platform", TODAY)

    def held(org: str, applicant: str) -> dict[str, int]:
        return record_in_clear(events[org], applicant, TODAY)

    assert featured_one == "C00042" and nobody == NOBODY
    for applicant in (featured_one, both):
        assert all(held(org, applicant)["active_loans"] for org in ("bank", "telecom"))
    assert held("bank", applied)["applications_7d"] or held("telecom", applied)["applications_7d"]
    assert held("platform", alone)["active_loans"] > 0 and "not counted" in why
    for applicant in (alone, nobody):
        assert exposure_in_clear(events, "platform", applicant, TODAY) == dict.fromkeys(FIELDS, 0)

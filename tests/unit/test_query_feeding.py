"""A member's push tells a front end each step as it starts, and stores nothing before both
servers took the contribution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from node.query.contribution import EventKind, LoanEvent
from node.query.feeding import push_book
from node.query.layout import Layout
from node.query.member_store import MemberStore

SALT = b"alliance-salt-for-tests-32-bytes"


def test_a_push_says_each_step_before_it_starts(tmp_path: Path) -> None:
    store, steps = MemberStore(tmp_path), []

    class Servers:
        org = "telecom"

        def contribute(self, contribution: Any) -> None:
            steps.append(f"taken with {len(store.events())} events stored")

    events = [LoanEvent(EventKind.LOAN_OPENED, "ann", 130, "L1", 700),
              LoanEvent(EventKind.APPLICATION, "bob", 130)]
    servers: Any = Servers()  # stands in for both servers' QueryClient
    pushed = push_book(store, SALT, Layout.of(10, ["bank", "telecom"]), servers, events, 130,
                       steps.append)
    assert steps == ["building the loan book from every stored event (none kept to start from)",
                     "adding 2 new event(s)", "forming and sharing its records",
                     "sending contribution version 1 to both servers", "taken with 0 events stored",
                     "storing the events and keeping the book for the next push"]
    assert (pushed.events, pushed.applicants, pushed.version) == (2, 2, 1)
    assert store.events() == events and store.book_file.exists()
    steps.clear()
    push_book(store, SALT, Layout.of(10, ["bank", "telecom"]), servers, [], 131, steps.append)
    assert steps[:2] == ["reading the kept loan book and the events stored since",
                         "adding 0 new event(s)"]

"""A member's contribution pushed to both servers: its stored events plus any new ones, folded
into the day's aggregates, secret-shared, recorded (for own-exclusion) and sent.

One push at a time per member (an exclusive lock on its store), whether `alliance query events`
or the node's daily re-share pushes, so two pushes never take the same version. New events are
checked against the book before anything is stored or sent, and stored only once both servers
took the contribution: a refused or failed push leaves the store as it was (the sent version's
record may remain; it is only ever read for the version a server reports).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from node.query.client import QueryClient
from node.query.contribution import LoanEvent
from node.query.layout import Layout
from node.query.member_store import MemberStore

SECONDS_PER_DAY = 86400


def utc_day(at: float) -> int:
    """Days since 1970-01-01 UTC: the windows' day buckets."""
    return int(at // SECONDS_PER_DAY)


@dataclass(frozen=True)
class Pushed:
    events: int
    """New events added by this push (0 for a re-share)."""
    applicants: int
    version: int
    day: int


def push_book(store: MemberStore, salt: bytes, layout: Layout, client: QueryClient,
              events: list[LoanEvent], day: int,
              step: Callable[[str], None] = lambda _: None) -> Pushed:
    """Share the member's whole book (stored events + `events`) as of UTC `day` with both
    servers. ContributionError before anything is stored or sent if an event does not fit.
    `step` is told each step as it starts (a front end's progress)."""
    with store.locked():
        book = store.book(salt, layout, client.org, day, step)
        step(f"adding {len(events):,} new event(s)")
        book.ingest_many(events)
        step("forming and sharing its records")
        version = store.next_version()
        records = book.aggregates(day)
        contribution = book.share(book.vector(records), version)
        store.save_sent(version, records)
        step(f"sending contribution version {version} to both servers")
        client.contribute(contribution)
        step("storing the events and keeping the book for the next push")
        store.add_events(events)
        store.keep_book(book)
        store.save_pushed(version, day, layout.fingerprint())
    return Pushed(len(events), len(records), version, day)

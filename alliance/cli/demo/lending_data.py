"""Seeded synthetic loan books for the multi-lender query demo, and the exposure in the clear.

Three lenders (the bank, the telecom's consumer-credit arm, the platform's pay-later) about one
pool of applicants: each holds loans to some of them (opened, some changed or closed since) and
saw applications from some. The events of each are written in date order as the CSV a member
feeds (`alliance query events`). `exposure_in_clear` is what a lookup must answer, computed
from every member's events in plain Python: the demo can, because it holds every member's book.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from node.query.record import FIELDS, MEMBER_CAPS

APPLICANTS = 1_500
LENDERS = ("bank", "telecom", "platform")
FEATURED = "C00042"
"""Made a borrower at the bank and the telecom, and an applicant at the platform."""
NOBODY = "NOBODY-1"
COLUMNS = ("kind", "applicant_id", "date", "loan_id", "amount_cents")
EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Event:
    kind: str
    applicant: str
    day: int
    loan: str = ""
    amount: int = 0


def _date(day: int) -> str:
    return (EPOCH + dt.timedelta(days=day)).isoformat()


def make_events(org: str, seed: int, today: int) -> list[Event]:
    """One lender's events, oldest first: loans to ~30 % of the pool (a third changed, a fifth
    closed since), applications from ~25 % over the last 40 days."""
    rng = np.random.default_rng([seed, sum(org.encode())])
    events: list[Event] = []
    borrowers = rng.choice(APPLICANTS, size=APPLICANTS * 3 // 10, replace=False)
    forced = {"bank": [FEATURED], "telecom": [FEATURED], "platform": []}[org]
    for n, applicant in enumerate([f"C{int(i):05d}" for i in borrowers] + forced):
        opened = today - int(rng.integers(1, 400))
        loan = f"{org[:1].upper()}-{n:05d}"
        events.append(Event("loan_opened", applicant, opened, loan,
                            int(rng.integers(50_000, 5_000_000))))
        if rng.random() < 0.33:
            events.append(Event("amount_changed", applicant, opened + int(rng.integers(0, 30)),
                                loan, int(rng.integers(10_000, 5_000_000))))
        if rng.random() < 0.2:
            events.append(Event("loan_closed", applicant, opened + int(rng.integers(30, 60)),
                                loan))
    askers = rng.choice(APPLICANTS, size=APPLICANTS // 4, replace=False)
    extra = [FEATURED, FEATURED] if org == "platform" else []
    for applicant in [f"C{int(i):05d}" for i in askers] + extra:
        events.append(Event("application", applicant, today - int(rng.integers(0, 40))))
    order = {"loan_opened": 0, "amount_changed": 1, "application": 1, "loan_closed": 2}
    events.sort(key=lambda e: (e.day, order[e.kind]))
    # a change or closing drawn for a day after today did not happen yet
    return [e for e in events if e.day <= today]


def write_events(path: Path, events: list[Event]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as sink:
        writer = csv.writer(sink)
        writer.writerow(COLUMNS)
        for e in events:
            writer.writerow((e.kind, e.applicant, _date(e.day), e.loan, e.amount if e.loan else 0))
    return path


def write_books(folder: Path, seed: int, today: int) -> dict[str, tuple[Path, list[Event]]]:
    """Each lender's events CSV in `folder`: {org: (path, events)}."""
    books = {}
    for org in LENDERS:
        events = make_events(org, seed, today)
        books[org] = (write_events(folder / f"{org}-loans.csv", events), events)
    return books


def record_in_clear(events: list[Event], applicant: str, today: int) -> dict[str, int]:
    """One lender's record of one applicant on `today`, capped as a member's node caps it
    (node/query/record.py): open loans and their outstanding amounts, applications in the last
    7 and 30 days."""
    loans: dict[str, int] = {}
    applied: list[int] = []
    for e in events:
        if e.applicant != applicant:
            continue
        if e.kind == "application":
            applied.append(e.day)
        elif e.kind in ("loan_opened", "amount_changed"):
            loans[e.loan] = min(e.amount, MEMBER_CAPS["outstanding_cents"])
        else:
            loans.pop(e.loan, None)
    values = {"active_loans": len(loans), "distinct_lenders": min(len(loans), 1),
              "outstanding_cents": sum(loans.values()),
              "applications_7d": sum(today - 7 < d <= today for d in applied),
              "applications_30d": sum(today - 30 < d <= today for d in applied)}
    return {name: min(values[name], MEMBER_CAPS[name]) for name in FIELDS}


def exposure_in_clear(books: dict[str, list[Event]], asker: str, applicant: str,
                      today: int) -> dict[str, int]:
    """What a lookup by `asker` must answer: the sum of the *other* lenders' records."""
    total = dict.fromkeys(FIELDS, 0)
    for org, events in books.items():
        if org != asker:
            for name, value in record_in_clear(events, applicant, today).items():
                total[name] += value
    return total


def featured(books: dict[str, list[Event]], asker: str, today: int) -> list[tuple[str, str]]:
    """The applicants the demo asks about, each showing one thing, with what it shows: FEATURED;
    one with loans at both other lenders; one who applied elsewhere this week; one who borrows
    from the asker alone (its own loans are excluded: all zeros); NOBODY, whom no lender
    knows."""
    others = [org for org in books if org != asker]
    records = {org: {e.applicant for e in events} for org, events in books.items()}

    def first(test: Callable[[str], bool]) -> str:
        pool = sorted(set().union(*records.values()) - {FEATURED})
        return next((a for a in pool if test(a)), NOBODY)

    def held(org: str, applicant: str) -> dict[str, int]:
        return record_in_clear(books[org], applicant, today)

    return [(FEATURED, f"borrows at {' and '.join(others)}"),
            (first(lambda a: all(held(o, a)["active_loans"] for o in others)),
             f"borrows at {' and '.join(others)}"),
            (first(lambda a: any(held(o, a)["applications_7d"] for o in others)),
             "applied elsewhere this week"),
            (first(lambda a: held(asker, a)["active_loans"] > 0
                   and not any(a in records[o] for o in others)),
             f"borrows from {asker} alone: its own loans are not counted"),
            (NOBODY, "no lender knows")]

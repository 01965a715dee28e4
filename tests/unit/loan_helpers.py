"""Random loan event streams for the loan book's tests: applications, openings, amount changes
(some above what a record holds) and closings of loans opened earlier."""

from __future__ import annotations

import numpy as np

from node.query.contribution import EventKind, LoanEvent


def random_events(rng: np.random.Generator, count: int, *, applicants: int, days: tuple[int, int],
                  open_loans: list[tuple[str, str]], prefix: str = "L") -> list[LoanEvent]:
    """`count` events over `applicants` ids and days in [days[0], days[1]); `open_loans` (loan,
    applicant) is carried across calls, so a later stream changes and closes earlier loans."""
    events = []
    for n in range(count):
        applicant, day = f"a{rng.integers(applicants)}", int(rng.integers(*days))
        roll = rng.random()
        if roll < 0.5:
            events.append(LoanEvent(EventKind.APPLICATION, applicant, day))
        elif roll < 0.75 or not open_loans:
            amount = int(rng.choice([rng.integers(0, 10**6), rng.integers(2**33, 2**40)]))
            events.append(LoanEvent(EventKind.LOAN_OPENED, applicant, day, f"{prefix}{n}", amount))
            open_loans.append((f"{prefix}{n}", applicant))
        else:
            loan, holder = open_loans[int(rng.integers(len(open_loans)))]
            if roll < 0.9:
                events.append(LoanEvent(EventKind.AMOUNT_CHANGED, holder, day, loan,
                                        int(rng.integers(0, 2**36))))
            else:
                events.append(LoanEvent(EventKind.LOAN_CLOSED, holder, day, loan))
                open_loans.remove((loan, holder))
    return events

"""A query server's metering: its signed period summaries committed to the ledger.

Every `every` seconds the committer takes, for each service job queries were logged under (and
the one in force), that job's log entries from where its last committed summary ended up to the
last period boundary before a settled moment (now - SETTLE_SECONDS, so no query still being
logged can fall behind it; with `partial`, up to that moment), cut at the job's metering period
boundaries, and submits one CommitQuerySummary per non-empty slice: counts per member and the
Merkle root of the entries, signed by the server's node key (the contract verifies the
signature with the transaction's certificate, checks the period order and the daily quotas).
Where a job's summaries end is read back from the ledger (ListQuerySummaries), so a restarted
server continues where the ledger says, never twice.

Each query is logged with the job that admitted it (store.py), and a job's summaries hold its
own queries only: when a newer job replaces one, the older job's last queries are still
committed under it (its purposes, members and quotas), and the newer job's summaries start with
the first query it admitted; a slice the contract refuses holds back its own job only.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from alliance.protocols.multilender import ServiceTerms
from node.query.errors import QueryError
from node.query.governance import LedgerAuthorizer
from node.query.server import QueryServer

log = logging.getLogger("node.query.metering")

SETTLE_SECONDS = 3
"""A query is logged within this many seconds of the server reading its clock for it."""


def slices(start: int, end: int, period: int) -> list[tuple[int, int]]:
    """[start, end) cut at multiples of `period`. Pure."""
    out = []
    while start < end:
        stop = min(end, (start // period + 1) * period)
        out.append((start, stop))
        start = stop
    return out


class SummaryCommitter:
    """Commits `server`'s summaries for every job its log holds queries of; `start()`,
    `stop()`."""

    def __init__(self, server: QueryServer, authorizer: LedgerAuthorizer,
                 contract: Callable[[], Any], *, every: float = 60.0, partial: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self.server = server
        self.authorizer = authorizer
        self.contract = contract
        self.every = every
        self.partial = partial
        """Also commit the elapsed part of the current period (then a period may have several
        summaries, each a contiguous slice)."""
        self.clock = clock
        self.committed = 0
        self.last_error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._terms: dict[str, ServiceTerms] = {}
        """A job's terms (they never change under one job id)."""
        self._until: dict[str, int] = {}
        """Where a job's committed summaries end, as last read from the ledger or committed."""

    def start(self) -> SummaryCommitter:
        self._thread = threading.Thread(target=self._loop, name="query-metering", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.commit_due()
                self.last_error = ""
            except Exception as exc:  # the ledger is down: the log stays, try again later
                self.last_error = str(exc)
                log.warning("could not commit query summaries: %s", exc)

    def _jobs(self) -> list[str]:
        """The jobs queries were logged under, and the one in force."""
        jobs = self.server.store.log_jobs()
        terms = self.authorizer.policy.terms
        if terms is not None:
            self._terms[terms.job_id] = terms
            if terms.job_id not in jobs:
                jobs.append(terms.job_id)
        return jobs

    def _committed(self, job_id: str) -> list[dict[str, Any]]:
        raw = self.contract().evaluate_transaction("ListQuerySummaries", job_id)
        return [s for s in json.loads(raw or b"[]") if s["server"] == self.server.name]

    def _read(self, job_id: str) -> None:
        """The job's terms and where its summaries end, from the ledger."""
        job = json.loads(self.contract().evaluate_transaction("GetJob", job_id))
        self._terms[job_id] = ServiceTerms.from_job(job)
        ends = [s["period_end"] for s in self._committed(job_id)]
        self._until[job_id] = max(ends, default=int(job["created_at"]))

    def check_committed(self) -> list[str]:
        """Compare this server's log with every summary it committed to the ledger (after a
        restart: a log that lost or changed entries no longer hashes to the committed root);
        the periods that differ, each logged as an error."""
        bad = []
        for job_id in self._jobs():
            for committed in self._committed(job_id):
                mine = self.server.summary(committed["period_start"], committed["period_end"],
                                           job_id)
                if (mine.merkle_root, mine.entries) == (committed["merkle_root"],
                                                        committed["entries"]):
                    continue
                span = f"{committed['period_start']}..{committed['period_end']}"
                bad.append(span)
                log.error("%s: the query log of %s no longer matches the root committed in tx "
                          "%s (%d entries committed, %d logged); audits of that period fail",
                          self.server.name, span, committed["tx_id"], committed["entries"],
                          mine.entries)
        return bad

    def commit_due(self) -> int:
        """Commit every non-empty slice not committed yet, job by job; how many were
        committed. A job the ledger refuses or cannot answer for holds back no other: the
        errors are raised together after every job was tried."""
        done, errors = 0, []
        for job_id in self._jobs():
            try:
                done += self._commit_job(job_id)
            except Exception as exc:
                self._until.pop(job_id, None)  # read from the ledger again next time
                errors.append(f"{job_id}: {exc}")
        if errors:
            raise QueryError("; ".join(errors))
        return done

    def _commit_job(self, job_id: str) -> int:
        until = self._until.get(job_id)
        if until is None:  # first time, or after an error: from the ledger
            self._read(job_id)
        elif (last := self.server.store.last_logged(job_id)) is None or last < until:
            return 0  # every query of it is committed: no ledger read
        terms, start = self._terms[job_id], self._until[job_id]
        end = int(self.clock()) - SETTLE_SECONDS
        if not self.partial:  # whole periods only: one summary per server and period
            end -= end % terms.period_seconds
        done = 0
        for lo, hi in slices(start, end, terms.period_seconds):
            summary = self.server.summary(lo, hi, job_id)
            if summary.entries:
                body = {**summary.body(), "signature": summary.signature}
                self.contract().submit_transaction("CommitQuerySummary", job_id,
                                                   json.dumps(body))
                done += 1
                self.committed += 1
                log.info("%s committed %d entries of %s, %d..%d (%s)", self.server.name,
                         summary.entries, job_id, lo, hi, summary.merkle_root)
            self._until[job_id] = hi
        return done

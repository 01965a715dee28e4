"""A query server's metering: its signed period summaries committed to the ledger.

Every `every` seconds the committer takes the log entries from where its last committed summary
ended up to the last period boundary before a settled moment (now - SETTLE_SECONDS, so no query
still being logged can fall behind it; with `partial`, up to that moment), cut at the job's
metering period boundaries, and submits one CommitQuerySummary per
non-empty slice: counts per member and the Merkle root of the entries, signed by the server's
node key (the contract verifies the signature with the transaction's certificate, checks the
period order and the daily quotas). Where it ended is read back from the ledger
(ListQuerySummaries), so a restarted server continues where the ledger says, never twice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

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
    """Commits `server`'s summaries for the job its authorizer follows; `start()`, `stop()`."""

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
        self._last_terms: Any = None

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

    def _committed_until(self, job_id: str, created_at: int) -> int:
        raw = self.contract().evaluate_transaction("ListQuerySummaries", job_id)
        ends = [s["period_end"] for s in json.loads(raw or b"[]")
                if s["server"] == self.server.name]
        return max(ends, default=created_at)

    def _terms(self) -> Any:
        """The job to meter: the one in force, else the last one seen (its last periods are
        still committed after it was revoked or expired)."""
        terms = self.authorizer.policy.terms
        if terms is not None:
            self._last_terms = terms
        return self._last_terms

    def check_committed(self) -> list[str]:
        """Compare this server's log with every summary it committed to the ledger (after a
        restart: a log that lost or changed entries no longer hashes to the committed root);
        the periods that differ, each logged as an error."""
        terms = self._terms()
        if terms is None:
            return []
        raw = self.contract().evaluate_transaction("ListQuerySummaries", terms.job_id)
        bad = []
        for committed in json.loads(raw or b"[]"):
            if committed["server"] != self.server.name:
                continue
            mine = self.server.summary(committed["period_start"], committed["period_end"])
            if (mine.merkle_root, mine.entries) != (committed["merkle_root"],
                                                    committed["entries"]):
                span = f"{committed['period_start']}..{committed['period_end']}"
                bad.append(span)
                log.error("%s: the query log of %s no longer matches the root committed in tx "
                          "%s (%d entries committed, %d logged); audits of that period fail",
                          self.server.name, span, committed["tx_id"], committed["entries"],
                          mine.entries)
        return bad

    def commit_due(self) -> int:
        """Commit every non-empty slice not committed yet; how many were committed."""
        terms = self._terms()
        if terms is None:
            return 0
        job = json.loads(self.contract().evaluate_transaction("GetJob", terms.job_id))
        start = self._committed_until(terms.job_id, int(job["created_at"]))
        end = int(self.clock()) - SETTLE_SECONDS
        if not self.partial:  # whole periods only: one summary per server and period
            end -= end % terms.period_seconds
        done = 0
        for lo, hi in slices(start, end, terms.period_seconds):
            summary = self.server.summary(lo, hi)
            if summary.entries == 0:
                continue
            body = {**summary.body(), "signature": summary.signature}
            self.contract().submit_transaction("CommitQuerySummary", terms.job_id,
                                               json.dumps(body))
            done += 1
            self.committed += 1
            log.info("%s committed %d entries of %d..%d (%s)", self.server.name,
                     summary.entries, lo, hi, summary.merkle_root)
        return done

"""The member node's daily re-share of its loan book.

The 7- and 30-day application windows move with the UTC day, so a contribution cut yesterday keeps
answering with yesterday's windows until the member shares its book again. The node does it: every
poll it asks whether this org contributes to a live `multilender` service job and has pushed a
contribution on an earlier UTC day, and if so re-shares the whole book as of today (no new events;
the servers cannot tell a re-share from an update). A failed push (a server down) is logged and
tried again at the next poll; nothing of it reaches the ledger.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from alliance.models import Job, JobState
from alliance.protocols.multilender import NAME, ServiceTerms
from node.query.feeding import Pushed, push_book, utc_day
from node.query.member_store import MemberStore
from node.query.service import layout_of, read_query_run_file
from node.query.wiring import make_client

log = logging.getLogger(__name__)

POLL_ENV = "ALLIANCE_QUERY_RESHARE_POLL"
POLL_SECONDS = 300.0


def reshare_due(pushed_day: int | None, today: int, pushed_layout: str | None = None,
                layout: str | None = None) -> bool:
    """A member that pushed before shares its book again on a later UTC day, or as soon as the
    service job's table layout differs from the one it pushed for (the servers dropped it)."""
    if pushed_day is None:
        return False
    return pushed_day < today or (layout is not None and pushed_layout != layout)


def live_terms(jobs: list[Job], now: float) -> ServiceTerms | None:
    """The newest APPROVED, unexpired multilender job's terms among `jobs`, or None."""
    live = [j for j in jobs if j.protocol == NAME and j.state is JobState.APPROVED
            and j.expires_at > now]
    if not live:
        return None
    return ServiceTerms.from_job(max(live, key=lambda j: j.created_at).model_dump())


class DailyReshare:
    """Re-shares `org`'s book when the UTC day moved past its last push (see module doc)."""

    def __init__(self, net_dir: Path, org: str, passphrase: bytes, store: MemberStore,
                 live_terms: Callable[[], ServiceTerms | None],
                 clock: Callable[[], float] = time.time) -> None:
        self.net_dir = Path(net_dir)
        self.org = org
        self.passphrase = passphrase
        self.store = store
        self.live_terms = live_terms
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_once(self) -> Pushed | None:
        """Push if due; what was pushed, or None."""
        today = utc_day(self.clock())
        pushed_day = self.store.pushed_day()
        if pushed_day is None:
            return None
        terms = self.live_terms()
        if terms is None or self.org not in terms.contributors:
            return None
        layout = layout_of(terms)
        if not reshare_due(pushed_day, today, self.store.pushed_layout(), layout.fingerprint()):
            return None
        servers = []
        for org in terms.servers:
            run = read_query_run_file(self.net_dir, org)
            if run is None:
                log.warning("daily re-share: the query server of %s never ran here", org)
                return None
            servers.append((org, f"127.0.0.1:{run['port']}"))
        with make_client(self.net_dir, self.org, (servers[0], servers[1]), None, layout,
                         self.passphrase, timeout=30.0) as client:
            pushed = push_book(self.store, client.salt, layout, client, [], today)
        log.info("daily re-share: version %d of %d applicants as of day %d", pushed.version,
                 pushed.applicants, pushed.day)
        return pushed

    def start(self, poll: float) -> DailyReshare:
        self._thread = threading.Thread(target=self._run, args=(poll,),
                                        name=f"reshare-{self.org}", daemon=True)
        self._thread.start()
        return self

    def _run(self, poll: float) -> None:
        while not self._stop.wait(poll):
            try:
                self.check_once()
            except Exception as exc:  # a server or the ledger down: try again next poll
                log.warning("daily re-share of %s's loan book failed, retrying in %.0f s: %s",
                            self.org, poll, exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(35)
            self._thread = None

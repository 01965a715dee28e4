"""The ledger-governed `Authorizer`: a query server's policy read FROM THE LEDGER and kept current.

The policy is the standing `multilender` job naming this server (APPROVED, unexpired, its
servers still the charter's `query_servers`: members, contributors, purposes, quotas), the
members the alliance removed and the certificates revoked
(`RevokeCertificate`). `LedgerPolicyFollower` reads all three at start, then follows the ledger's
chaincode events and reads them again after every event (and every REFRESH_SECONDS in case the
stream was down): a member removed or a certificate revoked while the server runs is refused from
then on. `LedgerAuthorizer` checks, in this order: a service job is in force; the asker is not
removed; neither its signing nor its TLS certificate is revoked; then membership, purpose,
consent commitment present and daily quota (`PolicyAuthorizer`). Each refusal has a stable code.
The server answers only the job's `fields` (`answered`), read from the same policy.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alliance.protocols.multilender import NAME, ServiceTerms
from node.peer_auth import revoked_pairs
from node.query.authorize import PolicyAuthorizer, QueryContext, QueryPolicy
from node.query.errors import QueryRefused

log = logging.getLogger("node.query.governance")

REFRESH_SECONDS = 5.0
"""The policy is read again at least this often even without ledger events."""
QUIET_EVENTS = frozenset({"QuerySummaryCommitted"})
"""Events that cannot change the policy (no re-read)."""


@dataclass(frozen=True)
class LedgerPolicy:
    """One reading of the ledger: the service job naming `server` (None: no service), removed
    members, revoked certificates (org, fingerprint)."""

    server: str
    terms: ServiceTerms | None
    removed: frozenset[str] = frozenset()
    revoked: frozenset[tuple[str, str]] = frozenset()
    revision: int = 0
    read_at: float = field(default_factory=time.time)

    def summary(self) -> dict[str, Any]:
        return {"job": self.terms.job_id if self.terms else None, "revision": self.revision,
                "removed": sorted(self.removed), "revoked": len(self.revoked)}


Evaluate = Callable[..., bytes]
"""`contract.evaluate_transaction(name, *args)`."""


def read_policy(evaluate: Evaluate, server: str, revision: int = 0,
                now: float | None = None) -> LedgerPolicy:
    """The ledger's current policy for query server `server` (see module doc)."""
    when = time.time() if now is None else now
    named = tuple(json.loads(evaluate("GetCharter") or b"{}").get("query_servers", ()))
    jobs = json.loads(evaluate("ListJobs", json.dumps({"state": "APPROVED"})) or b"[]")
    terms = None
    for job in sorted(jobs, key=lambda j: (j.get("created_at", 0), j.get("id", ""))):
        if job.get("protocol") != NAME:
            continue
        candidate = ServiceTerms.from_job(job)
        # a job keeps naming servers the members have since voted out: it no longer counts
        if server in candidate.servers and candidate.servers == named \
                and candidate.expires_at > when:
            terms = candidate  # the newest one naming this server wins
    members = json.loads(evaluate("ListMembers") or b"[]")
    removed = frozenset(m["org"] for m in members if m.get("status") != "active")
    revoked = revoked_pairs(json.loads(evaluate("ListRevokedCertificates") or b"[]"), when)
    return LedgerPolicy(server, terms, removed, revoked, revision, when)


class LedgerAuthorizer:
    """The `Authorizer` of a governed query server (see module doc); `policy` is replaced as a
    whole by the follower (readers see one consistent reading)."""

    def __init__(self, policy: LedgerPolicy, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy
        self.clock = clock

    def _terms(self) -> ServiceTerms:
        terms = self.policy.terms
        if terms is None or terms.expires_at <= self.clock():
            raise QueryRefused(
                "no_service_job",
                f"no approved multilender service job names {self.policy.server} as a query "
                "server; a member requests one (`alliance job request --protocol multilender "
                "...`) and every contributing member approves it")
        return terms

    def _check_standing(self, org: str, certificates: tuple[str, ...]) -> None:
        policy = self.policy
        if org in policy.removed:
            raise QueryRefused("removed_member",
                               f"{org} was removed from the alliance; it has no rights")
        for fingerprint in certificates:
            if fingerprint and (org, fingerprint.lower()) in policy.revoked:
                raise QueryRefused(
                    "revoked_certificate",
                    f"certificate {fingerprint} of {org} is revoked on the ledger; sign with "
                    f"another certificate of {org} (`alliance keys`)")

    def authorize(self, query: QueryContext, used_today: int) -> str:
        terms = self._terms()
        self._check_standing(query.asker, query.certificates)
        PolicyAuthorizer(QueryPolicy(terms.members, terms.purposes, terms.daily_quota,
                                     dict(terms.quotas))).authorize(query, used_today)
        return terms.job_id

    def answered(self, asker: str) -> tuple[str, ...]:
        """The job's `fields` (refused like a lookup if no job is in force any more)."""
        return self._terms().fields

    def is_member(self, org: str) -> bool:
        terms = self.policy.terms
        return terms is not None and org in terms.contributors and org not in self.policy.removed

    def check_standing_member(self, org: str, certificates: tuple[str, ...]) -> None:
        """Refuse unless `org` may ask or contribute under the job and is in good standing."""
        terms = self._terms()
        self._check_standing(org, certificates)
        if org not in terms.members | terms.contributors:
            raise QueryRefused(
                "not_member",
                f"{org} is neither an asking nor a contributing member of {terms.job_id}; "
                "the members add it by approving a new multilender job")

    def check_contributor(self, org: str, certificates: tuple[str, ...]) -> None:
        terms = self._terms()
        self._check_standing(org, certificates)
        if org not in terms.contributors:
            raise QueryRefused(
                "not_contributor",
                f"{org} is not a contributing member of {terms.job_id} (contributors: "
                f"{', '.join(sorted(terms.contributors))}); its contributions are refused")

    def status(self) -> dict[str, Any]:
        return self.policy.summary()


class LedgerPolicyFollower:
    """Keeps a `LedgerAuthorizer` current from the ledger's events; `start()`, `stop()`."""

    def __init__(self, authorizer: LedgerAuthorizer, connect: Callable[[], Any],
                 chaincode: str, *, refresh_seconds: float = REFRESH_SECONDS) -> None:
        """`connect()` opens a `MemberConnection` (network + contract) to the ledger."""
        self.authorizer = authorizer
        self.connect = connect
        self.chaincode = chaincode
        self.refresh_seconds = refresh_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._conn: Any = None
        self._stream: Any = None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def policy(self) -> LedgerPolicy:
        return self.authorizer.policy

    def refresh(self) -> LedgerPolicy:
        """Read the ledger now and install the new policy."""
        with self._lock:
            if self._conn is None:
                self._conn = self.connect()
            try:
                policy = read_policy(self._conn.contract.evaluate_transaction,
                                     self.authorizer.policy.server,
                                     self.authorizer.policy.revision + 1)
            except Exception:
                conn, self._conn = self._conn, None
                conn.close()
                raise
            self.authorizer.policy = policy
            return policy

    def start(self) -> LedgerPolicyFollower:
        self.refresh()
        for target, name in ((self._follow, "policy-events"), (self._poll, "policy-poll")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        for thread in self._threads:
            thread.join(10)
        if self._conn is not None:
            self._conn.close()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.refresh_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.refresh()
            except Exception as exc:  # the ledger is down: keep the last reading, try again
                log.warning("could not read the service policy from the ledger: %s", exc)

    def _follow(self) -> None:
        while not self._stop.is_set():
            conn = None
            try:
                conn = self.connect()
                self._stream = conn.network.chaincode_events(self.chaincode)
                self._wake.set()  # read again: events before the stream opened are covered
                for event in self._stream:
                    if event.event_name not in QUIET_EVENTS:
                        self._wake.set()
                    if self._stop.is_set():
                        break
            except Exception as exc:  # the stream broke: reopen after a pause
                if not self._stop.is_set():
                    log.warning("ledger event stream broke: %s", exc)
            finally:
                if conn is not None:
                    conn.close()
            self._stop.wait(1.0)

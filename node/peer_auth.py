"""The MPC server's `authorize_peer`: may this certificate's org take part in this job, now?

Asked for every incoming link. It maps the certificate to an org through the TLS CAs (never the
subject's say-so) and takes only the org's node identity (subject CN `node.<org>`: the org's
peer, admin and client TLS certificates come from the same CA and are refused). It refuses a
certificate the org revoked on the ledger (`RevokeCertificate`; the list is re-read at most every
`REVOCATION_TTL` seconds, and a link is refused when it cannot be read), re-reads the job from the
ledger (a link request is no proof of anything) and refuses orgs that are not participants and
jobs that are not APPROVED or RUNNING. Every refusal is logged; the MPC server turns the
exception into PERMISSION_DENIED for the dialer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from alliance.authorities import OrgAuthorities, issuer_in_force
from alliance.errors import IdentityError
from alliance.identity import Identity
from alliance.models import Job, JobState, RevokedCertificate
from node.errors import GateRefused, NodeError
from node.peer_orgs import TlsOrgs

log = logging.getLogger("node.peer_auth")

LIVE = (JobState.APPROVED, JobState.RUNNING)

REVOCATION_TTL = 2.0
"""Seconds a read of the ledger's revoked certificates is reused: a revocation bites within this."""

RevokedRecord = RevokedCertificate | Mapping[str, Any]
ReadRevoked = Callable[[], Iterable[RevokedRecord]]
ReadAuthorities = Callable[[], Mapping[str, OrgAuthorities]]
T = TypeVar("T")


def check_peer(job: Job, peer_org: str) -> None:
    """Raise GateRefused unless `peer_org` may exchange messages for `job` now. Pure."""
    if peer_org not in job.participants:
        raise GateRefused(
            f"{peer_org} is not a participant of {job.id} "
            f"(participants: {', '.join(job.participants)})"
        )
    if job.state not in LIVE:
        raise GateRefused(f"{job.id} is {job.state}, not APPROVED or RUNNING; nothing runs for it")


def revoked_pairs(
    records: Iterable[RevokedRecord], now: float | None = None
) -> frozenset[tuple[str, str]]:
    """(org, fingerprint) of every certificate in `records` whose revocation is in force at
    `now` (a rotation's old certificate keeps working until its grace period ends). Pure."""
    when = int(time.time() if now is None else now)
    pairs = set()
    for record in records:
        if not isinstance(record, RevokedCertificate):
            record = RevokedCertificate.model_validate(record)
        if record.in_force(when):
            pairs.add((record.org, record.fingerprint.lower()))
    return frozenset(pairs)


def ledger_revocations(ledger: Any) -> ReadRevoked:
    """A reader of `ListRevokedCertificates` over a `GatewayJobLedger` (its current contract, so
    a reconnect is followed)."""

    def read() -> list[dict[str, Any]]:
        raw = ledger.contract.evaluate_transaction("ListRevokedCertificates")
        records = json.loads(raw or b"[]")
        if not isinstance(records, list):
            raise ValueError("ListRevokedCertificates did not return a list")
        return records

    return read


class _LedgerCache(Generic[T]):
    """A ledger list (revoked certificates, CA roots), parsed, re-read when older than `ttl`
    seconds; a failed read refuses the link (fail closed)."""

    def __init__(self, read: Callable[[], T], ttl: float, what: str, empty: T) -> None:
        self._read = read
        self._ttl = ttl
        self._what = what
        self._lock = threading.Lock()
        self._value = empty
        self._read_at = float("-inf")

    def get(self) -> T:
        with self._lock:
            if time.monotonic() - self._read_at > self._ttl:
                try:
                    value = self._read()
                except Exception as exc:  # fail closed: no list, no link
                    raise GateRefused(
                        f"cannot read the {self._what} from the ledger: {exc}; "
                        "the link is refused until the ledger answers"
                    ) from exc
                self._value, self._read_at = value, time.monotonic()
            return self._value


def ledger_authorities(ledger: Any) -> ReadAuthorities:
    """A reader of `ListCertificateAuthorities` (the CA roots of orgs that renewed their CA)."""

    def read() -> dict[str, OrgAuthorities]:
        raw = ledger.contract.evaluate_transaction("ListCertificateAuthorities")
        records = json.loads(raw or b"[]")
        if not isinstance(records, list):
            raise ValueError("ListCertificateAuthorities did not return a list")
        return {r["org"]: OrgAuthorities.model_validate(r) for r in records}

    return read


class PeerAuthorizer:
    """`authorize_peer(job_id, cert_pem) -> org` over the ledger and the network's TLS CAs.

    `read_revoked` lists the ledger's revoked certificates; None checks none (only for tests
    without a ledger: the daemon always passes it).
    """

    def __init__(
        self, org: str, tls_orgs: TlsOrgs, read_job: Callable[[str], Job],
        read_revoked: ReadRevoked, *, revocation_ttl: float = REVOCATION_TTL,
        read_authorities: ReadAuthorities | None = None,
    ) -> None:
        self.org = org
        self.tls_orgs = tls_orgs
        self.read_job = read_job
        self._revocations = _LedgerCache(
            lambda: revoked_pairs(read_revoked()), revocation_ttl, "revoked certificates",
            frozenset())
        self._authorities = _LedgerCache(
            read_authorities or dict, revocation_ttl, "CA roots", {})
        self.refusals: list[str] = []

    def _check_issuer_in_force(self, peer_org: str, cert_pem: bytes) -> None:
        """Once `peer_org` renewed its CA on the ledger, its node's TLS certificate must come
        from a TLS root the ledger trusts now (the old one only during the overlap)."""
        record = self._authorities.get().get(peer_org)
        if record is None:
            return
        try:
            issuer_in_force(Identity("", cert_pem).cert, record, "tlsca", int(time.time()))
        except IdentityError as exc:
            raise GateRefused(f"{peer_org}'s node certificate is refused: {exc}") from exc

    def _check_not_revoked(self, peer_org: str, cert_pem: bytes) -> None:
        fingerprint = Identity("", cert_pem).fingerprint
        if (peer_org, fingerprint) in self._revocations.get():
            raise GateRefused(
                f"{peer_org} revoked the certificate {fingerprint} on the ledger; its node "
                "must present a new one"
            )

    def authorize(self, job_id: str, cert_pem: bytes) -> str:
        """Blocking form (reads the ledger): the peer's org, or an exception that refuses."""
        try:
            peer_org = self.tls_orgs.node_org_of(cert_pem)
            self._check_not_revoked(peer_org, cert_pem)
            self._check_issuer_in_force(peer_org, cert_pem)
            try:
                job = self.read_job(job_id)
            except Exception as exc:
                raise GateRefused(f"cannot read job {job_id} from the ledger: {exc}") from exc
            check_peer(job, peer_org)
            return peer_org
        except NodeError as exc:
            message = f"{self.org} refused an MPC link for {job_id}: {exc}"
            log.warning(message)
            self.refusals.append(message)
            raise

    async def __call__(self, job_id: str, cert_pem: bytes) -> str:
        return await asyncio.to_thread(self.authorize, job_id, cert_pem)

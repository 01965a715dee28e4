"""The MPC server's `authorize_peer`: may this certificate's org take part in this job, now?

Asked for every incoming link. It maps the certificate to an org through the TLS CAs (never the
subject's say-so), re-reads the job from the ledger (a link request is no proof of anything) and
refuses orgs that are not participants and jobs that are not APPROVED or RUNNING. Every refusal
is logged; the MPC server turns the exception into PERMISSION_DENIED for the dialer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from alliance.models import Job, JobState
from node.errors import GateRefused, NodeError
from node.peer_orgs import TlsOrgs

log = logging.getLogger("node.peer_auth")

LIVE = (JobState.APPROVED, JobState.RUNNING)


def check_peer(job: Job, peer_org: str) -> None:
    """Raise GateRefused unless `peer_org` may exchange messages for `job` now. Pure."""
    if peer_org not in job.participants:
        raise GateRefused(
            f"{peer_org} is not a participant of {job.id} "
            f"(participants: {', '.join(job.participants)})"
        )
    if job.state not in LIVE:
        raise GateRefused(f"{job.id} is {job.state}, not APPROVED or RUNNING; nothing runs for it")


class PeerAuthorizer:
    """`authorize_peer(job_id, cert_pem) -> org` over the ledger and the network's TLS CAs."""

    def __init__(self, org: str, tls_orgs: TlsOrgs, read_job: Callable[[str], Job]) -> None:
        self.org = org
        self.tls_orgs = tls_orgs
        self.read_job = read_job
        self.refusals: list[str] = []

    def authorize(self, job_id: str, cert_pem: bytes) -> str:
        """Blocking form (reads the ledger): the peer's org, or an exception that refuses."""
        try:
            peer_org = self.tls_orgs.org_of(cert_pem)
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

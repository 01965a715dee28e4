"""What waits for an org's decision (jobs to approve, job votes, membership votes), and whether
the org may decide at all (only an active member with the `member` role; an auditor reads only)."""

from __future__ import annotations

from dataclasses import dataclass, field

from alliance.models import Job, JobState, Member, MemberStatus, Proposal, ProposalState


@dataclass(frozen=True)
class PendingDecisions:
    """What waits for this org: jobs to approve, job votes, membership votes."""

    approvals: list[Job] = field(default_factory=list)
    job_votes: list[Job] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.approvals) + len(self.job_votes) + len(self.proposals)


def is_read_only(members: list[Member], org: str) -> bool:
    """True unless `org` is an active member with the `member` role in the ledger's records."""
    me = next((m for m in members if m.org == org), None)
    return not (me is not None and me.status == MemberStatus.ACTIVE and "member" in me.roles)


def awaits_approval(job: Job, org: str) -> bool:
    """The job waits for `org`'s approval (it owns an input or deals, and has not approved)."""
    return (
        job.state == JobState.REQUESTED
        and org in job.required_approvers
        and org not in job.approvals
    )


def awaits_vote(job: Job, org: str) -> bool:
    """The job is put to a member vote and `org` has not voted."""
    return job.state == JobState.REQUESTED and job.votes_needed > 0 and org not in job.votes


def pending_decisions(jobs: list[Job], proposals: list[Proposal], org: str) -> PendingDecisions:
    """The jobs and pending proposals among those given that wait for `org`'s decision."""
    return PendingDecisions(
        approvals=[j for j in jobs if awaits_approval(j, org)],
        job_votes=[j for j in jobs if awaits_vote(j, org)],
        proposals=[
            p
            for p in proposals
            if p.state == ProposalState.PENDING and org not in p.votes and p.org != org
        ],
    )


def may_revoke(job: Job, org: str) -> bool:
    """`org` may revoke the job now: it requested the job or must approve it, and the job has not
    run out (REQUESTED, APPROVED, or COMPLETED with runs left). The contract's RevokeJob enforces
    the same rule; this lets a front end offer the action only where it can succeed."""
    if org != job.requester and org not in job.required_approvers:
        return False
    runs_left = job.state == JobState.COMPLETED and job.runs_used < job.max_runs
    return job.state in (JobState.REQUESTED, JobState.APPROVED) or runs_left

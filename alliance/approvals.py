"""Whether a job's approvals and member votes authorise it: one rule, used by the contract when it
moves a job to APPROVED and by each node's gate before it runs anything (the node re-derives it
from the job itself rather than trusting what the record says is enough)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from alliance.models import Job, Vote


def approvers_of(job: Job) -> list[str]:
    """Who must approve: the input owners and the dealer, except the requester (its request
    approved its own part)."""
    owners = {i.owner for i in job.inputs}
    return sorted((owners | ({job.dealer} if job.dealer else set())) - {job.requester})


def yes_votes(votes: Mapping[str, Vote], voters: Collection[str]) -> int:
    """Yes votes of the charter's current voting members only: a vote from anyone else (a
    removed member, an auditor, an org the record merely names) counts for nothing."""
    return sum(1 for org, v in votes.items() if org in voters and v.vote == "yes")


def approval_problems(job: Job, voters: Collection[str]) -> list[str]:
    """Every reason the job's approvals and votes do not authorise it; empty when they do.
    `voters` are the charter's voting members now."""
    problems = []
    needed = approvers_of(job)
    if sorted(job.required_approvers) != needed:
        problems.append(
            f"{job.id} records approvers {', '.join(sorted(job.required_approvers)) or 'none'}, "
            f"but its inputs and dealer need {', '.join(needed) or 'none'}"
        )
    missing = [org for org in needed if org not in job.approvals]
    if missing:
        problems.append(f"{job.id} lacks committed approvals from {', '.join(missing)}")
    yes = yes_votes(job.votes, voters)
    if yes < job.votes_needed:
        problems.append(
            f"{job.id} has {yes} of the {job.votes_needed} member votes it needs (yes votes of "
            "the charter's voting members)"
        )
    return problems

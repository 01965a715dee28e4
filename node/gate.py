"""The approval gate: the node's own check, on a job it has just re-read from the ledger.

An event is only a hint. Before claiming or running anything the node reads the committed job and
checks every condition itself — the contract enforces the same rules, and the node does not trust
that anybody else did. Pure: the caller supplies the job, the time and the local fingerprints.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from alliance.approvals import approval_problems, approvers_of
from alliance.failures import FailureCode
from alliance.models import Job, JobState
from alliance.protocols import PROTOCOLS, JobShape, ShapeInput
from alliance.protocols.links import link_problems
from node.errors import GateRefused

RUNNABLE = (JobState.APPROVED, JobState.RUNNING)


def refusal_reasons(
    job: Job,
    org: str,
    now: int,
    local_fingerprints: Mapping[str, str],
    *,
    claimed_run: int | None = None,
    voters: Collection[str] = (),
    linked: Mapping[str, Job] | None = None,
) -> list[str]:
    """Every reason `org` must not run `job` now; empty when the gate is open.

    `local_fingerprints` maps `org/dataset` to the fingerprint of the data this node would use.
    `claimed_run` is the run this node is about to execute (None: before claiming). `voters` are
    the charter's voting members (only their yes votes count; none given: a job that needs member
    votes is refused).
    `linked` holds the jobs this job names (alignment_job, model_job, bins_job) as just read from
    the ledger; a named job missing from it is refused.
    """
    reasons: list[str] = []
    if org not in job.participants:
        reasons.append(
            f"{org} is not a participant of {job.id} (participants: {', '.join(job.participants)})"
        )
    if job.state not in RUNNABLE:
        reasons.append(f"{job.id} is {job.state}, not APPROVED or RUNNING")
    reasons += approval_problems(job, voters)
    own_part = {i.owner for i in job.inputs} | ({job.dealer} if job.dealer else set())
    if org in own_part and org not in job.approvals and org not in approvers_of(job):
        # the requester's own part: approved by its request, which the record must show
        reasons.append(f"{org} never approved {job.id} (its data or dealing is part of it)")
    if now >= job.expires_at:
        reasons.append(f"{job.id} expired at {job.expires_at} (now {now})")
    if claimed_run is None:
        if job.state == JobState.APPROVED and job.runs_used >= job.max_runs:
            reasons.append(f"{job.id} has used all {job.max_runs} of its runs")
    elif claimed_run != job.current_run or org not in job.claims:
        reasons.append(f"{job.id} run {claimed_run} is not the run {org} claimed on the ledger")
    spec = PROTOCOLS.get(job.protocol)
    if spec is None:
        reasons.append(f"{job.id} asks for protocol {job.protocol!r}, which this node does not run")
    else:
        reasons += spec.problems(job_shape(job), job.parameters)
        found = dict(linked or {})
        reasons += link_problems(job.protocol, job.parameters, job_shape(job), found.get)
    reasons += [text for _, _, text in data_problems(job, org, local_fingerprints)]
    return reasons


def data_problems(
    job: Job, org: str, local_fingerprints: Mapping[str, str]
) -> list[tuple[str, str, str]]:
    """(failure code, dataset, text) for each of `org`'s inputs whose local data is missing or
    no longer matches the fingerprint the job pinned."""
    problems: list[tuple[str, str, str]] = []
    for item in job.inputs:
        if item.owner != org:
            continue
        local = local_fingerprints.get(item.dataset)
        if local is None:
            problems.append((FailureCode.INPUT_MISSING, item.dataset,
                             f"{item.dataset} is not in this node's dataset store"))
        elif local != item.fingerprint:
            problems.append((
                FailureCode.FINGERPRINT_MISMATCH, item.dataset,
                f"local data of {item.dataset} has fingerprint {local}, but the job approved "
                f"{item.fingerprint} (version {item.version}); the file changed since approval",
            ))
    return problems


def job_shape(job: Job) -> JobShape:
    """The shape of a recorded job, as its protocol's spec checks it."""
    return JobShape(
        inputs=tuple(ShapeInput(i.ref, i.owner, i.column_type) for i in job.inputs),
        outputs={name: tuple(orgs) for name, orgs in job.outputs.items()},
        dealer=job.dealer,
    )


def check_job(
    job: Job,
    org: str,
    now: int,
    local_fingerprints: Mapping[str, str],
    *,
    claimed_run: int | None = None,
    voters: Collection[str] = (),
    linked: Mapping[str, Job] | None = None,
) -> None:
    """Raise GateRefused with every reason when `org` must not run `job` now."""
    reasons = refusal_reasons(job, org, now, local_fingerprints, claimed_run=claimed_run,
                              voters=voters, linked=linked)
    if reasons:
        data = data_problems(job, org, local_fingerprints)
        if data and len(data) == len(reasons):  # only this node's data is wrong: say which
            code, dataset, _ = data[0]
            raise GateRefused("; ".join(reasons), code=code, input_ref=dataset)
        raise GateRefused("; ".join(reasons))

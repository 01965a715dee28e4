"""Jobs: the authorization and the outcome of every multi-party computation.

State machine (DESIGN.md):

    REQUESTED -> APPROVED -> RUNNING -> COMPLETED | FAILED | DISPUTED
    REQUESTED -> REJECTED
    REQUESTED | APPROVED -> REVOKED | EXPIRED
    COMPLETED (runs left) -> RUNNING (next run) or REVOKED
    RUNNING (past its run deadline) -> FAILED by ExpireRun

A run's deadline is recorded when it starts (alliance/run_deadline.py); after it, the contract
takes no claim or receipt for the run, and any participant may expire it.

Approvers are the input owners and the dealer; the requester's own part is approved by the
request. Protocols listed in the charter's `voted_protocols` also need member yes votes. A job
that involves a removed member cannot move forward (its approvals no longer count).
"""

from __future__ import annotations

import json
from typing import Any

from alliance.approvals import approval_problems, yes_votes
from alliance.failures import FailureCode, FailureReport, render_failure
from alliance.models import (
    Approval,
    Dataset,
    DatasetStatus,
    Failure,
    Job,
    JobFilter,
    JobInput,
    JobRequest,
    JobState,
    MemberStatus,
    Reasoned,
    Receipt,
    ReceiptSubmission,
    RunResult,
    TxMark,
    Vote,
)
from alliance.protocols import JobShape, ShapeInput, get_protocol_spec
from alliance.protocols.links import link_problems
from alliance.run_deadline import DeadlineError, run_seconds
from chaincode import keys
from chaincode.context import Caller, Context, parse_request
from chaincode.contracts.service import check_service_request, refuse_claim
from chaincode.errors import Conflict, Expired, InvalidArgument, NotAuthorized, NotFound

MAX_REASON = 300
"""Longest reject/revoke reason (public text typed by a person)."""

# --- request -----------------------------------------------------------------------------------


def request_job(ctx: Context, request_json: str) -> Job:
    caller = ctx.writer("request jobs")
    request = parse_request(JobRequest, request_json, "job request")
    spec = get_protocol_spec(request.protocol)
    param_problems = spec.param_problems(request.parameters)
    if param_problems:
        raise InvalidArgument("; ".join(param_problems))
    inputs = [_pin_input(ctx, ref) for ref in request.inputs]
    shape = job_shape(inputs, request.outputs, request.dealer)
    problems = spec.shape_problems(shape) or spec.joint_problems(shape, request.parameters)
    if problems:
        raise InvalidArgument("; ".join(problems))
    problems = link_problems(request.protocol, request.parameters, shape,
                             lambda job_id: _find(ctx, job_id))
    if problems:
        raise InvalidArgument("; ".join(problems))
    recipients = sorted({org for orgs in request.outputs.values() for org in orgs})
    for org in recipients:
        _require_voting_member(ctx, org, "output recipient")
    if request.dealer is not None:
        _require_voting_member(ctx, request.dealer, "dealer")
    owners = {i.owner for i in inputs}
    approvers = owners | ({request.dealer} if request.dealer else set())
    participants = sorted(owners | set(recipients) | approvers)
    charter = ctx.charter()
    job = Job(
        id="job-" + ctx.tx_id[:16],
        protocol=request.protocol,
        requester=caller.org,
        inputs=inputs,
        parameters=dict(sorted(request.parameters.items())),
        outputs={name: sorted(orgs) for name, orgs in sorted(request.outputs.items())},
        dealer=request.dealer,
        participants=participants,
        required_approvers=sorted(approvers - {caller.org}),
        approvals={},
        votes_needed=charter.votes_needed() if request.protocol in charter.voted_protocols else 0,
        votes={},
        state=JobState.REQUESTED,
        created_at=ctx.now,
        created_tx=ctx.tx_id,
        expires_at=ctx.now + request.expires_in_seconds,
        max_runs=request.max_runs,
        runs_used=0,
        current_run=0,
        claims={},
        receipts={},
        results={},
        failures={},
        updated_at=ctx.now,
        updated_tx=ctx.tx_id,
    )
    check_service_request(ctx, job)
    if ctx.get_bytes(keys.job(job.id)) is not None:
        raise Conflict(f"job {job.id} already exists; submit the request as a new transaction")
    if caller.org in approvers:
        job.approvals[caller.org] = Approval(tx_id=ctx.tx_id, at=ctx.now, by_request=True)
    for org in participants:
        ctx.put_index(keys.job_by_participant(org, job.id))
    if _fully_approved(ctx, job):
        _save(ctx, job, None, JobState.APPROVED)
        ctx.emit("JobApproved", _event(job, requester=job.requester))
    else:
        _save(ctx, job, None, JobState.REQUESTED)
        ctx.emit(
            "JobRequested",
            _event(job, requester=job.requester, required_approvers=job.required_approvers),
        )
    return job


def job_shape(
    inputs: list[JobInput], outputs: dict[str, Any], dealer: str | None
) -> JobShape:
    """What the protocol's spec checks: the pinned inputs with their column types, the outputs and
    their recipients, the dealer."""
    return JobShape(
        inputs=tuple(ShapeInput(i.ref, i.owner, i.column_type) for i in inputs),
        outputs={name: tuple(orgs) for name, orgs in outputs.items()},
        dealer=dealer,
    )


def _pin_input(ctx: Context, ref: str) -> JobInput:
    """Resolve `org/dataset:column` to the dataset's current version and fingerprint."""
    dataset_id, _, column = ref.partition(":")
    owner, name = dataset_id.split("/", 1)
    dataset = ctx.get_record(keys.dataset(owner, name), Dataset)
    if dataset is None:
        raise NotFound(f"input {ref!r}: no dataset {dataset_id} is registered; see ListDatasets")
    if dataset.status != DatasetStatus.ACTIVE:
        raise Conflict(f"input {ref!r}: dataset {dataset_id} is retired and cannot be used")
    spec = dataset.column(column)
    if spec is None:
        columns = ", ".join(c.name for c in dataset.schema_)
        raise InvalidArgument(
            f"input {ref!r}: {dataset_id} has no column {column!r}; its columns: {columns}"
        )
    _require_voting_member(ctx, owner, "input owner")
    return JobInput(
        ref=ref,
        owner=owner,
        dataset=dataset_id,
        column=column,
        version=dataset.version,
        fingerprint=dataset.fingerprint,
        column_type=spec.type,
    )


def _require_voting_member(ctx: Context, org: str, what: str) -> None:
    member = ctx.active_member(org, what)
    if "member" not in member.roles:
        raise InvalidArgument(f"{what} {org!r} is an auditor; only members take part in jobs")


# --- approval, votes, rejection ----------------------------------------------------------------


def approve_job(ctx: Context, job_id: str) -> Job:
    caller = ctx.writer("approve jobs")
    job = _load(ctx, job_id)
    _require_approver(job, caller, "approve")
    if caller.org in job.approvals:
        previous = job.approvals[caller.org].tx_id
        raise Conflict(f"{caller.org} already approved {job.id} (tx {previous})")
    _require_state(job, "approve", JobState.REQUESTED)
    _require_unexpired(ctx, job)
    _require_members_active(ctx, job)
    job.approvals[caller.org] = Approval(tx_id=ctx.tx_id, at=ctx.now)
    _advance_if_approved(ctx, job, event="JobApprovalRecorded", org=caller.org)
    return job


def reject_job(ctx: Context, job_id: str, reason: str) -> Job:
    caller = ctx.writer("reject jobs")
    job = _load(ctx, job_id)
    _require_approver(job, caller, "reject")
    reason = _check_reason(reason)
    if caller.org in job.approvals:
        raise Conflict(
            f"{caller.org} already approved {job.id}; to withdraw, revoke it with RevokeJob"
        )
    _require_state(job, "reject", JobState.REQUESTED)
    job.rejection = Reasoned(org=caller.org, reason=reason, tx_id=ctx.tx_id, at=ctx.now)
    _save(ctx, job, job.state, JobState.REJECTED)
    ctx.emit("JobRejected", _event(job, org=caller.org, reason=reason))
    return job


def vote_job(ctx: Context, job_id: str, vote: str) -> Job:
    """A member vote on a job whose protocol the charter puts to a vote."""
    caller = ctx.writer("vote on jobs")
    if vote not in ("yes", "no"):
        raise InvalidArgument(f"vote must be 'yes' or 'no', not {vote!r}")
    job = _load(ctx, job_id)
    if job.votes_needed == 0:
        raise Conflict(f"job {job.id} ({job.protocol}) needs no member vote; only approvals")
    if caller.org in job.votes:
        raise Conflict(f"{caller.org} already voted {job.votes[caller.org].vote!r} on {job.id}")
    _require_state(job, "vote on", JobState.REQUESTED)
    _require_unexpired(ctx, job)
    _require_members_active(ctx, job)
    job.votes[caller.org] = Vote(vote=vote, tx_id=ctx.tx_id, at=ctx.now)  # type: ignore[arg-type]
    voters = set(ctx.charter().voters())
    yes = yes_votes(job.votes, voters)
    if yes + len(voters - set(job.votes)) < job.votes_needed:
        reason = f"the member vote cannot reach the {job.votes_needed} yes votes needed"
        job.rejection = Reasoned(org=caller.org, reason=reason, tx_id=ctx.tx_id, at=ctx.now)
        _save(ctx, job, job.state, JobState.REJECTED)
        ctx.emit("JobRejected", _event(job, org=caller.org, reason=reason))
        return job
    _advance_if_approved(ctx, job, event="JobVoteRecorded", org=caller.org, vote=vote)
    return job


def _advance_if_approved(ctx: Context, job: Job, *, event: str, **extra: Any) -> None:
    if _fully_approved(ctx, job):
        _save(ctx, job, job.state, JobState.APPROVED)
        ctx.emit("JobApproved", _event(job, **extra))
    else:
        _save(ctx, job, job.state, job.state)
        missing = sorted(set(job.required_approvers) - set(job.approvals))
        ctx.emit(event, _event(job, missing_approvals=missing, **extra))


def _fully_approved(ctx: Context, job: Job) -> bool:
    """The rule every node's gate also applies (alliance/approvals.py)."""
    return not approval_problems(job, set(ctx.charter().voters()))


def _require_approver(job: Job, caller: Caller, action: str) -> None:
    if caller.org in job.required_approvers:
        return
    roles = [f"{i.owner} owns {i.dataset}" for i in job.inputs if i.owner != job.requester]
    if job.dealer and job.dealer != job.requester:
        roles.append(f"{job.dealer} is the dealer")
    who = "; ".join(dict.fromkeys(roles)) or "none: the request approved every part"
    raise NotAuthorized(
        f"only the owners of {job.id}'s inputs and its dealer may {action} it ({who}); "
        f"you are {caller.org}"
    )


# --- revocation and expiry ---------------------------------------------------------------------


def revoke_job(ctx: Context, job_id: str, reason: str) -> Job:
    caller = ctx.writer("revoke jobs")
    job = _load(ctx, job_id)
    if caller.org != job.requester and caller.org not in job.required_approvers:
        raise NotAuthorized(
            f"only the requester ({job.requester}) or an approver "
            f"({', '.join(job.required_approvers) or 'none'}) may revoke {job.id}; "
            f"you are {caller.org}"
        )
    reason = _check_reason(reason)
    runs_left = job.state == JobState.COMPLETED and job.runs_used < job.max_runs
    if job.state not in (JobState.REQUESTED, JobState.APPROVED) and not runs_left:
        raise Conflict(
            f"job {job.id} is {job.state.value}; only REQUESTED or APPROVED jobs "
            "(or COMPLETED ones with runs left) can be revoked"
        )
    job.revocation = Reasoned(org=caller.org, reason=reason, tx_id=ctx.tx_id, at=ctx.now)
    _save(ctx, job, job.state, JobState.REVOKED)
    ctx.emit("JobRevoked", _event(job, org=caller.org, reason=reason))
    return job


def expire_job(ctx: Context, job_id: str) -> Job:
    ctx.writer("expire jobs", admin=False)
    job = _load(ctx, job_id)
    _require_state(job, "expire", JobState.REQUESTED, JobState.APPROVED)
    if ctx.now < job.expires_at:
        raise Conflict(f"job {job.id} does not expire until {job.expires_at}; it is {ctx.now} now")
    _save(ctx, job, job.state, JobState.EXPIRED)
    ctx.emit("JobExpired", _event(job, expires_at=job.expires_at))
    return job


# --- running -----------------------------------------------------------------------------------


def claim_job(ctx: Context, job_id: str) -> Job:
    """A participant's node takes its part in the current run (the first claim starts a run)."""
    caller = ctx.writer("claim jobs", admin=False)
    job = _load(ctx, job_id)
    _require_participant(job, caller, "claim")
    refuse_claim(job)
    mark = TxMark(tx_id=ctx.tx_id, at=ctx.now)
    if job.state == JobState.RUNNING:
        if caller.org in job.claims:
            raise Conflict(f"{caller.org} already claimed run {job.current_run} of {job.id}")
        _require_unexpired(ctx, job)
        _require_run_open(ctx, job, "claim")
        _require_members_active(ctx, job)
        job.claims[caller.org] = mark
        _save(ctx, job, job.state, job.state)
        ctx.emit("JobClaimed", _event(job, run=job.current_run, org=caller.org))
        return job
    next_run = job.state == JobState.APPROVED or (
        job.state == JobState.COMPLETED and job.runs_used < job.max_runs
    )
    if job.state == JobState.COMPLETED and not next_run:
        raise Conflict(f"job {job.id} has used all its {job.max_runs} run(s); request a new job")
    if not next_run:
        raise Conflict(f"job {job.id} is {job.state.value}; only an APPROVED job can be claimed")
    _require_unexpired(ctx, job)
    _require_members_active(ctx, job)
    rows: list[int] = []
    for dataset_id in job.datasets():
        owner, name = dataset_id.split("/", 1)
        dataset = ctx.get_record(keys.dataset(owner, name), Dataset)
        if dataset is None or dataset.status != DatasetStatus.ACTIVE:
            raise Conflict(f"input {dataset_id} of {job.id} was retired; the job cannot run")
        rows.append(dataset.row_count)
    job.runs_used += 1
    job.current_run = job.runs_used
    job.run_deadline = _run_deadline(ctx, job, rows)
    job.claims = {caller.org: mark}
    _save(ctx, job, job.state, JobState.RUNNING)
    ctx.emit("JobRunning", _event(job, run=job.current_run, org=caller.org))
    return job


def submit_receipt(ctx: Context, job_id: str, receipt_json: str) -> Job:
    caller = ctx.writer("submit receipts", admin=False)
    job = _load(ctx, job_id)
    _require_participant(job, caller, "submit a receipt for")
    submission = parse_request(ReceiptSubmission, receipt_json, "receipt")
    _require_state(job, "accept receipts for", JobState.RUNNING)
    if submission.run != job.current_run:
        raise Conflict(
            f"the receipt is for run {submission.run} but {job.id} is on run {job.current_run}"
        )
    _require_run_open(ctx, job, "accept receipts for")
    if caller.org not in job.claims:
        raise Conflict(
            f"{caller.org} has not claimed run {job.current_run} of {job.id}; claim it first"
        )
    run_key = str(job.current_run)
    run_receipts = job.receipts.setdefault(run_key, {})
    if caller.org in run_receipts:
        raise Conflict(f"{caller.org} already submitted its receipt for run {run_key} of {job.id}")
    _check_receipt(job, caller.org, submission)
    run_receipts[caller.org] = Receipt(
        run=submission.run,
        org=caller.org,
        output_digests=dict(sorted(submission.output_digests.items())),
        transcript_digest=submission.transcript_digest,
        input_fingerprints=dict(sorted(submission.input_fingerprints.items())),
        engine_version=submission.engine_version,
        signer=caller.fingerprint,
        tx_id=ctx.tx_id,
        at=ctx.now,
    )
    if set(run_receipts) != set(job.participants):
        _save(ctx, job, job.state, job.state)
        waiting = sorted(set(job.participants) - set(run_receipts))
        ctx.emit(
            "ReceiptSubmitted", _event(job, run=job.current_run, org=caller.org, waiting=waiting)
        )
        return job
    result = _judge(ctx, job, run_receipts)
    job.results[run_key] = result
    _save(ctx, job, job.state, result.state)
    name = "JobCompleted" if result.state == JobState.COMPLETED else "JobDisputed"
    ctx.emit(
        name,
        _event(
            job, run=job.current_run, output_digests=result.output_digests, disputes=result.disputes
        ),
    )
    return job


def _check_receipt(job: Job, org: str, submission: ReceiptSubmission) -> None:
    received = set(job.recipients_of(org))
    reported = set(submission.output_digests)
    if reported != received:
        raise InvalidArgument(
            f"{org} receives outputs [{', '.join(sorted(received))}] of {job.id}; its receipt must "
            f"give a digest for exactly those, not [{', '.join(sorted(reported))}]"
        )
    datasets = set(job.datasets())
    foreign = sorted(set(submission.input_fingerprints) - datasets)
    if foreign:
        raise InvalidArgument(f"{', '.join(foreign)} is not an input of {job.id}")
    own = {i.dataset for i in job.inputs if i.owner == org}
    missing = sorted(own - set(submission.input_fingerprints))
    if missing:
        raise InvalidArgument(
            f"the receipt must give the fingerprint of {org}'s inputs: {', '.join(missing)}"
        )


def _judge(ctx: Context, job: Job, receipts: dict[str, Receipt]) -> RunResult:
    """COMPLETED when every output's recipients agree and every input fingerprint matches."""
    disputes: list[str] = []
    agreed: dict[str, str] = {}
    for output, recipients in sorted(job.outputs.items()):
        digests = {org: receipts[org].output_digests[output] for org in recipients}
        if len(set(digests.values())) == 1:
            agreed[output] = next(iter(digests.values()))
        else:
            said = ", ".join(f"{org}: {d}" for org, d in sorted(digests.items()))
            disputes.append(f"recipients of output {output!r} disagree ({said})")
    recorded = {i.dataset: i.fingerprint for i in job.inputs}
    for org, receipt in sorted(receipts.items()):
        for dataset_id, fingerprint in sorted(receipt.input_fingerprints.items()):
            if fingerprint != recorded[dataset_id]:
                disputes.append(
                    f"{org} used {dataset_id} with fingerprint {fingerprint}, but the job "
                    f"recorded {recorded[dataset_id]}"
                )
    state = JobState.DISPUTED if disputes else JobState.COMPLETED
    return RunResult(
        run=job.current_run,
        state=state,
        output_digests=agreed if not disputes else {},
        disputes=disputes,
        tx_id=ctx.tx_id,
        at=ctx.now,
    )


def fail_job(ctx: Context, job_id: str, report_json: str) -> Job:
    """A participant reports that its part of the job could not run; others may add theirs.

    The report is a `FailureReport` (code, optional input, row, peer), never free text: the
    contract checks each reference against the job and records the code's fixed message."""
    caller = ctx.writer("fail jobs", admin=False)
    job = _load(ctx, job_id)
    _require_participant(job, caller, "fail")
    report = _parse_failure(report_json)
    _check_failure_refs(job, caller.org, report)
    if job.state == JobState.FAILED:
        if caller.org in job.failures:
            raise Conflict(f"{caller.org} already gave its failure reason for {job.id}")
    else:
        _require_state(job, "fail", JobState.APPROVED, JobState.RUNNING)
    reason = render_failure(report, caller.org, job.id)
    job.failures[caller.org] = Failure(
        reason=reason, run=job.current_run, code=report.code, input=report.input,
        row=report.row, peer=report.peer, tx_id=ctx.tx_id, at=ctx.now,
    )
    _save(ctx, job, job.state, JobState.FAILED)
    ctx.emit("JobFailed", _event(
        job, run=job.current_run, org=caller.org, code=report.code.value, reason=reason,
    ))
    return job


def expire_run(ctx: Context, job_id: str) -> Job:
    """A participant ends a RUNNING run whose deadline passed: FAILED, naming who owes a receipt.

    The run's deadline was recorded when it started (`run_deadline`, alliance/run_deadline.py);
    a run whose party died after the protocol (or never came) ends here instead of staying
    RUNNING forever. Outputs staged for it are discarded by their nodes (the verdict is FAILED).
    """
    caller = ctx.writer("expire runs", admin=False)
    job = _load(ctx, job_id)
    _require_participant(job, caller, "expire a run of")
    _require_state(job, "expire the run of", JobState.RUNNING)
    if job.run_deadline <= 0 or ctx.now < job.run_deadline:
        raise Conflict(
            f"run {job.current_run} of {job.id} may run until {job.run_deadline}; it is "
            f"{ctx.now} now: expire it after its deadline"
        )
    reason = run_expiry_reason(job)
    job.failures[caller.org] = Failure(
        reason=reason, run=job.current_run, code=FailureCode.DEADLINE_PASSED, tx_id=ctx.tx_id,
        at=ctx.now,
    )
    _save(ctx, job, job.state, JobState.FAILED)
    ctx.emit("JobFailed", _event(job, run=job.current_run, org=caller.org, reason=reason,
                                 code="deadline_passed", run_deadline=job.run_deadline))
    return job


def run_expiry_reason(job: Job) -> str:
    """"deadline passed, missing receipts from X, Y" for the current run: a fixed template
    filled with participants' names only (safe to publish, like every failure reason). Pure."""
    done = set(job.receipts.get(str(job.current_run), {}))
    missing = [org for org in job.participants if org not in done]
    return f"deadline passed, missing receipts from {', '.join(missing) or 'nobody'}"


def _run_deadline(ctx: Context, job: Job, rows: list[int]) -> int:
    try:
        return ctx.now + run_seconds(job.parameters, rows)
    except DeadlineError as exc:
        raise InvalidArgument(f"{job.id}: {exc}; request the job again with a valid value") from exc


def _require_run_open(ctx: Context, job: Job, action: str) -> None:
    """Refuse to `action` the current run once its deadline passed (0: a job from before runs
    had deadlines, never refused)."""
    if job.run_deadline and ctx.now >= job.run_deadline:
        raise Expired(
            f"cannot {action} run {job.current_run} of {job.id}: its deadline "
            f"{job.run_deadline} passed (now {ctx.now}); expire it with "
            f"`alliance job expire-run {job.id}`"
        )


def _parse_failure(report_json: str) -> FailureReport:
    try:
        json.loads(report_json)
    except ValueError:
        codes = ", ".join(c.value for c in FailureCode)
        raise InvalidArgument(
            "FailJob takes a failure report as JSON {\"code\": ..., \"input\"?, \"row\"?, "
            f"\"peer\"?}}, not free text; codes: {codes}"
        ) from None
    return parse_request(FailureReport, report_json, "failure report")


def _check_failure_refs(job: Job, org: str, report: FailureReport) -> None:
    """The input must be one of the caller's own inputs of the job; the peer another party."""
    if report.input is not None:
        own = {i.ref for i in job.inputs if i.owner == org}
        own |= {i.dataset for i in job.inputs if i.owner == org}
        if report.input not in own:
            raise InvalidArgument(
                f"failure input {report.input!r} is not one of {org}'s inputs of {job.id} "
                f"({', '.join(sorted(own)) or 'none'})"
            )
    if report.peer is not None and (report.peer == org or report.peer not in job.participants):
        others = ", ".join(p for p in job.participants if p != org)
        raise InvalidArgument(
            f"failure peer {report.peer!r} is not another participant of {job.id} ({others})"
        )


# --- queries -----------------------------------------------------------------------------------


def get_job(ctx: Context, job_id: str) -> Job:
    ctx.reader()
    return _load(ctx, job_id)


def list_jobs(ctx: Context, filter_json: str = "{}") -> list[Job]:
    """Jobs by state and/or participant, through the composite-key indexes."""
    ctx.reader()
    wanted = parse_request(JobFilter, filter_json or "{}", "job filter")
    if wanted.participant is not None:
        ids = [a[1] for a in ctx.scan_index(keys.jobs_by_participant_range(wanted.participant))]
    elif wanted.state is not None:
        ids = [a[1] for a in ctx.scan_index(keys.jobs_by_state_range(wanted.state.value))]
    else:
        return list(ctx.scan_records(keys.jobs_range(), Job))
    jobs = [_load(ctx, job_id) for job_id in ids]
    if wanted.state is not None:
        jobs = [j for j in jobs if j.state == wanted.state]
    return jobs


def job_history(ctx: Context, job_id: str) -> list[dict[str, Any]]:
    """Every committed version of the job record, newest first, with tx id and timestamp."""
    ctx.reader()
    history = ctx.history(keys.job(job_id))
    if not history:
        raise NotFound(f"no job {job_id!r}; see ListJobs")
    return history


# --- helpers -----------------------------------------------------------------------------------


def _find(ctx: Context, job_id: str) -> Job | None:
    """The job `job_id`, None if there is none (a malformed id names no job)."""
    try:
        return ctx.get_record(keys.job(job_id), Job)
    except ValueError:
        return None


def _load(ctx: Context, job_id: str) -> Job:
    job = ctx.get_record(keys.job(job_id), Job)
    if job is None:
        raise NotFound(f"no job {job_id!r}; see ListJobs")
    return job


def _save(ctx: Context, job: Job, old: JobState | None, new: JobState) -> None:
    if old is not None and old != new:
        ctx.delete(keys.job_by_state(old.value, job.id))
    if old != new:
        ctx.put_index(keys.job_by_state(new.value, job.id))
    job.state = new
    job.updated_at = ctx.now
    job.updated_tx = ctx.tx_id
    ctx.put_record(keys.job(job.id), job)


def _event(job: Job, **extra: Any) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "state": job.state.value,
        "protocol": job.protocol,
        "participants": job.participants,
        **extra,
    }


def _require_state(job: Job, action: str, *states: JobState) -> None:
    if job.state not in states:
        allowed = " or ".join(s.value for s in states)
        raise Conflict(f"cannot {action} {job.id}: it is {job.state.value}, not {allowed}")


def _require_unexpired(ctx: Context, job: Job) -> None:
    if ctx.now >= job.expires_at:
        raise Expired(f"job {job.id} expired at {job.expires_at} (now {ctx.now}); request it again")


def _require_participant(job: Job, caller: Caller, action: str) -> None:
    if caller.org not in job.participants:
        raise NotAuthorized(
            f"only participants of {job.id} ({', '.join(job.participants)}) may {action} it; "
            f"you are {caller.org}"
        )


def _require_members_active(ctx: Context, job: Job) -> None:
    for org in sorted(set(job.participants) | {job.requester}):
        member = ctx.member(org)
        if member is None or member.status != MemberStatus.ACTIVE:
            raise Conflict(
                f"{job.id} involves {org}, which was removed from the alliance; its approvals no "
                "longer count and the job cannot proceed: revoke it and request a new one"
            )
        if member.joined_at > job.created_at:
            raise Conflict(
                f"{job.id} involves {org}, which was removed and admitted again after the job was "
                "requested; what it approved before does not carry over: request a new job"
            )


def _check_reason(reason: str) -> str:
    """A person's reason for rejecting or revoking a job: public (every member and auditor reads
    it on the ledger), so short; nodes never write free text (FailJob takes a coded report)."""
    reason = reason.strip()
    if not reason:
        raise InvalidArgument("give a reason (a short sentence saying why; it is public)")
    if len(reason) > MAX_REASON:
        raise InvalidArgument(
            f"the reason is longer than {MAX_REASON} characters; shorten it (it is public: every "
            "member and auditor reads it on the ledger)"
        )
    return reason

"""Job use cases: request, decide (approve, reject, vote, revoke), follow (list, show, history,
wait) — each returns the ledger's `Job` record (or a list of them) and names jobs by full id.

Requests are built from `alliance.models.JobRequest`, the same model the contract parses, so a
malformed request is refused here with the model's own message before anything is signed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alliance.app.errors import BadInput, JobEnded, Refused, Unreachable, WaitTimedOut
from alliance.app.ids import FULL_JOB_ID, unique_prefix
from alliance.app.session import Session
from alliance.canonical import canonical_json
from alliance.models import Job, JobFilter, JobRequest, JobState

FINAL_STATES = frozenset(
    {
        JobState.COMPLETED,
        JobState.FAILED,
        JobState.DISPUTED,
        JobState.REJECTED,
        JobState.REVOKED,
        JobState.EXPIRED,
    }
)
STATE_MEANING = {
    JobState.REQUESTED: "waiting for the input owners' approvals",
    JobState.APPROVED: "approved; waiting for the nodes to claim a run",
    JobState.RUNNING: "the nodes are computing",
    JobState.COMPLETED: "completed; recipients read it with `alliance job result`",
    JobState.FAILED: "failed; participants see why with `alliance job why`",
    JobState.DISPUTED: "disputed: the parties' receipts disagree",
    JobState.REJECTED: "rejected by an input owner",
    JobState.REVOKED: "revoked",
    JobState.EXPIRED: "expired before it ran",
}
SERVICE_MEANING = {
    JobState.APPROVED: "in force: the query servers answer lookups under it until it expires or "
    "is revoked",
    JobState.EXPIRED: "expired; the query servers refuse lookups under it",
}
"""A standing service job (multilender) is never claimed or run: what its states mean."""


def is_service(job: Job) -> bool:
    from alliance.protocols import SERVICE_PROTOCOLS

    return job.protocol in SERVICE_PROTOCOLS


def state_meaning(job: Job) -> str:
    """What the job's state means for this job (a service job's APPROVED is its whole life)."""
    if is_service(job) and job.state in SERVICE_MEANING:
        return SERVICE_MEANING[job.state]
    return STATE_MEANING[job.state]


def runs_text(job: Job, short: bool = False) -> str:
    """Runs used of the allowed, or that a service job is never run (`short`: for a column)."""
    if is_service(job):
        return "service" if short else "never (a standing service)"
    return f"{job.runs_used}/{job.max_runs}" if short else f"{job.runs_used} of {job.max_runs}"


@dataclass(frozen=True)
class HistoryEntry:
    """One committed version of a ledger record."""

    tx_id: str
    timestamp: int
    is_delete: bool
    value: dict[str, Any] | None


def _job(data: Any) -> Job:
    return Job.model_validate(data)


def resolve_job_id(session: Session, text: str) -> str:
    """The full id of the job `text` names (a full id, or a unique prefix of one)."""
    if FULL_JOB_ID.match(text):
        return text
    ids = [j["id"] for j in session.evaluate("ListJobs", "{}")]
    return unique_prefix(text, ids, "job", "alliance job list")


def build_request(
    protocol: str,
    inputs: list[str],
    parameters: dict[str, str],
    outputs: dict[str, list[str]],
    expires_in_seconds: int,
    max_runs: int = 1,
    dealer: str | None = None,
) -> JobRequest:
    """The typed request (the contract's own model); a malformed one is a BadInput."""
    from pydantic import ValidationError

    from alliance.app.errors import validation_message
    from alliance.protocols import get_protocol_spec

    try:
        request = JobRequest(
            protocol=protocol,
            inputs=tuple(inputs),
            parameters=dict(parameters),
            outputs={name: tuple(orgs) for name, orgs in outputs.items()},
            expires_in_seconds=expires_in_seconds,
            max_runs=max_runs,
            dealer=dealer,
        )
    except ValidationError as exc:
        raise BadInput(f"the job request is not valid: {validation_message(exc)}") from exc
    # the protocol's own parameter schema (the contract checks it again, with the column types)
    problems = get_protocol_spec(protocol).param_problems(request.parameters)
    if problems:
        raise BadInput(
            f"the job request is not valid: {'; '.join(problems)}",
            hint="the protocols' parameters are listed by `alliance job request --help`",
        )
    return request


def request_job(session: Session, request: JobRequest) -> Job:
    body = request.model_dump(mode="json", exclude_none=True)
    return _job(session.submit("RequestJob", canonical_json(body).decode()))


def approve_job(session: Session, job_id: str) -> Job:
    job_id = resolve_job_id(session, job_id)
    try:
        return _job(session.submit("ApproveJob", job_id))
    except Refused as refused:
        if refused.error_type != "NotAuthorized":
            raise
        job = show_job(session, job_id)
        if job.requester != session.org:
            raise
        mine = [i.ref for i in job.inputs if i.owner == session.org]
        others = sorted(set(job.required_approvers) - set(job.approvals))
        waiting = (
            f"waiting for {', '.join(others)} (`alliance --as ORG job approve {job_id}`)"
            if others
            else "no other approval is needed"
        )
        detail = (
            f"your inputs ({', '.join(mine)}) were approved by your request"
            if mine
            else "a requester approves nothing of its own"
        )
        raise Refused(
            f"{session.org} requested {job_id}: {detail}; {waiting}",
            error_type=refused.error_type,
        ) from refused


def reject_job(session: Session, job_id: str, reason: str) -> Job:
    return _job(session.submit("RejectJob", resolve_job_id(session, job_id), reason))


def revoke_job(session: Session, job_id: str, reason: str) -> Job:
    return _job(session.submit("RevokeJob", resolve_job_id(session, job_id), reason))


def vote_job(session: Session, job_id: str, vote: str) -> Job:
    return _job(session.submit("VoteJob", resolve_job_id(session, job_id), vote))


def claim_job(session: Session, job_id: str) -> Job:
    return _job(session.submit("ClaimJob", resolve_job_id(session, job_id)))


def expire_job(session: Session, job_id: str) -> Job:
    return _job(session.submit("ExpireJob", resolve_job_id(session, job_id)))


def expire_run(session: Session, job_id: str) -> Job:
    """End a RUNNING job past its run deadline: FAILED, naming who owes a receipt."""
    return _job(session.submit("ExpireRun", resolve_job_id(session, job_id)))


def show_job(session: Session, job_id: str) -> Job:
    return _job(session.evaluate("GetJob", resolve_job_id(session, job_id)))


def list_jobs(
    session: Session, state: str | None = None, participant: str | None = None
) -> list[Job]:
    query = JobFilter(state=JobState(state) if state else None, participant=participant)
    body = canonical_json(query.model_dump(mode="json", exclude_none=True)).decode()
    return [_job(item) for item in session.evaluate("ListJobs", body)]


def job_history(session: Session, job_id: str) -> list[HistoryEntry]:
    items = session.evaluate("JobHistory", resolve_job_id(session, job_id))
    return [
        HistoryEntry(h["tx_id"], int(h["timestamp"]), bool(h.get("is_delete")), h.get("value"))
        for h in items
    ]


def _job_events_of(payload: bytes, job_id: str) -> bool:
    try:
        data = json.loads(payload)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("job_id") == job_id


def wait_for_job(
    session: Session,
    job_id: str,
    *,
    timeout: float | None = None,
    on_change: Callable[[Job], None] | None = None,
    cancel: threading.Event | None = None,
    require_completed: bool = True,
) -> Job:
    """Follow a job through the ledger's chaincode events until it ends (a final state).

    Each event about the job is a hint: the job is re-read from the ledger. A broken event
    stream (the ledger restarting) is reopened, and the job re-read, until `timeout` seconds have
    passed (WaitTimedOut) or `cancel` is set. With `require_completed`, a job that ends other
    than COMPLETED raises JobEnded (carrying the state in its message)."""
    from network.audit import chain_info
    from network.errors import NetworkError

    job_id = resolve_job_id(session, job_id)
    notify = on_change or (lambda job: None)
    cancel = cancel or threading.Event()
    deadline = None if timeout is None else time.monotonic() + timeout
    last: Job | None = None
    while True:
        stream = None
        stopper: threading.Thread | None = None
        done = threading.Event()
        try:
            height = chain_info(session.network).height
            job = show_job(session, job_id)
            if require_completed and is_service(job):
                raise BadInput(
                    f"`job wait` waits for a run to end, and {job.id} is a standing "
                    f"{job.protocol} service that never runs; it is {job.state.value} "
                    f"({state_meaning(job)})",
                    hint="look an applicant up with `alliance query lender --id ID --purpose P "
                    f"--consent FILE`; `alliance job show {job.id}` shows the job")
            if last is None or job.updated_tx != last.updated_tx:
                last = job
                notify(job)
            if job.state in FINAL_STATES:
                return _ended(job, require_completed)
            stream = session.network.chaincode_events(session.chaincode, start_block=height)

            def stop_when_due(current: Any = stream, done: threading.Event = done) -> None:
                while not done.wait(0.2):
                    due = deadline is not None and time.monotonic() >= deadline
                    if due or cancel.is_set():
                        current.close()
                        return

            stopper = threading.Thread(target=stop_when_due, daemon=True)
            stopper.start()
            for event in stream:
                if not _job_events_of(event.payload, job_id):
                    continue
                job = show_job(session, job_id)
                if job.updated_tx != last.updated_tx:
                    last = job
                    notify(job)
                if job.state in FINAL_STATES:
                    return _ended(job, require_completed)
        except (NetworkError, Unreachable):
            session.reconnect()  # the ledger went away: reopen, re-read the job
            time.sleep(0.5)
        finally:
            done.set()
            if stream is not None:
                stream.close()
        if cancel.is_set():
            state = last.state.value if last else "unknown"
            raise WaitTimedOut(f"stopped waiting for {job_id}; it is {state}")
        if deadline is not None and time.monotonic() >= deadline:
            state = last.state.value if last else "unknown"
            raise WaitTimedOut(
                f"{job_id} is still {state} after {timeout:g} s "
                f"({STATE_MEANING.get(last.state, '') if last else ''})",
                hint=f"wait longer with `alliance job wait {job_id} --timeout SECONDS`",
            )


def _ended(job: Job, require_completed: bool) -> Job:
    if require_completed and job.state != JobState.COMPLETED:
        why = [f"{org}: {f.reason}" for org, f in sorted(job.failures.items())]
        if job.rejection is not None:
            why.append(f"{job.rejection.org}: {job.rejection.reason}")
        if job.revocation is not None:
            why.append(f"{job.revocation.org}: {job.revocation.reason}")
        detail = f" ({'; '.join(why)})" if why else ""
        raise JobEnded(f"{job.id} ended {job.state.value}{detail}: {STATE_MEANING[job.state]}")
    return job


@dataclass(frozen=True)
class Why:
    """Why a job failed: the coded reasons every member reads on the ledger, and the detail only
    the acting org's own node holds (its local failure log)."""

    job: Job
    ledger: dict[str, dict[str, Any]]
    local: list[dict[str, Any]]


def job_why(session: Session, job_id: str) -> Why:
    """The ledger's failure reasons of a job and this org's node's local detail about them."""
    from dataclasses import asdict

    from alliance.app.errors import mapped_errors
    from node import failure_log
    from node.paths import node_dir

    job = show_job(session, job_id)
    if session.org not in job.participants:
        raise BadInput(
            f"{session.org} is not a participant of {job.id}; the local detail of a failure is "
            f"kept by the participants' nodes ({', '.join(job.participants)}): run this `--as` one"
        )
    ledger = {org: f.model_dump(mode="json") for org, f in sorted(job.failures.items())}
    with mapped_errors():
        entries = failure_log.read(node_dir(session.net_dir, session.org), job.id)
    local = [asdict(e) for e in entries]
    return Why(job, ledger, local)

"""Standing service jobs (`multilender`): the contract's side of the multi-lender query.

At RequestJob the job's servers must be the charter's `query_servers` (named by vote), both
active voting members. A service job is never claimed or run: it stays APPROVED (a standing
authorization) until it expires or is revoked. Each server commits a signed summary per
metering period (CommitQuerySummary): only the two servers of the job (APPROVED, or the last
periods of a revoked or expired one, up to one period after it ended), for themselves, signed
by the transaction's own certificate, periods in order and within one period slot; counts only
for the job's members (none removed more than a minute before the period) and the job's
purposes only, both adding up to the entries; never more lookups of a member in one UTC day
than its quota. A server that let through what the job forbids is refused here.
"""

from __future__ import annotations

import base64
import binascii

from alliance.errors import AllianceError
from alliance.metering import QuerySummary, SummarySubmission
from alliance.models import Job, JobState
from alliance.protocols.multilender import SERVICE_PROTOCOLS, ServiceTerms
from alliance.signing import verify
from chaincode import keys
from chaincode.context import Context, parse_request
from chaincode.errors import Conflict, InvalidArgument, NotAuthorized, NotFound
from chaincode.stub import create_composite_key, partial_key_range

DAY = 86_400
REMOVAL_GRACE = 60
"""Seconds a server may take to learn of a removal from the ledger's events."""
METERED = (JobState.APPROVED, JobState.REVOKED, JobState.EXPIRED)
"""A job that served lookups (the last periods of a revoked or expired one are still taken)."""


def _summary_key(job_id: str, server: str, start: int) -> str:
    return create_composite_key("querysummary", [job_id, server, f"{start:012d}"])


def _summaries_range(job_id: str) -> tuple[str, str]:
    return partial_key_range("querysummary", [job_id])


def _last_key(job_id: str, server: str) -> str:
    return create_composite_key("querysummary~last", [job_id, server])


def _used_key(job_id: str, server: str, org: str, day: int) -> str:
    return create_composite_key("querysummary~used", [job_id, server, org, str(day)])


def is_service(job: Job) -> bool:
    return job.protocol in SERVICE_PROTOCOLS


def check_service_request(ctx: Context, job: Job) -> None:
    """RequestJob of a service job: its servers are the charter's, both active voting members."""
    if not is_service(job):
        return
    terms = ServiceTerms.from_job(job.model_dump(mode="json"))
    named = ctx.charter().query_servers
    if terms.servers != named:
        raise InvalidArgument(
            f"{job.protocol} servers must be the charter's query servers "
            f"({', '.join(named) if named else 'none named yet'}), not "
            f"{', '.join(terms.servers)}; the members name them by vote (`alliance member "
            "propose --query-servers A,B`)")
    for org in terms.servers:
        member = ctx.active_member(org, "query server")
        if "member" not in member.roles:
            raise InvalidArgument(f"query server {org!r} is an auditor; servers are members")


def refuse_claim(job: Job) -> None:
    if is_service(job):
        raise Conflict(f"{job.id} is a standing {job.protocol} authorization: it is never "
                       "claimed or run; its servers serve it while it is APPROVED")


def commit_query_summary(ctx: Context, job_id: str, summary_json: str) -> QuerySummary:
    caller = ctx.writer("commit query summaries", admin=False)
    job = ctx.get_record(keys.job(job_id), Job)
    if job is None:
        raise NotFound(f"no job {job_id!r}; see ListJobs")
    if not is_service(job):
        raise InvalidArgument(f"{job_id} is a {job.protocol} job, not a service job")
    terms = ServiceTerms.from_job(job.model_dump(mode="json"))
    if caller.org not in terms.servers:
        raise NotAuthorized(f"only the query servers of {job_id} ({', '.join(terms.servers)}) "
                            f"commit its summaries; you are {caller.org}")
    if job.state not in METERED:
        raise Conflict(f"{job_id} is {job.state.value}; it never served lookups")
    summary = parse_request(SummarySubmission, summary_json, "query summary")
    ended = job.revocation.at if job.revocation is not None else job.expires_at
    if summary.period_start >= ended + terms.period_seconds:
        raise Conflict(f"{job_id} ended at {ended}; no lookups were answered under it after "
                       f"{ended + terms.period_seconds}")
    if summary.server != caller.org:
        raise NotAuthorized(f"{caller.org} may commit only its own summaries, not "
                            f"{summary.server}'s")
    _check_signature(ctx, summary)
    _check_period(ctx, job_id, terms, summary)
    _check_counts(ctx, job_id, terms, summary)
    record = QuerySummary(
        job_id=job_id, server=summary.server, period_start=summary.period_start,
        period_end=summary.period_end, counts=dict(sorted(summary.counts.items())),
        purposes=dict(sorted(summary.purposes.items())),
        merkle_root=summary.merkle_root, entries=summary.entries, signature=summary.signature,
        signer=caller.fingerprint, tx_id=ctx.tx_id, at=ctx.now)
    ctx.put_record(_summary_key(job_id, summary.server, summary.period_start), record)
    ctx.put_bytes(_last_key(job_id, summary.server), str(summary.period_end).encode())
    ctx.emit("QuerySummaryCommitted", {
        "job_id": job_id, "server": summary.server, "period_start": summary.period_start,
        "period_end": summary.period_end, "entries": summary.entries,
        "merkle_root": summary.merkle_root, "participants": job.participants})
    return record


def _check_signature(ctx: Context, summary: SummarySubmission) -> None:
    try:
        signature = base64.b64decode(summary.signature, validate=True)
        verify(ctx.creator_identity().public_key, summary.signed_bytes(), signature)
    except (binascii.Error, ValueError, AllianceError) as exc:
        raise NotAuthorized("the summary's signature does not verify with the certificate "
                            "that signed this transaction") from exc


def _check_period(ctx: Context, job_id: str, terms: ServiceTerms,
                  summary: SummarySubmission) -> None:
    start, end, period = summary.period_start, summary.period_end, terms.period_seconds
    if end <= start:
        raise InvalidArgument(f"period_end {end} must come after period_start {start}")
    if start // period != (end - 1) // period:
        raise InvalidArgument(f"a summary covers at most one metering period of {period} s "
                              f"(aligned on multiples of {period}); {start}..{end} spans more")
    if end > ctx.now:
        raise InvalidArgument(f"period {start}..{end} has not ended (now {ctx.now})")
    last = ctx.get_bytes(_last_key(job_id, summary.server))
    if last is not None and start < int(last):
        raise Conflict(f"{summary.server} already committed its log of {job_id} up to "
                       f"{int(last)}; the next summary starts there or later")


def _check_counts(ctx: Context, job_id: str, terms: ServiceTerms,
                  summary: SummarySubmission) -> None:
    strangers = sorted(set(summary.counts) - terms.members)
    if strangers:
        raise InvalidArgument(f"counts name {', '.join(strangers)}, which may not ask under "
                              f"{job_id}")
    if any(n < 0 for n in [*summary.counts.values(), *summary.purposes.values()]):
        raise InvalidArgument("counts are never negative")
    for what, numbers in (("counts", summary.counts), ("purposes", summary.purposes)):
        if sum(numbers.values()) != summary.entries:
            raise InvalidArgument(f"the {what} add up to {sum(numbers.values())}, not to the "
                                  f"{summary.entries} entries of the log")
    foreign = sorted(set(summary.purposes) - terms.purposes)
    if foreign:
        raise Conflict(f"{summary.server} reports lookups for purpose {', '.join(foreign)}, "
                       f"which {job_id} does not allow")
    for org in sorted(summary.counts):
        member = ctx.member(org)
        removed_at = member.removed_at if member is not None else None
        if removed_at is not None and summary.period_start >= removed_at + REMOVAL_GRACE:
            raise Conflict(f"{summary.server} reports lookups by {org} after it was removed "
                           f"from the alliance at {removed_at}")
    day = summary.period_start // DAY
    for org, count in sorted(summary.counts.items()):
        key = _used_key(job_id, summary.server, org, day)
        used = int(ctx.get_bytes(key) or b"0")
        quota = terms.quota_of(org)
        if used + count > quota:
            raise Conflict(f"{summary.server} reports {used + count} lookups by {org} on day "
                           f"{day}, over its daily quota of {quota}")
        ctx.put_bytes(key, str(used + count).encode())


def list_query_summaries(ctx: Context, job_id: str) -> list[QuerySummary]:
    """Every committed summary of a service job, by server and period."""
    ctx.reader()
    return list(ctx.scan_records(_summaries_range(job_id), QuerySummary))

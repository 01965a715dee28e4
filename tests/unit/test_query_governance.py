"""The ledger-governed authorizer of a query server, the consent commitments, the multilender
job's parameters and the metering slices (pure parts; the processes are tested in
tests/integration/test_query_governed.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alliance.errors import ProtocolSpecError
from alliance.protocols import MULTILENDER
from alliance.protocols.multilender import FIELDS as SPEC_FIELDS
from alliance.protocols.multilender import ServiceTerms
from node.query import consent
from node.query.authorize import QueryContext
from node.query.errors import QueryRefused
from node.query.governance import LedgerAuthorizer, LedgerPolicy, read_policy
from node.query.metering import slices
from node.query.record import FIELDS

NOW = 1_800_000_000
COMMITMENT = "sha256:" + "cd" * 32


def job_record(**params: str) -> dict[str, Any]:
    return {
        "id": "job-1", "protocol": "multilender", "created_at": NOW - 100,
        "expires_at": NOW + 3600,
        "inputs": [{"owner": org} for org in ("bank", "telecom", "platform", "insurer",
                                              "lender")],
        "outputs": {"aggregates": ["insurer", "lender"]},  # never a server's member
        "parameters": {"server_a": "bank", "server_b": "telecom", "purposes": "credit_check",
                       "daily_quota": "3", "quotas": "lender=1", **params},
    }


def authorizer(**policy: Any) -> LedgerAuthorizer:
    terms = policy.pop("terms", ServiceTerms.from_job(job_record()))
    return LedgerAuthorizer(LedgerPolicy("bank", terms, **policy), clock=lambda: NOW)


def query(asker: str = "insurer", purpose: str = "credit_check", consent_hash: str = COMMITMENT,
          certificates: tuple[str, ...] = ("sha256:" + "01" * 32,)) -> QueryContext:
    return QueryContext(asker, purpose, consent_hash, NOW // 86400, "sha256:" + "00" * 32,
                        certificates)


def refusal(auth: LedgerAuthorizer, q: QueryContext, used: int = 0) -> str:
    with pytest.raises(QueryRefused) as refused:
        auth.authorize(q, used)
    return refused.value.code


def test_a_member_within_its_terms_is_answered() -> None:
    authorizer().authorize(query(), 0)


def test_no_job_or_an_expired_job_refuses_everything() -> None:
    assert refusal(authorizer(terms=None), query()) == "no_service_job"
    expired = ServiceTerms.from_job({**job_record(), "expires_at": NOW})
    assert refusal(authorizer(terms=expired), query()) == "no_service_job"


def test_a_removed_member_is_refused_even_if_the_job_names_it() -> None:
    assert refusal(authorizer(removed=frozenset({"insurer"})), query()) == "removed_member"


def test_a_revoked_signing_or_tls_certificate_is_refused() -> None:
    revoked = frozenset({("insurer", "sha256:" + "01" * 32)})
    assert refusal(authorizer(revoked=revoked), query()) == "revoked_certificate"
    other = query(certificates=("sha256:" + "02" * 32, "sha256:" + "01" * 32))
    assert refusal(authorizer(revoked=revoked), other) == "revoked_certificate"


def test_a_contributor_who_may_not_ask_is_refused() -> None:
    assert refusal(authorizer(), query(asker="platform")) == "not_member"


def test_purpose_consent_and_quota_are_checked() -> None:
    assert refusal(authorizer(), query(purpose="marketing")) == "bad_purpose"
    assert refusal(authorizer(), query(consent_hash="")) == "no_consent"
    assert refusal(authorizer(), query(), used=3) == "over_quota"
    assert refusal(authorizer(), query(asker="lender"), used=1) == "over_quota"


def test_the_servers_answer_the_jobs_fields_and_none_without_a_job() -> None:
    assert authorizer().answered("insurer") == FIELDS
    some = ServiceTerms.from_job(job_record(fields="applications_30d,active_loans"))
    assert authorizer(terms=some).answered("insurer") == ("active_loans", "applications_30d")
    with pytest.raises(QueryRefused) as refused:
        authorizer(terms=None).answered("insurer")
    assert refused.value.code == "no_service_job"


def test_contributions_only_from_active_contributors() -> None:
    auth = authorizer(removed=frozenset({"platform"}))
    auth.check_contributor("telecom", ())
    with pytest.raises(QueryRefused) as refused:
        auth.check_contributor("platform", ())
    assert refused.value.code == "removed_member"
    with pytest.raises(QueryRefused) as refused:
        auth.check_contributor("regulator", ())
    assert refused.value.code == "not_contributor"


def test_read_policy_takes_the_newest_unexpired_job_naming_this_server() -> None:
    old = {**job_record(), "id": "job-old", "created_at": NOW - 500}
    other = {**job_record(server_a="platform"), "id": "job-other", "created_at": NOW}
    expired = {**job_record(), "id": "job-expired", "created_at": NOW, "expires_at": NOW - 1}
    answers: dict[str, Any] = {
        "GetCharter": {"query_servers": ["bank", "telecom"]},
        "ListJobs": [old, job_record(), other, expired, {"protocol": "stats", "id": "x",
                                                         "created_at": NOW}],
        "ListMembers": [{"org": "bank", "status": "active"},
                        {"org": "platform", "status": "removed"}],
        "ListRevokedCertificates": [{"fingerprint": "sha256:" + "0f" * 32, "org": "bank",
                                     "tx_id": "t", "at": NOW - 5}],
    }

    def evaluate(name: str, *args: str) -> bytes:
        return json.dumps(answers[name]).encode()

    policy = read_policy(evaluate, "bank", now=NOW)
    assert policy.terms is not None and policy.terms.job_id == "job-1"
    assert policy.removed == {"platform"}
    assert policy.revoked == {("bank", "sha256:" + "0f" * 32)}
    assert read_policy(evaluate, "platform", now=NOW).terms is None  # not a charter server
    answers["GetCharter"] = {"query_servers": ["platform", "telecom"]}
    assert read_policy(evaluate, "platform", now=NOW).terms.job_id == "job-other"  # type: ignore[union-attr]


def test_servers_voted_out_of_the_charter_stop_serving_the_old_job() -> None:
    answers: dict[str, Any] = {"GetCharter": {}, "ListJobs": [job_record()], "ListMembers": [],
                               "ListRevokedCertificates": []}

    def evaluate(name: str, *args: str) -> bytes:
        return json.dumps(answers[name]).encode()

    assert read_policy(evaluate, "bank", now=NOW).terms is None


# --- consent commitments ---------------------------------------------------------------------


def test_a_commitment_opens_only_with_its_nonce_and_document() -> None:
    nonce = consent.new_nonce()
    c = consent.commit(nonce, b"consent of A1")
    assert consent.opens(c, nonce, b"consent of A1")
    assert not consent.opens(c, nonce, b"consent of A2")
    assert not consent.opens(c, consent.new_nonce(), b"consent of A1")


def test_commitments_to_one_document_are_unlinkable_and_hide_its_hash() -> None:
    doc = b"consent of A1"
    values = {consent.commit(consent.new_nonce(), doc) for _ in range(50)}
    assert len(values) == 50
    assert consent.document_digest(doc) not in values


def test_a_lookup_record_round_trips() -> None:
    record = consent.LookupRecord("job-1", "insurer", "credit_check", "sha256:" + "aa" * 32,
                                  [consent.ServerPart("bank", "00" * 32, COMMITMENT, 4, NOW,
                                                      "sha256:" + "bb" * 32)])
    again = consent.LookupRecord.from_json(record.to_json())
    assert again == record
    assert again.parts[0].entry("insurer", "credit_check").consent_hash == COMMITMENT


# --- the job's parameters ----------------------------------------------------------------------


def test_the_spec_fields_are_the_records_fields() -> None:
    assert SPEC_FIELDS == FIELDS


@pytest.mark.parametrize(("params", "problem"), [
    ({"server_b": "bank"}, "different members"),
    ({"purposes": "Credit Check"}, "purpose code"),
    ({"quotas": "telecom=lots"}, "ORG=N"),
    ({"period_seconds": "7000"}, "divide a day"),
    ({"fields": "age"}, "not a field"),
    ({"daily_quota": "0"}, "daily_quota"),
    ({"capacity": "1000", "part_bits": "12"}, "not both"),
    ({"capacity": "0"}, "capacity"),
])
def test_bad_parameters_say_what_is_wrong(params: dict[str, str], problem: str) -> None:
    raw = {"server_a": "bank", "server_b": "telecom", "purposes": "credit_check",
           "daily_quota": "3", **params}
    with pytest.raises(ProtocolSpecError, match=problem):
        MULTILENDER.parse_params(raw)


@pytest.mark.parametrize(("askers", "said"), [
    (("platform", "bank"), "bank runs a query server and may not ask"),
    (("telecom",), "telecom runs a query server and may not ask"),
    (("bank", "telecom"), "bank and telecom run a query server and may not ask"),
])
def test_a_job_letting_a_servers_member_ask_is_refused(askers: tuple[str, ...],
                                                       said: str) -> None:
    from alliance.protocols.spec import JobShape, ShapeInput

    owners = ("bank", "telecom", "platform")
    shape = JobShape(tuple(ShapeInput(f"{o}/loans:id", o, "string") for o in owners),
                     {"aggregates": askers})
    raw = {"server_a": "bank", "server_b": "telecom", "purposes": "credit_check",
           "daily_quota": "3"}
    problems = MULTILENDER.problems(shape, raw)
    assert any(said in p for p in problems), problems
    allowed = JobShape(shape.inputs, {"aggregates": ("platform",)})
    assert MULTILENDER.problems(allowed, raw) == []


def test_a_job_sized_by_capacity_gets_the_fewest_blocks_that_hold_it() -> None:
    from node.query.layout import MAX_LOAD
    from node.query.service import layout_of

    terms = ServiceTerms.from_job(job_record(capacity="100000"))
    layout = layout_of(terms)
    assert terms.part_bits is None and terms.capacity == 100_000
    assert layout.capacity >= 100_000
    assert layout.part_blocks == 41 and layout.part_bits == 16  # 2^16 would be 64 blocks
    assert (layout.part_blocks - 1) * 3 * 1024 * MAX_LOAD < 100_000
    plain = layout_of(ServiceTerms.from_job(job_record()))
    assert plain.part_bits == 14 and plain.part_slots == 1 << 14


def test_slices_cut_at_period_boundaries() -> None:
    assert slices(50, 250, 100) == [(50, 100), (100, 200), (200, 250)]
    assert slices(100, 100, 100) == []


class LedgerOfSummaries:
    """The contract's side the committer talks to: jobs, and the summaries committed per job,
    refusing a purpose its job does not allow (as CommitQuerySummary does)."""

    def __init__(self, *jobs: dict[str, Any]) -> None:
        self.jobs = {job["id"]: job for job in jobs}
        self.committed: list[tuple[str, dict[str, Any]]] = []

    def evaluate_transaction(self, name: str, job_id: str) -> bytes:
        if name == "GetJob":
            return json.dumps(self.jobs[job_id]).encode()
        return json.dumps([s for j, s in self.committed if j == job_id]).encode()

    def submit_transaction(self, name: str, job_id: str, body: str) -> bytes:
        summary = json.loads(body)
        foreign = set(summary["purposes"]) - ServiceTerms.from_job(self.jobs[job_id]).purposes
        if foreign:
            raise ValueError(f"{job_id} does not allow {', '.join(sorted(foreign))}")
        self.committed.append((job_id, summary))
        return b"{}"


class LoggingServer:
    """What the committer reads of a query server: its name, its log, its summaries."""

    def __init__(self, folder: Path) -> None:
        from node.query.store import ServerStore

        self.name = "bank"
        self.store = ServerStore(folder, 1024)

    def summary(self, start: int, end: int, job: str | None = None) -> Any:
        from node.query.authorize import summarize

        return summarize("bank", start, end, self.store.log_entries(start, end, job))


def metered_job(job_id: str, created_at: int, purposes: str) -> dict[str, Any]:
    record = job_record(period_seconds="3600", purposes=purposes)
    return {**record, "id": job_id, "created_at": created_at}


def test_the_committer_commits_whole_periods_unless_told_partial(tmp_path: Path) -> None:
    from node.query.metering import SummaryCommitter

    job = metered_job("job-1", 0, "credit_check")
    ledger = LedgerOfSummaries(job)
    server = LoggingServer(tmp_path)
    for n, at in enumerate((3700, 7300)):
        server.store.log_query(at, 0, "insurer", "credit_check", COMMITMENT, f"n{n}",
                               COMMITMENT, "job-1")
    auth = LedgerAuthorizer(LedgerPolicy("bank", ServiceTerms.from_job(job)), clock=lambda: NOW)
    whole = SummaryCommitter(server, auth, lambda: ledger, clock=lambda: 7400)  # type: ignore[arg-type]
    assert whole.commit_due() == 1
    assert [(s["period_start"], s["period_end"]) for _, s in ledger.committed] == [(3600, 7200)]
    partial = SummaryCommitter(server, auth, lambda: ledger, partial=True,  # type: ignore[arg-type]
                               clock=lambda: 7400)
    assert partial.commit_due() == 1  # continues where the ledger says
    assert [(s["period_start"], s["period_end"]) for _, s in ledger.committed] == [
        (3600, 7200), (7200, 7397)]


def test_a_replaced_jobs_last_queries_are_committed_under_it_and_the_new_ones_under_the_new(
        tmp_path: Path) -> None:
    """The newer job (no limit_review) was requested at 5000 and approved later: the queries
    the older one admitted until then are its own, whatever their time."""
    from node.query.metering import SummaryCommitter

    old = metered_job("job-1", 0, "credit_check,limit_review")
    new = metered_job("job-2", 5000, "credit_check")
    ledger = LedgerOfSummaries(old, new)
    server = LoggingServer(tmp_path)
    logged = [(3700, "credit_check", "job-1"), (4900, "limit_review", "job-1"),
              (5500, "limit_review", "job-1"), (6000, "credit_check", "job-2")]
    for n, (at, purpose, job_id) in enumerate(logged):
        server.store.log_query(at, 0, "insurer", purpose, COMMITMENT, f"n{n}", COMMITMENT,
                               job_id)
    auth = LedgerAuthorizer(LedgerPolicy("bank", ServiceTerms.from_job(new)), clock=lambda: NOW)
    committer = SummaryCommitter(server, auth, lambda: ledger, clock=lambda: 7400)  # type: ignore[arg-type]
    assert committer.commit_due() == 2
    assert {(job_id, s["period_start"], s["period_end"], s["entries"])
            for job_id, s in ledger.committed} == {("job-1", 3600, 7200, 3),
                                                    ("job-2", 5000, 7200, 1)}
    assert committer.check_committed() == []
    assert committer.commit_due() == 0  # nothing twice


def test_a_job_whose_summary_is_refused_holds_back_no_other(tmp_path: Path) -> None:
    from node.query.errors import QueryError
    from node.query.metering import SummaryCommitter

    old = metered_job("job-1", 0, "credit_check")  # logged limit_review: refused
    new = metered_job("job-2", 5000, "credit_check")
    ledger = LedgerOfSummaries(old, new)
    server = LoggingServer(tmp_path)
    server.store.log_query(4000, 0, "insurer", "limit_review", COMMITMENT, "a", COMMITMENT,
                           "job-1")
    server.store.log_query(6000, 0, "insurer", "credit_check", COMMITMENT, "b", COMMITMENT,
                           "job-2")
    auth = LedgerAuthorizer(LedgerPolicy("bank", ServiceTerms.from_job(new)), clock=lambda: NOW)
    committer = SummaryCommitter(server, auth, lambda: ledger, clock=lambda: 7400)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="job-1: job-1 does not allow limit_review"):
        committer.commit_due()
    assert [job_id for job_id, _ in ledger.committed] == ["job-2"]

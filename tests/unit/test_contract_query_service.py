"""The contract's side of the multi-lender query: query servers named by a charter vote, the
standing `multilender` job, and the servers' signed period summaries (each rule tried)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from contract_helpers import START, Alliance, founded

from alliance.canonical import canonical_json

ROOT = "sha256:" + "ab" * 32
DAY = 86_400


def propose_servers(a: Alliance, servers: list[str], by: str = "bank") -> dict[str, Any]:
    return a.call("ProposeMember", json.dumps({
        "action": "set_query_servers", "org": servers[0] if servers else "bank",
        "servers": servers, "reason": "the query servers"}), by=by)


def with_servers(a: Alliance) -> Alliance:
    proposal = propose_servers(a, ["bank", "telecom"]).json()
    a.ok("VoteProposal", proposal["id"], "yes", by="telecom")
    return a


def service_request(**params: str) -> str:
    parameters = {"server_a": "bank", "server_b": "telecom", "purposes": "credit_check",
                  "daily_quota": "5", "quotas": "platform=2", "period_seconds": "3600",
                  **params}
    return json.dumps({
        "protocol": "multilender",
        "inputs": ["bank/customers:id", "telecom/subscribers:id", "platform/users:id"],
        "parameters": parameters,
        "outputs": {"aggregates": ["platform"]},
        "expires_in_seconds": 30 * DAY})


@pytest.fixture
def a() -> Alliance:
    return with_servers(founded())


@pytest.fixture
def job(a: Alliance) -> dict[str, Any]:
    job = a.ok("RequestJob", service_request(), by="bank")
    a.ok("ApproveJob", job["id"], by="telecom")
    return a.ok("ApproveJob", job["id"], by="platform")


def summary(a: Alliance, server: str, start: int, end: int, counts: dict[str, int],
            **overrides: Any) -> str:
    body = {"server": server, "period_start": start, "period_end": end,
            "counts": dict(sorted(counts.items())),
            "purposes": {"credit_check": sum(counts.values())}, "merkle_root": ROOT,
            "entries": sum(counts.values())}
    body.update({k: v for k, v in overrides.items() if k != "signature"})
    signature = a.org(server).admin_signer.sign(hashlib.sha256(canonical_json(body)).digest())
    return json.dumps({**body, "signature": overrides.get(
        "signature", base64.b64encode(signature).decode())})


def commit(a: Alliance, job: dict[str, Any], text: str, by: str = "bank",
           at: int = START + DAY) -> Any:
    return a.call("CommitQuerySummary", job["id"], text, by=by, timestamp=at)


# --- the charter's query servers -------------------------------------------------------------


def test_a_passed_vote_names_the_query_servers_in_the_charter(a: Alliance) -> None:
    assert a.ok("GetCharter")["query_servers"] == ["bank", "telecom"]
    assert a.event()[0] == "QueryServersChanged"


def test_one_member_alone_cannot_name_the_servers() -> None:
    a = founded()
    assert propose_servers(a, ["bank", "telecom"]).json()["state"] == "PENDING"
    assert "query_servers" not in a.ok("GetCharter")


@pytest.mark.parametrize("servers", [["bank", "bank"], ["bank"], ["bank", "regulator"],
                                     ["bank", "nobody"]])
def test_servers_must_be_two_distinct_voting_members(servers: list[str]) -> None:
    response = propose_servers(founded(), servers)
    assert response.error_type == "InvalidArgument", response.message


def test_removing_a_server_ends_the_pair(a: Alliance) -> None:
    proposal = a.ok("ProposeMember", json.dumps(
        {"action": "remove", "org": "telecom", "reason": "left"}), by="bank")
    a.ok("VoteProposal", proposal["id"], "yes", by="platform")
    assert "query_servers" not in a.ok("GetCharter")


# --- the standing job --------------------------------------------------------------------------


def test_a_service_job_must_name_the_charters_servers(a: Alliance) -> None:
    response = a.call("RequestJob", service_request(server_a="telecom", server_b="bank"),
                      by="bank")  # the charter's two, in the other order
    assert response.error_type == "InvalidArgument"
    assert "charter's query servers" in response.message


def test_no_service_job_before_the_members_name_servers() -> None:
    response = founded().call("RequestJob", service_request(), by="bank")
    assert response.error_type == "InvalidArgument" and "none named yet" in response.message


def test_only_contributors_may_ask(a: Alliance) -> None:
    body = json.loads(service_request())
    body["outputs"] = {"aggregates": ["platform", "regulator"]}
    response = a.call("RequestJob", json.dumps(body), by="bank")
    assert response.status != 200


@pytest.mark.parametrize("server", ["bank", "telecom"])
def test_neither_servers_member_may_ask(a: Alliance, server: str) -> None:
    body = json.loads(service_request())
    body["outputs"] = {"aggregates": ["platform", server]}
    response = a.call("RequestJob", json.dumps(body), by="bank")
    assert response.error_type == "InvalidArgument"
    assert f"{server} runs a query server and may not ask" in response.message


def test_a_service_job_waits_for_every_contributing_member(a: Alliance) -> None:
    job = a.ok("RequestJob", service_request(), by="bank")
    assert job["state"] == "REQUESTED"
    assert job["required_approvers"] == ["platform", "telecom"]


def test_a_standing_job_is_never_claimed(a: Alliance, job: dict[str, Any]) -> None:
    assert job["state"] == "APPROVED"
    response = a.call("ClaimJob", job["id"], by=a.org("bank").client)
    assert response.error_type == "Conflict" and "standing" in response.message


# --- summaries ---------------------------------------------------------------------------------


def test_a_server_commits_a_signed_summary(a: Alliance, job: dict[str, Any]) -> None:
    record = commit(a, job, summary(a, "bank", START, START + 3600 - START % 3600,
                                    {"platform": 2})).json()
    assert record["entries"] == 2 and record["merkle_root"] == ROOT
    assert a.event()[0] == "QuerySummaryCommitted"
    listed = a.ok("ListQuerySummaries", job["id"], by="regulator")
    assert [s["server"] for s in listed] == ["bank"]


def test_only_the_jobs_servers_commit_summaries(a: Alliance, job: dict[str, Any]) -> None:
    response = commit(a, job, summary(a, "platform", START, START + 10, {"platform": 1}),
                      by="platform")
    assert response.error_type == "NotAuthorized"


def test_a_server_commits_only_its_own_summary(a: Alliance, job: dict[str, Any]) -> None:
    text = summary(a, "telecom", START, START + 10, {"platform": 1})
    assert commit(a, job, text, by="bank").error_type == "NotAuthorized"


def test_a_summary_signed_by_another_key_is_refused(a: Alliance, job: dict[str, Any]) -> None:
    forged = json.loads(summary(a, "telecom", START, START + 10, {"platform": 1}))
    forged["server"] = "bank"
    assert commit(a, job, json.dumps(forged)).error_type == "NotAuthorized"


def test_counts_must_add_up_and_name_members(a: Alliance, job: dict[str, Any]) -> None:
    wrong_sum = summary(a, "bank", START, START + 10, {"platform": 1}, entries=2)
    assert commit(a, job, wrong_sum).error_type == "InvalidArgument"
    stranger = summary(a, "bank", START, START + 10, {"regulator": 1})
    assert commit(a, job, stranger).error_type == "InvalidArgument"


def test_a_summary_counting_lookups_by_a_servers_member_is_refused(
        a: Alliance, job: dict[str, Any]) -> None:
    """A server that let its own member (or the other server's) ask is refused here too."""
    for asker in ("bank", "telecom"):
        text = summary(a, "bank", START, START + 10, {asker: 1})
        response = commit(a, job, text)
        assert response.error_type == "InvalidArgument" and "may not ask" in response.message


def test_periods_do_not_overlap_span_two_slots_or_lie_ahead(
    a: Alliance, job: dict[str, Any]
) -> None:
    slot = START - START % 3600
    assert commit(a, job, summary(a, "bank", slot, slot + 3700, {"platform": 1})).error_type == \
        "InvalidArgument"
    assert commit(a, job, summary(a, "bank", slot, slot + 60, {"platform": 1}),
                  at=slot + 30).error_type == "InvalidArgument"
    assert commit(a, job, summary(a, "bank", slot, slot + 60, {"platform": 1})).status == 200
    assert commit(a, job, summary(a, "bank", slot + 30, slot + 90, {"platform": 1})).error_type \
        == "Conflict"


def test_the_contract_refuses_a_day_over_a_members_quota(
    a: Alliance, job: dict[str, Any]
) -> None:
    slot = START - START % 3600
    assert commit(a, job, summary(a, "bank", slot, slot + 60, {"platform": 2})).status == 200
    response = commit(a, job, summary(a, "bank", slot + 60, slot + 120, {"platform": 1}))
    assert response.error_type == "Conflict" and "quota" in response.message


def test_the_last_periods_of_a_revoked_job_are_still_metered_but_not_later_ones(
    a: Alliance, job: dict[str, Any]
) -> None:
    a.ok("RevokeJob", job["id"], "service ends", by="bank", timestamp=START + 100)
    slot = START - START % 3600
    assert commit(a, job, summary(a, "bank", slot, slot + 60, {"platform": 1})).status == 200
    later = slot + 3 * 3600
    response = commit(a, job, summary(a, "bank", later, later + 60, {"platform": 1}))
    assert response.error_type == "Conflict" and "ended" in response.message


def test_purposes_the_job_does_not_allow_are_refused(a: Alliance, job: dict[str, Any]) -> None:
    text = summary(a, "bank", START, START + 10, {"platform": 1}, purposes={"marketing": 1})
    response = commit(a, job, text)
    assert response.error_type == "Conflict" and "marketing" in response.message


def test_lookups_by_a_member_removed_before_the_period_are_refused(
    a: Alliance, job: dict[str, Any]
) -> None:
    proposal = a.ok("ProposeMember", json.dumps(
        {"action": "remove", "org": "platform", "reason": "left"}), by="bank",
        timestamp=START + 10)
    a.ok("VoteProposal", proposal["id"], "yes", by="telecom", timestamp=START + 20)
    slot = START + 3600 - START % 3600
    response = commit(a, job, summary(a, "bank", slot, slot + 60, {"platform": 1}),
                      at=slot + DAY // 2)
    assert response.error_type == "Conflict" and "removed" in response.message

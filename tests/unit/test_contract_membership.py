"""Charter, membership proposals, removal and certificate revocation."""

from __future__ import annotations

import json

import pytest
from contract_helpers import (
    START,
    Alliance,
    dataset_spec,
    founded,
    job_request,
    org_identities,
    signed_charter,
)

from alliance.charter import Charter


@pytest.fixture
def a() -> Alliance:
    return founded()


def join(org: str = "insurer", **extra: object) -> str:
    return json.dumps({"action": "join", "org": org, "reason": "new partner", **extra})


def remove(org: str) -> str:
    return json.dumps({"action": "remove", "org": org, "reason": "left the market"})


def removed(a: Alliance, org: str = "platform") -> Alliance:
    proposal = a.ok("ProposeMember", remove(org), by="bank")
    a.ok("VoteProposal", proposal["id"], "yes", by="telecom")
    return a


# --- the charter ---------------------------------------------------------------------------------


def test_charter_is_on_the_ledger_with_every_member_active(a: Alliance) -> None:
    charter = a.ok("GetCharter", by="regulator")
    assert sorted(charter["members"]) == ["bank", "platform", "regulator", "telecom"]
    members = a.ok("ListMembers", by="telecom")
    assert [(m["org"], m["status"]) for m in members] == [
        ("bank", "active"), ("platform", "active"), ("regulator", "active"), ("telecom", "active")
    ]


def test_init_charter_emits_event() -> None:
    a = Alliance()
    a.ok("InitCharter", signed_charter(Charter.founding(["bank"], [])), by="bank")
    name, payload = a.event()
    assert name == "CharterInitialized"
    assert payload["members"] == ["bank"]


def test_init_charter_twice_is_conflict(a: Alliance) -> None:
    charter = signed_charter(Charter.founding(["bank"], []))
    response = a.refused("InitCharter", charter, by="bank", error="Conflict")
    assert "already on the ledger" in response.message


def test_init_charter_by_org_outside_charter_is_refused() -> None:
    a = Alliance()
    charter = signed_charter(Charter.founding(["bank", "telecom"], []))
    a.refused("InitCharter", charter, by="insurer", error="NotAuthorized")


def test_init_charter_by_client_cert_is_refused() -> None:
    a = Alliance()
    charter = signed_charter(Charter.founding(["bank"], []))
    a.refused("InitCharter", charter, by=a.org("bank").client, error="NotAuthorized")


def test_init_charter_by_auditor_is_refused() -> None:
    a = Alliance()
    charter = signed_charter(Charter.founding(["bank"], ["regulator"]))
    a.refused("InitCharter", charter, by="regulator", error="NotAuthorized")


def test_init_charter_with_invalid_charter_is_invalid_argument() -> None:
    a = Alliance()
    a.refused("InitCharter", '{"members": {}}', by="bank", error="InvalidArgument")
    a.refused("InitCharter", "not json", by="bank", error="InvalidArgument")


def test_queries_before_init_say_charter_missing() -> None:
    response = Alliance().refused("GetCharter", by="bank", error="NotFound")
    assert "InitCharter" in response.message


def test_unknown_msp_is_refused(a: Alliance) -> None:
    response = a.refused("GetCharter", by="insurer", error="NotAuthorized")
    assert "InsurerMSP" in response.message


# --- proposals -----------------------------------------------------------------------------------


def test_proposal_counts_proposer_yes_and_stays_pending(a: Alliance) -> None:
    proposal = a.ok("ProposeMember", join(), by="bank", tx_id="ab" * 32)
    assert proposal["id"] == "prop-" + ("ab" * 32)[:16]
    assert proposal["state"] == "PENDING"
    assert proposal["votes"]["bank"]["vote"] == "yes"
    assert a.event() == ("MemberProposed", {"proposal_id": proposal["id"], "action": "join",
                                            "org": "insurer", "state": "PENDING",
                                            "proposer": "bank"})


def test_join_passes_at_threshold_and_admits_member_in_same_tx(a: Alliance) -> None:
    proposal = a.ok("ProposeMember", join(), by="bank")
    passed = a.ok("VoteProposal", proposal["id"], "yes", by="telecom")
    assert passed["state"] == "PASSED"
    name, payload = a.event()
    assert (name, payload["state"], payload["org"]) == ("MemberJoined", "PASSED", "insurer")
    charter = a.ok("GetCharter", by="insurer")
    assert charter["members"]["insurer"] == {"msp_id": "InsurerMSP", "roles": ["member"]}
    assert charter["version"] == 2
    a.ok("RegisterDataset", dataset_spec("policies"), by="insurer")


def test_single_vote_threshold_passes_at_once() -> None:
    a = founded(membership_threshold_pct=1)
    proposal = a.ok("ProposeMember", join(), by="bank")
    assert proposal["state"] == "PASSED"
    assert a.event()[0] == "MemberJoined"


def test_proposal_rejected_once_passing_is_impossible(a: Alliance) -> None:
    proposal = a.ok("ProposeMember", join(), by="bank")
    assert a.ok("VoteProposal", proposal["id"], "no", by="telecom")["state"] == "PENDING"
    assert a.event()[0] == "ProposalVoted"
    assert a.ok("VoteProposal", proposal["id"], "no", by="platform")["state"] == "REJECTED"
    assert a.event()[0] == "ProposalRejected"
    a.refused("GetCharter", by="insurer", error="NotAuthorized")


def test_double_vote_is_conflict(a: Alliance) -> None:
    proposal = a.ok("ProposeMember", join(), by="bank")
    a.ok("VoteProposal", proposal["id"], "no", by="telecom")
    a.refused("VoteProposal", proposal["id"], "yes", by="telecom", error="Conflict")


def test_proposer_cannot_vote_again(a: Alliance) -> None:
    proposal = a.ok("ProposeMember", join(), by="bank")
    a.refused("VoteProposal", proposal["id"], "yes", by="bank", error="Conflict")


def test_vote_with_another_admin_cert_of_same_org_is_still_a_double_vote(a: Alliance) -> None:
    proposal = a.ok("ProposeMember", join(), by="bank")
    a.ok("VoteProposal", proposal["id"], "no", by="telecom")
    a.refused("VoteProposal", proposal["id"], "yes", by=a.org("telecom").extra_admin,
              error="Conflict")


def test_vote_on_decided_proposal_is_conflict(a: Alliance) -> None:
    proposal = a.ok("ProposeMember", join(), by="bank")
    a.ok("VoteProposal", proposal["id"], "yes", by="telecom")
    a.refused("VoteProposal", proposal["id"], "yes", by="platform", error="Conflict")


def test_vote_must_be_yes_or_no(a: Alliance) -> None:
    proposal = a.ok("ProposeMember", join(), by="bank")
    a.refused("VoteProposal", proposal["id"], "maybe", by="telecom", error="InvalidArgument")


def test_vote_on_unknown_proposal_is_not_found(a: Alliance) -> None:
    a.refused("VoteProposal", "prop-nope", "yes", by="telecom", error="NotFound")


def test_vote_after_expiry_is_expired(a: Alliance) -> None:
    proposal = a.ok("ProposeMember", join(), by="bank")
    later = proposal["expires_at"]
    a.refused("VoteProposal", proposal["id"], "yes", by="telecom", timestamp=later,
              error="Expired")


def test_expire_proposal_only_after_its_time(a: Alliance) -> None:
    proposal = a.ok("ProposeMember", join(), by="bank")
    a.refused("ExpireProposal", proposal["id"], by="telecom", error="Conflict")
    expired = a.ok("ExpireProposal", proposal["id"], by="telecom", timestamp=proposal["expires_at"])
    assert expired["state"] == "EXPIRED"
    assert a.event()[0] == "ProposalExpired"
    assert [p["id"] for p in a.ok("ListProposals", "EXPIRED")] == [proposal["id"]]


def test_second_open_proposal_about_same_org_is_conflict(a: Alliance) -> None:
    a.ok("ProposeMember", join(), by="bank")
    a.refused("ProposeMember", join(), by="telecom", error="Conflict")


def test_propose_join_of_existing_member_is_conflict(a: Alliance) -> None:
    a.refused("ProposeMember", join("telecom"), by="bank", error="Conflict")


def test_propose_join_with_taken_msp_id_is_conflict(a: Alliance) -> None:
    a.refused("ProposeMember", join("insurer", msp_id="BankMSP"), by="bank", error="Conflict")


def test_propose_removal_of_non_member_is_not_found(a: Alliance) -> None:
    a.refused("ProposeMember", remove("insurer"), by="bank", error="NotFound")


@pytest.mark.parametrize(
    "body",
    [
        {"action": "join", "org": "Insurer!", "reason": "x"},
        {"action": "merge", "org": "insurer", "reason": "x"},
        {"action": "join", "org": "insurer"},
        {"action": "join", "org": "insurer", "reason": "x", "votes": 3},
        {"action": "set_roles", "org": "platform", "reason": "x"},
        {"action": "join", "org": "insurer", "reason": "x", "roles": ["owner"]},
    ],
)
def test_malformed_proposal_is_invalid_argument(a: Alliance, body: dict) -> None:
    a.refused("ProposeMember", json.dumps(body), by="bank", error="InvalidArgument")


def test_proposal_needs_admin_cert(a: Alliance) -> None:
    a.refused("ProposeMember", join(), by=a.org("bank").client, error="NotAuthorized")


def test_auditor_cannot_propose_or_vote(a: Alliance) -> None:
    a.refused("ProposeMember", join(), by="regulator", error="NotAuthorized")
    proposal = a.ok("ProposeMember", join(), by="bank")
    response = a.refused("VoteProposal", proposal["id"], "yes", by="regulator",
                         error="NotAuthorized")
    assert "auditor" in response.message


def test_removal_leaving_no_voter_is_conflict() -> None:
    a = Alliance()
    a.ok("InitCharter", signed_charter(Charter.founding(["bank"], ["regulator"])), by="bank")
    a.refused("ProposeMember", remove("bank"), by="bank", error="Conflict")


def test_list_proposals_by_state(a: Alliance) -> None:
    first = a.ok("ProposeMember", join(), by="bank")
    second = a.ok("ProposeMember", join("broker"), by="bank")
    a.ok("VoteProposal", second["id"], "yes", by="telecom")
    assert [p["id"] for p in a.ok("ListProposals", "PENDING")] == [first["id"]]
    assert [p["id"] for p in a.ok("ListProposals", "PASSED")] == [second["id"]]
    assert len(a.ok("ListProposals", by="regulator")) == 2
    a.refused("ListProposals", "OPEN", error="InvalidArgument")
    assert a.ok("GetProposal", first["id"], by="regulator")["org"] == "insurer"


def test_set_roles_makes_member_an_auditor_who_can_no_longer_write(a: Alliance) -> None:
    body = json.dumps({"action": "set_roles", "org": "platform", "roles": ["auditor"],
                       "reason": "now supervises"})
    proposal = a.ok("ProposeMember", body, by="bank")
    a.ok("VoteProposal", proposal["id"], "yes", by="telecom")
    assert a.event()[0] == "MemberRolesChanged"
    a.refused("RegisterDataset", dataset_spec("logs"), by="platform", error="NotAuthorized")
    a.ok("ListDatasets", by="platform")


# --- removal -------------------------------------------------------------------------------------


def test_removal_marks_member_removed_and_emits_event(a: Alliance) -> None:
    removed(a)
    name, payload = a.event()
    assert (name, payload["org"], payload["state"]) == ("MemberRemoved", "platform", "PASSED")
    members = {m["org"]: m for m in a.ok("ListMembers")}
    assert members["platform"]["status"] == "removed"
    assert "platform" not in a.ok("GetCharter")["members"]


@pytest.mark.parametrize("identity", ["admin", "client", "peer"])
def test_removed_member_cannot_even_read(a: Alliance, identity: str) -> None:
    removed(a)
    response = a.refused("GetCharter", by=getattr(a.org("platform"), identity),
                         error="NotAuthorized")
    assert "removed" in response.message


def test_removed_member_cannot_register_request_or_vote(a: Alliance) -> None:
    proposal = a.ok("ProposeMember", join(), by="bank")
    removed(a)
    a.refused("RegisterDataset", dataset_spec("logs"), by="platform", error="NotAuthorized")
    a.refused("RequestJob", job_request(["platform/users:amount"]), by="platform",
              error="NotAuthorized")
    a.refused("VoteProposal", proposal["id"], "yes", by="platform", error="NotAuthorized")


def test_removed_member_cannot_approve_or_claim(a: Alliance) -> None:
    job = a.request("telecom", ["platform/users:amount"], {"result": ["telecom", "platform"]})
    removed(a)
    a.refused("ApproveJob", job["id"], by="platform", error="NotAuthorized")
    a.refused("ClaimJob", job["id"], by=a.org("platform").client, error="NotAuthorized")


def test_removed_members_approval_no_longer_counts(a: Alliance) -> None:
    job = a.request("telecom", ["bank/customers:amount", "platform/users:amount"])
    a.ok("ApproveJob", job["id"], by="platform")
    removed(a)
    response = a.refused("ApproveJob", job["id"], by="bank", error="Conflict")
    assert "removed" in response.message


def test_approved_job_with_removed_participant_cannot_be_claimed(a: Alliance) -> None:
    job = a.request("telecom", ["platform/users:amount"], {"result": ["telecom"]})
    a.ok("ApproveJob", job["id"], by="platform")
    removed(a)
    a.refused("ClaimJob", job["id"], by=a.org("telecom").client, error="Conflict")


def test_removed_member_no_longer_counts_as_voter(a: Alliance) -> None:
    removed(a)
    # two voters left at 66% -> 2 yes votes needed
    proposal = a.ok("ProposeMember", join(), by="bank")
    assert proposal["state"] == "PENDING"
    assert a.ok("VoteProposal", proposal["id"], "yes", by="telecom")["state"] == "PASSED"


def test_removed_member_can_rejoin_by_vote(a: Alliance) -> None:
    removed(a)
    proposal = a.ok("ProposeMember", join("platform"), by="bank")
    a.ok("VoteProposal", proposal["id"], "yes", by="telecom")
    a.ok("GetCharter", by="platform")


# --- certificate revocation ----------------------------------------------------------------------


def test_revoked_certificate_is_rejected_everywhere(a: Alliance) -> None:
    client = a.org("bank").client
    a.ok("GetCharter", by=client)
    record = a.ok("RevokeCertificate", client.fingerprint, by="bank")
    assert record == {"fingerprint": client.fingerprint, "org": "bank",
                      "tx_id": record["tx_id"], "at": record["at"]}
    assert a.event() == ("CertificateRevoked", {"fingerprint": client.fingerprint, "org": "bank",
                                                "state": "revoked"})
    response = a.refused("GetCharter", by=client, error="NotAuthorized")
    assert "certificate revoked" in response.message
    a.ok("GetCharter", by="bank")


def test_revoked_admin_cert_cannot_write_but_other_admin_can(a: Alliance) -> None:
    bank = a.org("bank")
    a.ok("RevokeCertificate", bank.admin.fingerprint, by=bank.extra_admin)
    a.refused("RegisterDataset", dataset_spec("loans"), by=bank.admin, error="NotAuthorized")
    a.ok("RegisterDataset", dataset_spec("loans"), by=bank.extra_admin)


def test_other_org_cannot_revoke_your_certificate(a: Alliance) -> None:
    client = a.org("bank").client
    a.ok("RevokeCertificate", client.fingerprint, by="telecom")
    a.ok("GetCharter", by=client)
    a.ok("RevokeCertificate", client.fingerprint, by="bank")
    a.refused("GetCharter", by=client, error="NotAuthorized")


def test_revoke_twice_is_conflict(a: Alliance) -> None:
    fingerprint = a.org("bank").client.fingerprint
    a.ok("RevokeCertificate", fingerprint, by="bank")
    a.refused("RevokeCertificate", fingerprint, by="bank", error="Conflict")


def test_revoke_needs_admin_and_a_fingerprint(a: Alliance) -> None:
    bank = a.org("bank")
    a.refused("RevokeCertificate", bank.client.fingerprint, by=bank.client, error="NotAuthorized")
    a.refused("RevokeCertificate", "deadbeef", by="bank", error="InvalidArgument")


def test_list_revoked_certificates(a: Alliance) -> None:
    a.ok("RevokeCertificate", a.org("bank").client.fingerprint, by="bank")
    listed = a.ok("ListRevokedCertificates", by="regulator")
    assert [(r["org"], r["fingerprint"]) for r in listed] == [
        ("bank", a.org("bank").client.fingerprint)
    ]


def test_identities_are_distinct_per_org() -> None:
    assert org_identities("bank").admin.fingerprint != org_identities("telecom").admin.fingerprint


def test_approval_given_before_removal_does_not_count_after_readmission(a: Alliance) -> None:
    job = a.request("telecom", ["bank/customers:amount", "platform/users:amount"])
    a.ok("ApproveJob", job["id"], by="platform")
    removed(a)
    proposal = a.ok("ProposeMember", join("platform"), by="bank")
    assert a.ok("VoteProposal", proposal["id"], "yes", by="telecom")["state"] == "PASSED"
    response = a.refused("ApproveJob", job["id"], by="bank", error="Conflict")
    assert "admitted again" in response.message


def test_a_rotated_certificate_works_until_its_grace_period_ends(a: Alliance) -> None:
    bank = a.org("bank")
    options = json.dumps({"grace_seconds": 600, "reason": "superseded",
                          "replaced_by": bank.extra_admin.fingerprint})
    record = a.ok("RevokeCertificate", bank.admin.fingerprint, options, by=bank.extra_admin,
                  timestamp=START + 1000)
    assert (record["effective_at"], record["replaced_by"]) == (
        START + 1600, bank.extra_admin.fingerprint)
    a.ok("RegisterDataset", dataset_spec("loans"), by=bank.admin, timestamp=START + 1599)
    response = a.refused("RegisterDataset", dataset_spec("cards"), by=bank.admin,
                         timestamp=START + 1600, error="NotAuthorized")
    assert "certificate revoked" in response.message


@pytest.mark.parametrize(
    "options",
    ['{"grace_seconds": -1}', '{"grace_seconds": 99999999}', '{"replaced_by": "nope"}',
     '{"colour": "red"}'],
)
def test_bad_revocation_options_are_refused(a: Alliance, options: str) -> None:
    a.refused("RevokeCertificate", a.org("bank").client.fingerprint, options, by="bank",
              error="InvalidArgument")

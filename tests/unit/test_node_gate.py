"""The node's own approval gate: each condition, tried against a job the real contract produced."""

from __future__ import annotations

from typing import Any

import pytest
from contract_helpers import Alliance, founded

from alliance.models import Job
from node.errors import GateRefused
from node.gate import check_job, refusal_reasons


def _job(data: dict[str, Any]) -> Job:
    return Job.model_validate(data)


@pytest.fixture
def alliance() -> Alliance:
    return founded()


def local_fps(job: Job, org: str) -> dict[str, str]:
    return {i.dataset: i.fingerprint for i in job.inputs if i.owner == org}


def test_gate_opens_for_approved_job_with_matching_data(alliance: Alliance) -> None:
    job = _job(alliance.approved_job())
    assert refusal_reasons(job, "bank", job.created_at + 1, local_fps(job, "bank")) == []


def test_gate_refuses_requested_job(alliance: Alliance) -> None:
    job = _job(alliance.request("telecom", ["bank/customers:amount", "telecom/subscribers:amount"]))
    with pytest.raises(GateRefused, match="REQUESTED"):
        check_job(job, "telecom", job.created_at + 1, local_fps(job, "telecom"))


def test_gate_refuses_missing_approval_even_if_state_claims_approved(alliance: Alliance) -> None:
    data = alliance.approved_job()
    data["approvals"].pop("bank")  # a forged or corrupted job record
    with pytest.raises(GateRefused, match="lacks committed approvals from bank"):
        check_job(_job(data), "telecom", data["created_at"] + 1, {})


def test_gate_refuses_non_participant(alliance: Alliance) -> None:
    job = _job(alliance.approved_job())
    with pytest.raises(GateRefused, match="platform is not a participant"):
        check_job(job, "platform", job.created_at + 1, {})


def test_gate_refuses_expired_job(alliance: Alliance) -> None:
    job = _job(alliance.approved_job())
    with pytest.raises(GateRefused, match="expired"):
        check_job(job, "bank", job.expires_at, local_fps(job, "bank"))


def test_gate_refuses_exhausted_runs(alliance: Alliance) -> None:
    data = alliance.approved_job()
    data["runs_used"] = data["max_runs"]
    with pytest.raises(GateRefused, match="used all"):
        check_job(_job(data), "bank", data["created_at"] + 1, local_fps(_job(data), "bank"))


def test_gate_refuses_changed_local_data(alliance: Alliance) -> None:
    job = _job(alliance.approved_job())
    changed = {i.dataset: "sha256:" + "0" * 64 for i in job.inputs if i.owner == "bank"}
    with pytest.raises(GateRefused, match="changed since approval"):
        check_job(job, "bank", job.created_at + 1, changed)


def test_gate_refuses_dataset_missing_from_store(alliance: Alliance) -> None:
    job = _job(alliance.approved_job())
    with pytest.raises(GateRefused, match="not in this node's dataset store"):
        check_job(job, "bank", job.created_at + 1, {})


def test_gate_refuses_run_not_claimed_by_this_org(alliance: Alliance) -> None:
    job = _job(alliance.approved_job())
    with pytest.raises(GateRefused, match="not the run bank claimed"):
        check_job(job, "bank", job.created_at + 1, local_fps(job, "bank"), claimed_run=1)


def test_gate_refuses_unknown_protocol(alliance: Alliance) -> None:
    data = alliance.approved_job()
    data["protocol"] = "exfiltrate"
    with pytest.raises(GateRefused, match="does not run"):
        check_job(_job(data), "bank", data["created_at"] + 1, local_fps(_job(data), "bank"))


def test_gate_refuses_missing_member_votes(alliance: Alliance) -> None:
    data = alliance.approved_job()
    data["votes_needed"] = 2
    with pytest.raises(GateRefused, match="member votes"):
        check_job(_job(data), "bank", data["created_at"] + 1, local_fps(_job(data), "bank"))


def test_gate_refuses_a_psi_job_with_a_third_party_recipient(alliance: Alliance) -> None:
    data = alliance.approved_job()  # a stats job on bank + telecom inputs
    data["protocol"] = "psi"
    data["outputs"] = {"intersection": ["platform"]}  # a record the contract would never accept
    with pytest.raises(GateRefused, match="only to the input owners"):
        check_job(_job(data), "bank", data["created_at"] + 1, local_fps(_job(data), "bank"))


@pytest.mark.parametrize(
    ("parameters", "says"),
    [
        ({"op": "median"}, "op='median' is not one of sum, mean, count, histogram"),
        ({"op": "histogram"}, "op=histogram needs bins="),
        ({"op": "sum", "scale_bits": "99"}, "outside 0..32"),
    ],
)
def test_gate_refuses_parameters_the_stats_spec_refuses(
    alliance: Alliance, parameters: dict[str, str], says: str
) -> None:
    data = alliance.approved_job()
    data["parameters"] = parameters  # a record the contract would never accept
    with pytest.raises(GateRefused, match=says):
        check_job(_job(data), "bank", data["created_at"] + 1, local_fps(_job(data), "bank"))


def test_gate_refuses_stats_on_a_column_pinned_as_string(alliance: Alliance) -> None:
    data = alliance.approved_job()
    data["inputs"][0]["column_type"] = "string"  # a record the contract would never accept
    with pytest.raises(GateRefused, match="its column is of type string"):
        check_job(_job(data), "bank", data["created_at"] + 1, local_fps(_job(data), "bank"))


def test_gate_refuses_psi_with_a_bogus_normalisation(alliance: Alliance) -> None:
    data = alliance.approved_job()
    data["protocol"] = "psi"
    data["outputs"] = {"cardinality": ["bank", "telecom"]}
    data["parameters"] = {"normalize": "bogus"}
    with pytest.raises(GateRefused, match="unknown normalisation step"):
        check_job(_job(data), "bank", data["created_at"] + 1, local_fps(_job(data), "bank"))


VOTERS = ("bank", "platform", "telecom")


def voted_job() -> dict[str, Any]:
    """A stats job the charter puts to a member vote (2 of 3 yes), approved and voted through
    by the real contract."""
    alliance = founded(voted_protocols=["stats"])
    job = alliance.request("telecom", ["bank/customers:amount", "telecom/subscribers:amount"],
                           {"result": ["bank", "telecom"]})
    alliance.ok("ApproveJob", job["id"], by="bank")
    alliance.ok("VoteJob", job["id"], "yes", by="bank")
    job = alliance.ok("VoteJob", job["id"], "yes", by="telecom")
    assert job["state"] == "APPROVED" and job["votes_needed"] == 2
    return job


def test_gate_opens_for_a_voted_job_with_the_charter_s_voters() -> None:
    job = _job(voted_job())
    assert refusal_reasons(job, "bank", job.created_at + 1, local_fps(job, "bank"),
                           voters=VOTERS) == []


def test_gate_refuses_a_voted_job_when_it_does_not_know_the_voters() -> None:
    job = _job(voted_job())
    with pytest.raises(GateRefused, match="0 of the 2 member votes"):
        check_job(job, "bank", job.created_at + 1, local_fps(job, "bank"))


@pytest.mark.parametrize("stranger", ["regulator", "insurer"])
def test_gate_counts_no_vote_from_outside_the_charter_s_voters(stranger: str) -> None:
    data = voted_job()
    data["votes"][stranger] = data["votes"].pop("telecom")  # an auditor's or stranger's "yes"
    with pytest.raises(GateRefused, match="1 of the 2 member votes"):
        check_job(_job(data), "bank", data["created_at"] + 1, local_fps(_job(data), "bank"),
                  voters=VOTERS)


def test_gate_recomputes_the_approvers_instead_of_trusting_the_record(
    alliance: Alliance,
) -> None:
    data = alliance.approved_job()
    data["required_approvers"] = []  # a record claiming nobody needs to approve
    data["approvals"].pop("bank")
    with pytest.raises(GateRefused) as info:
        check_job(_job(data), "telecom", data["created_at"] + 1, local_fps(_job(data), "telecom"))
    assert "lacks committed approvals from bank" in str(info.value)
    assert "records approvers none, but its inputs and dealer need bank" in str(info.value)


def test_gate_refuses_when_this_org_s_own_part_was_never_approved(alliance: Alliance) -> None:
    # telecom requested a job on its own data: its request is its approval. A record without it
    # is not one telecom's node runs.
    data = alliance.approved_job()
    assert data["approvals"]["telecom"]["by_request"]
    data["approvals"].pop("telecom")
    with pytest.raises(GateRefused, match="telecom never approved"):
        check_job(_job(data), "telecom", data["created_at"] + 1, local_fps(_job(data), "telecom"))
    assert refusal_reasons(_job(data), "bank", data["created_at"] + 1,
                           local_fps(_job(data), "bank")) == []


@pytest.mark.parametrize(
    ("outputs", "parameters", "says"),
    [
        ({"scores": ["bank"], "evaluation": ["telecom"]},
         {"holder": "bank", "label": "bank/customers:amount"},
         "output evaluation goes to the label holder bank alone"),
        ({"scores": ["bank"]}, {"holder": "nobody"}, "holder 'nobody' holds no input of the job"),
        ({"scores": ["bank"]}, {"holder": "bank", "label": "platform/users:amount"},
         "the label platform/users:amount is not an input of the job"),
    ],
)
def test_gate_refuses_modelling_parameters_that_do_not_fit_the_job(
    alliance: Alliance, outputs: dict[str, list[str]], parameters: dict[str, str], says: str
) -> None:
    data = alliance.approved_job()
    # a record the contract would never accept: an lr_predict job whose parameters and shape
    # are each well-formed but do not fit together
    data.update(protocol="lr_predict", outputs=outputs, dealer=None,
                parameters={**parameters, "model_job": "job-0"})
    reasons = refusal_reasons(_job(data), "bank", data["created_at"] + 1,
                              local_fps(_job(data), "bank"))
    assert any(says in reason for reason in reasons)
    with pytest.raises(GateRefused):
        check_job(_job(data), "bank", data["created_at"] + 1, local_fps(_job(data), "bank"))

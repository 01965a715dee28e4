"""The governance contract on a real peer, through the project's Gateway client."""

from __future__ import annotations

import json
import time

import pytest
from conftest import Fabric, dataset_spec
from google.protobuf import timestamp_pb2

from network import protoutil
from network.errors import CommitError, ContractRejected, EndorseError


def _job(fabric: Fabric, suffix: str) -> dict:
    """telecom asks for a job on bank's and telecom's data; bank has not approved yet."""
    with fabric.gateway("bank") as gw:
        fabric.contract(gw).submit_transaction("RegisterDataset", dataset_spec(f"cust{suffix}"))
    with fabric.gateway("telecom") as gw:
        contract = fabric.contract(gw)
        contract.submit_transaction("RegisterDataset", dataset_spec(f"subs{suffix}"))
        request = {
            "protocol": "stats",
            "inputs": [f"bank/cust{suffix}:amount", f"telecom/subs{suffix}:amount"],
            "parameters": {"op": "sum"},
            "outputs": {"result": ["telecom"]},
            "expires_in_seconds": 3600,
            "max_runs": 1,
        }
        return json.loads(contract.submit_transaction("RequestJob", json.dumps(request)))


def test_submit_then_evaluate_reads_it_back(fabric: Fabric) -> None:
    with fabric.gateway("bank") as gw:
        contract = fabric.contract(gw)
        contract.submit_transaction("RegisterDataset", dataset_spec("readback"))
        dataset = json.loads(contract.evaluate_transaction("GetDataset", "bank/readback"))
    assert dataset["owner"] == "bank" and dataset["row_count"] == 3


def test_creator_and_timestamp_come_from_the_proposal(fabric: Fabric) -> None:
    with fabric.gateway("platform") as gw:
        contract = fabric.contract(gw)
        contract.submit_transaction("RegisterDataset", dataset_spec("whose"))
        dataset = json.loads(contract.evaluate_transaction("GetDataset", "platform/whose"))
        history = json.loads(contract.evaluate_transaction("DatasetHistory", "platform/whose"))
    assert dataset["owner"] == "platform"
    assert history and history[0]["timestamp"] > 1_700_000_000


def test_range_scan_lists_every_member(fabric: Fabric) -> None:
    with fabric.gateway("regulator") as gw:
        members = json.loads(fabric.contract(gw).evaluate_transaction("ListMembers"))
    assert sorted(m["org"] for m in members) == ["bank", "platform", "regulator", "telecom"]


def test_contract_refusal_reaches_the_client_as_contract_rejected(fabric: Fabric) -> None:
    with fabric.gateway("bank") as gw, pytest.raises(ContractRejected) as info:
        fabric.contract(gw).evaluate_transaction("GetDataset", "bank/nothing-here")
    assert info.value.error_type == "NotFound"


def test_non_owner_approval_is_rejected_by_the_peer(fabric: Fabric) -> None:
    job = _job(fabric, "na")
    with fabric.gateway("platform") as gw, pytest.raises(ContractRejected) as info:
        fabric.contract(gw).submit_transaction("ApproveJob", job["id"])
    assert info.value.error_type == "NotAuthorized"


def test_non_participant_claim_is_rejected_by_the_peer(fabric: Fabric) -> None:
    job = _job(fabric, "nc")
    with fabric.gateway("bank") as gw:
        approved = json.loads(fabric.contract(gw).submit_transaction("ApproveJob", job["id"]))
    assert approved["state"] == "APPROVED"
    with fabric.gateway("platform", "node") as gw, pytest.raises(ContractRejected) as info:
        fabric.contract(gw).submit_transaction("ClaimJob", job["id"])
    assert info.value.error_type == "NotAuthorized"


def test_one_org_alone_cannot_satisfy_the_endorsement_policy(fabric: Fabric) -> None:
    with fabric.gateway("bank") as gw:
        proposal = fabric.contract(gw).new_proposal(
            "RegisterDataset", [dataset_spec("alone")], endorsing_organizations=["BankMSP"]
        )
        with pytest.raises(CommitError) as info:
            proposal.endorse().submit().require_success()
    assert info.value.code_name == "ENDORSEMENT_POLICY_FAILURE"


def test_an_auditors_endorsement_does_not_count(fabric: Fabric) -> None:
    with fabric.gateway("bank") as gw:
        proposal = fabric.contract(gw).new_proposal(
            "RegisterDataset",
            [dataset_spec("audited")],
            endorsing_organizations=["BankMSP", "RegulatorMSP"],
        )
        with pytest.raises(CommitError) as info:
            proposal.endorse().submit().require_success()
    assert info.value.code_name == "ENDORSEMENT_POLICY_FAILURE"


def test_two_members_satisfy_the_endorsement_policy(fabric: Fabric) -> None:
    with fabric.gateway("bank") as gw:
        proposal = fabric.contract(gw).new_proposal(
            "RegisterDataset",
            [dataset_spec("pair")],
            endorsing_organizations=["BankMSP", "TelecomMSP"],
        )
        status = proposal.endorse().submit().require_success()
    assert status.successful


def test_a_proposal_outside_the_timewindow_is_refused_by_the_real_peer(
    fabric: Fabric, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What devnet copies: the peer's timewindow auth filter (tests/integration/test_devnet_contract)
    monkeypatch.setattr(
        protoutil,
        "now_timestamp",
        lambda: timestamp_pb2.Timestamp(seconds=int(time.time()) - 3600),
    )
    with fabric.gateway("bank") as gw, pytest.raises(EndorseError) as info:
        fabric.contract(gw).submit_transaction("RegisterDataset", dataset_spec("backdated"))
    assert "incorrect timestamp" in str(info.value)
    assert "peer.authentication.timewindow 15m0s" in str(info.value)

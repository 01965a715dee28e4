"""Member nodes as real processes on devnet: approved jobs run, everything else is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from node_cluster import (
    PASSPHRASE,
    approve_all,
    has_outputs,
    manifest,
    request,
    running_alliance,
    runs_of,
)

from alliance.cli.demo.flow import DemoFlow
from node.link_probe import probe_link


@pytest.fixture(scope="module")
def alliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFlow]:
    with running_alliance(tmp_path_factory.mktemp("nodes") / "net") as flow:
        yield flow


def _inputs(flow: DemoFlow, *orgs: str) -> list[str]:
    return [flow._input(org) for org in orgs]


def test_an_approved_job_completes_and_only_the_recipient_gets_the_output(
    alliance: DemoFlow,
) -> None:
    job = approve_all(alliance, request(alliance, "telecom",
                                        _inputs(alliance, "bank", "telecom", "platform"),
                                        "telecom"))
    job = alliance.wait_for(job["id"], ("COMPLETED", "FAILED", "DISPUTED"))
    assert job["state"] == "COMPLETED", job["failures"]
    data = alliance.delivered("telecom", job["id"], 1, "result")
    assert json.loads(data)["value"] == str(sum(t[2] for t in alliance.tables.values()))
    agreed = job["results"]["1"]["output_digests"]["result"]
    meta = manifest(alliance, "telecom", job["id"])
    assert meta["outputs"]["result"]["digest"] == agreed
    assert meta["claim_tx"] == job["claims"]["telecom"]["tx_id"]
    assert meta["receipt_tx"] == job["receipts"]["1"]["telecom"]["tx_id"]
    assert not has_outputs(alliance, "bank", job["id"])
    assert not has_outputs(alliance, "platform", job["id"])


def test_receipts_carry_the_registered_input_fingerprints(alliance: DemoFlow) -> None:
    job = approve_all(alliance, request(alliance, "bank", _inputs(alliance, "bank", "platform"),
                                        "bank", op="count"))
    job = alliance.wait_for(job["id"], ("COMPLETED", "FAILED", "DISPUTED"))
    assert job["state"] == "COMPLETED", job["failures"]
    pinned = {i["dataset"]: i["fingerprint"] for i in job["inputs"]}
    assert job["receipts"]["1"]["platform"]["input_fingerprints"] == {
        "platform/users": pinned["platform/users"]
    }


def test_a_rejected_job_never_runs(alliance: DemoFlow) -> None:
    job = request(alliance, "telecom", _inputs(alliance, "bank", "telecom"), "telecom")
    alliance.submit("bank", "RejectJob", job["id"], "not this quarter")
    job = alliance.wait_for(job["id"], ("REJECTED",))
    assert job["state"] == "REJECTED" and not job["claims"]
    assert not any(runs_of(alliance, org, job["id"]) for org in ("bank", "telecom"))


def test_a_forged_link_for_an_unapproved_job_is_refused(alliance: DemoFlow) -> None:
    job = request(alliance, "telecom", _inputs(alliance, "bank", "telecom"), "telecom")
    answer = probe_link(alliance.net_dir, "telecom", "bank", job["id"], passphrase=PASSPHRASE)
    assert answer.code == "PERMISSION_DENIED"
    assert "REQUESTED" in answer.details
    assert alliance.evaluate("regulator", "GetJob", job["id"])["state"] == "REQUESTED"
    assert not runs_of(alliance, "bank", job["id"])


def test_a_link_from_a_non_participant_node_is_refused(alliance: DemoFlow) -> None:
    job = request(alliance, "telecom", _inputs(alliance, "bank", "telecom"), "telecom")
    answer = probe_link(alliance.net_dir, "platform", "bank", job["id"], passphrase=PASSPHRASE)
    assert answer.code == "PERMISSION_DENIED"
    assert "platform is not a participant" in answer.details


def test_a_file_changed_after_registration_fails_the_job_with_a_fingerprint_reason(
    alliance: DemoFlow, tmp_path: Path,
) -> None:
    from node.paths import node_store_path
    from node.sources import open_source
    from node.store import LocalDataset, NodeStore

    path = tmp_path / "loans.csv"
    path.write_text("customer_id,amount\nC00001,10\nC00002,20\n")
    fp = open_source(str(path)).fingerprint()
    dataset = alliance.submit("platform", "RegisterDataset", json.dumps({
        "name": "loans", "schema": fp.schema, "row_count": fp.row_count,
        "fingerprint": fp.fingerprint,
    }))
    NodeStore(node_store_path(alliance.net_dir, "platform")).put_dataset(LocalDataset(
        name="loans", location=str(path), columns_json=json.dumps(fp.schema),
        row_count=fp.row_count, fingerprint=fp.fingerprint, merkle_root=fp.merkle_root,
        ledger_version=dataset["version"], ledger_tx=dataset["updated_tx"],
    ))
    path.write_text("customer_id,amount\nC00001,10\nC00002,999\n")
    job = approve_all(alliance, request(alliance, "telecom",
                                        ["platform/loans:amount", alliance._input("telecom")],
                                        "telecom"))
    job = alliance.wait_for(job["id"], ("FAILED", "COMPLETED"))
    assert job["state"] == "FAILED"
    reason = job["failures"]["platform"]["reason"]
    assert "fingerprint" in reason and "platform/loans" in reason
    assert not has_outputs(alliance, "telecom", job["id"])


def test_a_second_node_for_the_same_org_is_refused(alliance: DemoFlow) -> None:
    from node.errors import NodeStartError
    from node.launcher import node_status, start_node

    status = node_status(alliance.net_dir, "bank")
    assert status["running"] and status["port"]
    with pytest.raises(NodeStartError, match="already runs"):
        start_node(alliance.net_dir, "bank")


def test_a_node_that_dies_before_it_is_fully_started_is_reported_not_ready(
    alliance: DemoFlow,
) -> None:
    from node_cluster import PASSPHRASE

    from alliance.keystore import PASSPHRASE_ENV
    from node.errors import NodeStartError
    from node.failpoint import FAILPOINT_ENV
    from node.launcher import start_node, stop_node

    env = {PASSPHRASE_ENV: PASSPHRASE.decode()}
    assert stop_node(alliance.net_dir, "platform")
    try:
        with pytest.raises(NodeStartError, match="exited with code 137 while starting"):
            start_node(alliance.net_dir, "platform", env={**env, FAILPOINT_ENV: "started"})
    finally:
        start_node(alliance.net_dir, "platform", env=env)

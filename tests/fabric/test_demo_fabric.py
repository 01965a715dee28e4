"""The demo's governed flow on real Fabric (every check the devnet demo makes), its credit and
query scenarios on Fabric, and the member nodes' ledger listeners resuming from their
checkpoints after every peer restarted."""

from __future__ import annotations

import time
from pathlib import Path

from alliance.cli.demo.credit import CreditFlow
from alliance.cli.demo.flow import MEMBERS, DemoFlow
from alliance.cli.demo.lending import LendingFlow
from network.fabric import fabric_status
from network.fabric.launcher import restart_peer
from node.launcher import node_status
from node.paths import node_store_path
from node.query.launcher import query_server_status
from node.store import NodeStore

PASSPHRASE = b"fabric-demo-passphrase"
STEPS = ["create", "start", "charter", "admit", "datasets", "request", "approve", "run",
         "result", "recipients", "psi", "rejected", "forged", "audit"]


def test_the_demo_flow_runs_on_fabric(tmp_path: Path) -> None:
    flow = DemoFlow(tmp_path / "net", PASSPHRASE, engine="fabric")
    ok = flow.run()
    assert ok, [(s.title, s.detail) for s in flow.steps if not s.ok]
    assert [s.key for s in flow.steps] == STEPS
    assert flow.summary["result"]["secure"] == flow.summary["result"]["clear"]
    assert flow.summary["psi"]["secure"] == flow.summary["psi"]["clear"] > 0
    trail = flow.summary["trail"]
    assert [row["action"] for row in trail].count("SubmitReceipt") == len(MEMBERS)
    assert all(row["validation"] == "VALID" for row in trail)
    assert len({row["block"] for row in trail}) > 1
    # majority endorsement on Fabric: every transaction carries more than one org's endorsement
    assert all(len(set(row["endorsers"])) >= 2 for row in trail)
    assert not any(info["running"] for info in fabric_status(flow.net_dir).values())
    assert not any(node_status(flow.net_dir, org)["running"] for org in MEMBERS)


def test_the_credit_demo_matches_the_clear_on_fabric(tmp_path: Path) -> None:
    flow = CreditFlow(tmp_path / "net", PASSPHRASE, engine="fabric")
    assert flow.run(), [(s.title, s.detail) for s in flow.steps if not s.ok]
    summary = flow.summary
    assert summary["alignment"]["secure"] == summary["alignment"]["clear"] > 0
    assert summary["train"]["max_gap"] <= 1e-4 and summary["scorecard"]["max_gap"] <= 1e-6
    assert summary["boost"]["same_trees"] and summary["boost_eval"]["max_gap"] <= 1e-9
    assert not any(info["running"] for info in fabric_status(flow.net_dir).values())


def test_the_query_demo_answers_as_the_clear_and_proves_consent_on_fabric(
        tmp_path: Path) -> None:
    flow = LendingFlow(tmp_path / "net", PASSPHRASE, engine="fabric")
    assert flow.run(), [(s.title, s.detail) for s in flow.steps if not s.ok]
    lookups = flow.summary["lookups"]
    assert len(lookups) == 5 and all(row["secure"] == row["clear"] for row in lookups)
    proof = next(s for s in flow.steps if s.key == "proof")
    assert "hold none of the applicant ids asked, nor a local path" in proof.detail
    assert not any(info["running"] for info in fabric_status(flow.net_dir).values())
    assert not any(query_server_status(flow.net_dir, org)["running"] for org in ("bank", "telecom"))


def test_node_listeners_resume_after_every_peer_restarts(tmp_path: Path) -> None:
    flow = DemoFlow(tmp_path / "net", PASSPHRASE, engine="fabric")
    try:
        flow.create()
        flow.start()
        flow.charter()
        flow.register_datasets()
        flow.stop_connections()
        for org in MEMBERS:
            restart_peer(flow.net_dir, org)
        job = flow._request("telecom", [flow._input(org) for org in MEMBERS], "telecom")
        for org in job["required_approvers"]:
            job = flow.submit(org, "ApproveJob", job["id"])
        job = flow.wait_for(job["id"], ("COMPLETED", "FAILED", "DISPUTED"), timeout=90)
        assert job["state"] == "COMPLETED", job["failures"]
        for org in MEMBERS:
            # a node records its run done once it has read the verdict (it polls the ledger)
            deadline = time.monotonic() + 60
            while True:
                runs = [r for r in NodeStore(node_store_path(flow.net_dir, org)).runs()
                        if r.job_id == job["id"]]
                if [(r.run, r.state) for r in runs] != [(1, "running")]:
                    break
                assert time.monotonic() < deadline, f"{org}'s node never settled run 1"
                time.sleep(0.2)
            assert [(r.run, r.state) for r in runs] == [(1, "done")]
    finally:
        flow.stop()

"""A peer a block behind makes the endorsements differ; the Gateway client endorses a fresh
proposal and the transaction commits (network.gateway.retry)."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time

from conftest import Fabric, dataset_spec

from alliance.profile import load_profile
from network.deliver import BlockReader
from network.fabric.layout import FabricLayout
from network.fabric.processes import recorded
from network.gateway.retry import MISMATCH, endorse_fresh


def _height(fabric: Fabric, org: str) -> int:
    with fabric.gateway(org) as gw:
        return BlockReader(gw, fabric.network.channel).height()


def _wait_caught_up(fabric: Fabric, org: str, height: int) -> None:
    deadline = time.monotonic() + 30
    while _height(fabric, org) < height:
        assert time.monotonic() < deadline, f"{org}'s peer never reached height {height}"
        time.sleep(0.1)


def test_a_transaction_endorsed_by_a_lagging_peer_is_retried_and_commits(
    fabric: Fabric, caplog
) -> None:
    caplog.set_level(logging.WARNING, logger="network.gateway")
    profile = load_profile(fabric.net_dir)
    msp = {org: profile.orgs[org].msp_id for org in ("bank", "telecom", "platform")}
    spec = dataset_spec("lagging")
    name = json.loads(spec)["name"]
    peer = recorded(FabricLayout(fabric.net_dir.resolve()))["peer0.telecom"]
    with fabric.gateway("bank") as gw:
        contract = fabric.contract(gw)
        contract.submit_transaction("RegisterDataset", spec)
        _wait_caught_up(fabric, "telecom", _height(fabric, "bank"))
        os.kill(peer.pid, signal.SIGSTOP)
        try:
            # version 2 commits while telecom's peer is paused: telecom is now a block behind
            contract.new_proposal(
                "NewDatasetVersion",
                [name, spec],
                endorsing_organizations=[msp["bank"], msp["platform"]],
            ).endorse().submit().require_success()
            outcome: dict[str, object] = {}

            def version_three() -> None:
                try:
                    _, tx = endorse_fresh(
                        lambda: contract.new_proposal(
                            "NewDatasetVersion",
                            [name, spec],
                            endorsing_organizations=[msp["bank"], msp["telecom"]],
                        )
                    )
                    outcome["status"] = tx.submit().require_success()
                    outcome["result"] = json.loads(tx.result)
                except Exception as exc:  # reported below
                    outcome["error"] = exc

            worker = threading.Thread(target=version_three)
            worker.start()
            time.sleep(1.0)  # the proposal waits at telecom's paused peer
        finally:
            os.kill(peer.pid, signal.SIGCONT)
        worker.join(120)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"]["version"] == 3
    assert MISMATCH in caplog.text, "telecom's peer was not behind: no mismatch to retry"

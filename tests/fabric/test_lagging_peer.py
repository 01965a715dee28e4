"""A peer a block behind makes the endorsements differ; the Gateway client endorses a fresh
proposal and the transaction commits (network.gateway.retry).

The lag: telecom's peer is paused (SIGSTOP) while a new version of a dataset commits through
bank's and platform's peers; the next version, endorsed by bank's and telecom's peers, waits at
the paused peer, which is resumed (SIGCONT) a second later. Whether telecom simulates before it
has caught up is a race, so the scenario is repeated until a mismatch was seen (each round must
commit); it nearly always is in the first round or two."""

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

ROUNDS = 6


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
    version = 1
    with fabric.gateway("bank") as gw:
        contract = fabric.contract(gw)
        contract.submit_transaction("RegisterDataset", spec)
        for _ in range(ROUNDS):
            _wait_caught_up(fabric, "telecom", _height(fabric, "bank"))
            outcome: dict[str, object] = {}

            def next_version(outcome: dict[str, object] = outcome) -> None:
                try:
                    _, tx = endorse_fresh(
                        lambda: contract.new_proposal(
                            "NewDatasetVersion",
                            [name, spec],
                            endorsing_organizations=[msp["bank"], msp["telecom"]],
                        )
                    )
                    tx.submit().require_success()
                    outcome["version"] = json.loads(tx.result)["version"]
                except Exception as exc:  # reported below
                    outcome["error"] = exc

            os.kill(peer.pid, signal.SIGSTOP)
            try:
                # a version commits while telecom's peer is paused: telecom is a block behind
                contract.new_proposal(
                    "NewDatasetVersion",
                    [name, spec],
                    endorsing_organizations=[msp["bank"], msp["platform"]],
                ).endorse().submit().require_success()
                worker = threading.Thread(target=next_version)
                worker.start()
                time.sleep(1.0)  # the next proposal waits at telecom's paused peer
            finally:
                os.kill(peer.pid, signal.SIGCONT)
            worker.join(120)
            assert "error" not in outcome, outcome.get("error")
            version += 2
            assert outcome["version"] == version
            if MISMATCH in caplog.text:
                break
    assert MISMATCH in caplog.text, f"telecom's peer was never behind in {ROUNDS} rounds"

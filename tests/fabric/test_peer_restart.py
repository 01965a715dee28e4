"""A peer restarted mid-way: clients carry on, and an event listener resumes from its checkpoint."""

from __future__ import annotations

import json
import threading
import time

from conftest import Fabric, dataset_spec

from network.fabric import restart_peer
from network.gateway import ChaincodeEvent, InMemoryCheckpoint


def _collect(
    fabric: Fabric, checkpoint: InMemoryCheckpoint, wanted: set[str]
) -> list[ChaincodeEvent]:
    """Listen through telecom's peer from the checkpoint until every wanted tx id is seen."""
    events: list[ChaincodeEvent] = []
    with fabric.gateway("telecom") as gw:
        stream = gw.get_network(fabric.network.channel).chaincode_events(
            fabric.network.chaincode, checkpoint=checkpoint
        )

        def listen() -> None:
            for event in stream:
                events.append(event)
                checkpoint.checkpoint_event(event)

        thread = threading.Thread(target=listen, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not wanted <= {e.tx_id for e in list(events)} and time.monotonic() < deadline:
            time.sleep(0.05)
        stream.close()
        thread.join(5)
    return events


def _register(fabric: Fabric, org: str, name: str) -> str:
    with fabric.gateway(org) as gw:
        transaction = (
            fabric.contract(gw).new_proposal("RegisterDataset", [dataset_spec(name)]).endorse()
        )
        transaction.submit().require_success()
        return transaction.tx_id


def test_listener_resumes_from_its_checkpoint_across_a_peer_restart(fabric: Fabric) -> None:
    with fabric.gateway("bank") as gw:
        start = (
            fabric.contract(gw)
            .new_proposal("RegisterDataset", [dataset_spec("pr-start")])
            .endorse()
            .submit()
            .require_success()
            .block_number
        )
    checkpoint = InMemoryCheckpoint(block_number=start)
    first = {_register(fabric, "bank", "pr-before")}
    seen_before = _collect(fabric, checkpoint, first)
    assert first <= {e.tx_id for e in seen_before}

    restart_peer(fabric.net_dir, "telecom")
    during = {_register(fabric, "bank", "pr-after-1"), _register(fabric, "platform", "pr-after-2")}
    seen_after = _collect(fabric, checkpoint, during)

    after_ids = [e.tx_id for e in seen_after]
    assert during <= set(after_ids)
    assert not first & set(after_ids), "an event already checkpointed was delivered again"
    with fabric.gateway("telecom") as gw:
        dataset = json.loads(
            fabric.contract(gw).evaluate_transaction("GetDataset", "platform/pr-after-2")
        )
    assert dataset["owner"] == "platform"

"""Every contract event reaches Gateway ChaincodeEvents listeners, in commit order."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import Fabric, dataset_spec

from network.gateway import ChaincodeEvent

SUBMISSIONS = 20


def test_every_event_of_concurrent_submissions_is_delivered(fabric: Fabric) -> None:
    events: list[ChaincodeEvent] = []
    with fabric.gateway("telecom") as listener_gw, fabric.gateway("bank") as gw:
        contract = fabric.contract(gw)
        # start at the block of a fresh transaction: a listener keeps its own checkpoint
        tip = block_of_fresh_transaction(contract)
        stream = listener_gw.get_network(fabric.network.channel).chaincode_events(
            fabric.network.chaincode, start_block=tip
        )
        thread = threading.Thread(target=lambda: events.extend(stream), daemon=True)
        thread.start()
        with ThreadPoolExecutor(max_workers=10) as pool:
            tx_ids = set(pool.map(lambda i: register(contract, f"ev{i}"), range(SUBMISSIONS)))
        deadline = time.monotonic() + 30
        while not tx_ids <= {e.tx_id for e in list(events)} and time.monotonic() < deadline:
            time.sleep(0.05)
        stream.close()
        thread.join(5)
    seen = {e.tx_id: e for e in events}
    assert tx_ids <= set(seen)
    assert {seen[t].event_name for t in tx_ids} == {"DatasetRegistered"}
    assert {seen[t].chaincode_id for t in tx_ids} == {fabric.network.chaincode}
    blocks = [e.block_number for e in events]
    assert blocks == sorted(blocks)


def register(contract, name: str) -> str:
    transaction = contract.new_proposal("RegisterDataset", [dataset_spec(name)]).endorse()
    transaction.submit().require_success()
    return transaction.tx_id


def block_of_fresh_transaction(contract) -> int:
    """The block number of a fresh transaction: a safe start position for the listener."""
    transaction = contract.new_proposal("RegisterDataset", [dataset_spec("ev-start")]).endorse()
    return transaction.submit().require_success().block_number

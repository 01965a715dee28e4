"""Down, then up again on the same NET: the ledger survives and nothing is redeployed.

Named to run last: it restarts the session's network.
"""

from __future__ import annotations

import json

from conftest import Fabric, dataset_spec

from network.fabric import fabric_status, start_fabric, stop_fabric


def test_down_stops_everything_and_up_resumes_the_ledger(fabric: Fabric) -> None:
    with fabric.gateway("bank") as gw:
        fabric.contract(gw).submit_transaction("RegisterDataset", dataset_spec("survivor"))
    stopped = stop_fabric(fabric.net_dir)
    assert "orderer0" in stopped and len(stopped) == 9
    assert not fabric_status(fabric.net_dir)
    fabric.network = start_fabric(fabric.net_dir)
    with fabric.gateway("bank") as gw:
        contract = fabric.contract(gw)
        dataset = json.loads(contract.evaluate_transaction("GetDataset", "bank/survivor"))
        contract.submit_transaction("RegisterDataset", dataset_spec("after-up"))
    assert dataset["owner"] == "bank"

"""The chaincode server under load from a real peer: nothing lost, nothing timing out."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from conftest import Fabric, dataset_spec

EVALUATIONS = 200
SUBMISSIONS = 50
ORGS = ("bank", "telecom", "platform")


def test_200_concurrent_evaluations_all_answer(fabric: Fabric) -> None:
    with fabric.gateway("bank") as gw:
        contract = fabric.contract(gw)
        contract.submit_transaction("RegisterDataset", dataset_spec("hot"))

        def evaluate(_: int) -> str:
            return json.loads(contract.evaluate_transaction("GetDataset", "bank/hot"))["owner"]

        with ThreadPoolExecutor(max_workers=50) as pool:
            owners = list(pool.map(evaluate, range(EVALUATIONS)))
    assert owners == ["bank"] * EVALUATIONS


def test_50_concurrent_submissions_all_commit_valid(fabric: Fabric) -> None:
    gateways = {org: fabric.gateway(org) for org in ORGS}
    try:

        def submit(i: int) -> str:
            org = ORGS[i % len(ORGS)]
            contract = fabric.contract(gateways[org])
            # submit_transaction raises unless the transaction committed VALID
            return json.loads(
                contract.submit_transaction("RegisterDataset", dataset_spec(f"c{i}"))
            )["id"]

        with ThreadPoolExecutor(max_workers=SUBMISSIONS) as pool:
            ids = list(pool.map(submit, range(SUBMISSIONS)))
    finally:
        for gw in gateways.values():
            gw.close()
    assert sorted(ids) == sorted(f"{ORGS[i % 3]}/c{i}" for i in range(SUBMISSIONS))


def test_range_scan_longer_than_a_peer_page_returns_everything(fabric: Fabric) -> None:
    """The peer answers range scans 100 results at a time; the shim fetches the rest."""
    count = 110
    with fabric.gateway("telecom") as gw:
        contract = fabric.contract(gw)
        with ThreadPoolExecutor(max_workers=SUBMISSIONS) as pool:
            list(
                pool.map(
                    lambda i: contract.submit_transaction(
                        "RegisterDataset", dataset_spec(f"page{i:03d}")
                    ),
                    range(count),
                )
            )
        listed = json.loads(contract.evaluate_transaction("ListDatasets", '{"owner":"telecom"}'))
    names = [d["name"] for d in listed]
    assert {f"page{i:03d}" for i in range(count)} <= set(names)
    assert names == sorted(names)

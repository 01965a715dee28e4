"""The governance contract served by devnet (chaincode.default_router) through the client."""

from __future__ import annotations

import json

import pytest

from network.errors import ContractRejected


def _spec(name: str) -> str:
    return json.dumps(
        {
            "name": name,
            "schema": [{"name": "id", "type": "string"}],
            "row_count": 3,
            "fingerprint": "sha256:" + "ab" * 32,
        }
    )


@pytest.fixture
def governed(devnet_factory):
    net = devnet_factory(router="")
    with net.gateway("bank", "admin") as gw:
        net.contract(gw).submit_transaction(
            "InitCharter", (net.net_dir / "charter.json").read_text()
        )
    return net


def test_register_dataset_then_read_it_back(governed) -> None:
    with governed.gateway("bank", "admin") as gw:
        contract = governed.contract(gw)
        contract.submit_transaction("RegisterDataset", _spec("customers"))
        dataset = json.loads(contract.evaluate_transaction("GetDataset", "bank/customers"))
    assert dataset["owner"] == "bank" and dataset["row_count"] == 3


def test_contract_refusal_carries_its_error_class(governed) -> None:
    with governed.gateway("bank", "admin") as gw:
        contract = governed.contract(gw)
        contract.submit_transaction("RegisterDataset", _spec("twice"))
        with pytest.raises(ContractRejected) as info:
            contract.submit_transaction("RegisterDataset", _spec("twice"))
    assert info.value.error_type == "Conflict"
    assert "already registered" in info.value.reason

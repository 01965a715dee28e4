"""The governance contract served by devnet (chaincode.default_router) through the client."""

from __future__ import annotations

import json
import time

import pytest
from google.protobuf import timestamp_pb2

from alliance.founding import load_signed_charter
from network import protoutil
from network.errors import ContractRejected, EndorseError


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
            "InitCharter", load_signed_charter(net.net_dir).to_json().decode()
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


def test_a_proposal_outside_the_timewindow_is_refused(
    governed, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every time rule reads the client-written timestamp; as Fabric's peers do
    # (peer.authentication.timewindow, 15 min), devnet refuses a proposal far from its clock.
    monkeypatch.setattr(protoutil, "now_timestamp", an_hour_ago)
    with governed.gateway("bank", "admin") as gw, pytest.raises(EndorseError) as info:
        governed.contract(gw).submit_transaction("RegisterDataset", _spec("backdated"))
    assert "incorrect timestamp" in str(info.value)
    assert "peer.authentication.timewindow 15m0s" in str(info.value)


def an_hour_ago() -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=int(time.time()) - 3600)

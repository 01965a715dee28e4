"""The launcher: what runs after start, where clients connect, chaincode server restarts."""

from __future__ import annotations

import json
import shutil
import ssl
from pathlib import Path

import pytest
from conftest import Fabric, dataset_spec

from alliance.errors import PassphraseError
from alliance.founding import load_signed_charter
from alliance.network_init import init_network
from alliance.wallet import load_user
from network.fabric import (
    chaincode_committed,
    fabric_status,
    gateway_endpoint,
    restart_chaincode,
    start_fabric,
    stop_fabric,
)
from network.gateway import connect


def test_status_lists_every_process_running(fabric: Fabric) -> None:
    status = fabric_status(fabric.net_dir)
    assert all(p["running"] and p["pid"] and p["port"] for p in status.values())
    assert chaincode_committed(fabric.net_dir)
    names = set(status)
    orgs = ["bank", "platform", "regulator", "telecom"]
    assert names == {"orderer0"} | {f"peer0.{o}" for o in orgs} | {f"chaincode.{o}" for o in orgs}


def test_every_recorded_port_is_distinct(fabric: Fabric) -> None:
    ports = json.loads((fabric.net_dir / "run" / "fabric" / "ports.json").read_text())
    numbers = list(ports["orderer"].values())
    for peer in ports["peers"].values():
        numbers += list(peer.values())
    assert len(numbers) == len(set(numbers))


def test_gateway_endpoint_names_the_orgs_peer_and_its_tls_root(fabric: Fabric) -> None:
    host, port, root = gateway_endpoint(fabric.net_dir, "telecom")
    assert (host, port) == ("127.0.0.1", fabric.network.peers["telecom"].port)
    context = ssl.create_default_context(cadata=root.decode())
    assert context.get_ca_certs()


def test_any_orgs_client_can_use_another_orgs_gateway(fabric: Fabric) -> None:
    with fabric.gateway("regulator", "client", via="bank") as gw:
        members = json.loads(fabric.contract(gw).evaluate_transaction("ListMembers"))
    assert len(members) == 4


def test_chaincode_server_restart_needs_no_reinstall(fabric: Fabric) -> None:
    before = fabric_status(fabric.net_dir)["chaincode.bank"]["pid"]
    restart_chaincode(fabric.net_dir, "bank")
    after = fabric_status(fabric.net_dir)["chaincode.bank"]
    assert after["running"] and after["pid"] != before
    with fabric.gateway("bank") as gw:
        contract = fabric.contract(gw)
        contract.submit_transaction("RegisterDataset", dataset_spec("after-restart"))
        dataset = json.loads(contract.evaluate_transaction("GetDataset", "bank/after-restart"))
    assert dataset["owner"] == "bank"


def test_a_second_network_runs_side_by_side(fabric: Fabric, tmp_path: Path) -> None:
    """Another alliance on the same machine: its own ports, both answer, stopping one leaves
    the other running."""
    other = tmp_path / "other"
    init_network(other, ["alpha", "beta"], [], fabric.passphrase)
    try:
        second = start_fabric(other)
        first_ports = set(_ports(fabric.net_dir))
        assert not first_ports & set(_ports(other))
        identity, signer = load_user(other, "alpha", "admin", fabric.passphrase)
        host, port, root = gateway_endpoint(other, "alpha")
        with connect(f"{host}:{port}", identity=identity, signer=signer, tls_root_certs=root) as gw:
            contract = gw.get_network(second.channel).get_contract(second.chaincode)
            contract.submit_transaction("InitCharter",
                                        load_signed_charter(other).to_json().decode())
            members = json.loads(contract.evaluate_transaction("ListMembers"))
        assert sorted(m["org"] for m in members) == ["alpha", "beta"]
    finally:
        stop_fabric(other)
    with fabric.gateway("bank") as gw:
        assert len(json.loads(fabric.contract(gw).evaluate_transaction("ListMembers"))) == 4


def _ports(net_dir: Path) -> list[int]:
    ports = json.loads((net_dir / "run" / "fabric" / "ports.json").read_text())
    numbers = list(ports["orderer"].values())
    for peer in ports["peers"].values():
        numbers += list(peer.values())
    return numbers


def test_wrong_passphrase_fails_before_anything_starts(
    network_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net_dir = tmp_path / "net"
    shutil.copytree(network_dir, net_dir, ignore=shutil.ignore_patterns("run"))
    monkeypatch.setenv("ALLIANCE_PASSPHRASE", "not-the-passphrase")
    with pytest.raises(PassphraseError):
        start_fabric(net_dir)
    assert not fabric_status(net_dir)

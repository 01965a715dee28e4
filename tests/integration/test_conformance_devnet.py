"""Devnet answers every conformance case as real Fabric 3 did (tests/conformance_oracle.json),
except the deliberate differences listed in DIVERGENCES and in network/README.md."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conformance_cases import CASES, DIVERGENCES, Harness, load_oracle

from alliance.founding import load_signed_charter
from alliance.wallet import devnet_tls, load_user
from network.devnet.launcher import start_devnet, stop_devnet
from network.gateway import connect

ORACLE = load_oracle()


@pytest.fixture(scope="module")
def harness(network_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    passphrase = b"test-passphrase"
    net_dir = tmp_path_factory.mktemp("conformance") / "net"
    shutil.copytree(network_dir, net_dir, ignore=shutil.ignore_patterns("run", "ledger.sqlite*"))
    process = start_devnet(net_dir, router="chaincode:default_router", batch_timeout_ms=50)
    try:
        tls = devnet_tls(net_dir).root_certs
        identity, signer = load_user(net_dir, "bank", "admin", passphrase)
        with connect(process.address, identity=identity, signer=signer, tls_root_certs=tls) as gw:
            contract = gw.get_network("alliance").get_contract("alliance")
            contract.submit_transaction(
                "InitCharter", load_signed_charter(net_dir).to_json().decode()
            )
        yield Harness(net_dir, passphrase, process.address, tls)
    finally:
        stop_devnet(net_dir)


def test_every_case_has_a_recorded_fabric_answer() -> None:
    assert sorted(ORACLE) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(set(CASES) - set(DIVERGENCES)))
def test_devnet_answers_as_fabric(harness: Harness, name: str) -> None:
    answer = CASES[name](harness)
    expected = ORACLE[name]
    assert answer.key() == expected.key(), (
        f"{name}: devnet answered {answer.answer} / {answer.grpc} ({answer.message!r}); "
        f"Fabric answered {expected.answer} / {expected.grpc} ({expected.message!r})"
    )

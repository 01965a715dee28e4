"""A real Fabric network (orderer, one peer per org, CCaaS contract) for the whole session.

Everything here is skipped unless FABRIC_BIN_DIR names Fabric's binaries (peer, orderer,
osnadmin, configtxgen, configtxlator). The network is a private copy of the session's test
alliance (bank, telecom, platform; regulator as auditor), started once and stopped at the end.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from alliance.founding import found_charter, load_signed_charter
from alliance.keystore import PASSPHRASE_ENV
from alliance.wallet import load_user
from network.fabric import FabricNetwork, gateway_endpoint, start_fabric, stop_fabric
from network.gateway import Contract, Gateway, connect

FABRIC_DIR = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="FABRIC_BIN_DIR is not set (real Fabric binaries needed)")
    for item in items:
        if FABRIC_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.fabric)
            if not os.environ.get("FABRIC_BIN_DIR"):
                item.add_marker(skip)


@dataclass
class Fabric:
    net_dir: Path
    network: FabricNetwork
    passphrase: bytes

    def gateway(self, org: str = "bank", user: str = "admin", via: str | None = None) -> Gateway:
        """A Gateway for `user` of `org`, through `via`'s peer (default: the org's own)."""
        identity, signer = load_user(self.net_dir, org, user, self.passphrase)
        host, port, root = gateway_endpoint(self.net_dir, via or org)
        return connect(f"{host}:{port}", identity=identity, signer=signer, tls_root_certs=root)

    def contract(self, gateway: Gateway) -> Contract:
        return gateway.get_network(self.network.channel).get_contract(self.network.chaincode)

    def submit_as_admin(self, org: str, function: str, argument: str) -> bytes:
        with self.gateway(org) as gw:
            return self.contract(gw).submit_transaction(function, argument)


def dataset_spec(name: str) -> str:
    return json.dumps(
        {
            "name": name,
            "schema": [{"name": "id", "type": "string"}, {"name": "amount", "type": "integer"}],
            "row_count": 3,
            "fingerprint": "sha256:" + "ab" * 32,
        }
    )


@pytest.fixture(scope="session")
def fabric(network_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fabric]:
    """The session's Fabric network, its charter in effect; stopped at the end."""
    passphrase = os.environ[PASSPHRASE_ENV].encode()  # set by the network_dir fixture
    net_dir = tmp_path_factory.mktemp("fabric") / "net"
    shutil.copytree(network_dir, net_dir, ignore=shutil.ignore_patterns("run"))
    network = start_fabric(net_dir)
    try:
        fab = Fabric(net_dir, network, passphrase)
        found_charter(load_signed_charter(net_dir), fab.submit_as_admin, "bank")
        yield fab
    finally:
        stop_fabric(net_dir)

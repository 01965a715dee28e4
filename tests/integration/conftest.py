"""Devnet as a real process over TLS, on a private copy of the session's network directory;
the SoftHSM2 `token` fixture (softhsm_token.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from softhsm_token import token  # noqa: F401  (a fixture for the tests that use a token)

from alliance.wallet import devnet_tls, load_user
from network.devnet.launcher import DevnetProcess, start_devnet, stop_devnet
from network.gateway import Contract, Gateway, connect

COUNTER = "network.devnet.counter:router"
TEST_BATCH_TIMEOUT_MS = 50


@dataclass
class Devnet:
    net_dir: Path
    process: DevnetProcess
    passphrase: bytes

    @property
    def address(self) -> str:
        return self.process.address

    def gateway(self, org: str = "bank", user: str = "client", **kw: object) -> Gateway:
        identity, signer = load_user(self.net_dir, org, user, self.passphrase)
        return self.connect(identity, signer, **kw)

    def connect(self, identity, signer, **kw: object) -> Gateway:
        tls = devnet_tls(self.net_dir)
        return connect(
            self.address, identity=identity, signer=signer, tls_root_certs=tls.root_certs, **kw
        )

    def contract(self, gateway: Gateway) -> Contract:
        return gateway.get_network("alliance").get_contract("alliance")

    def restart(self, **kw: object) -> None:
        self.process = start_devnet(
            self.net_dir, **{"router": COUNTER, "batch_timeout_ms": TEST_BATCH_TIMEOUT_MS, **kw}
        )


@pytest.fixture
def devnet_factory(
    network_dir: Path, passphrase: bytes, tmp_path: Path
) -> Iterator[Callable[..., Devnet]]:
    """Start devnet(s) on fresh copies of the test network; all are stopped at the end."""
    started: list[Path] = []

    def start(
        router: str = COUNTER, batch_size: int = 100, batch_timeout_ms: int = TEST_BATCH_TIMEOUT_MS
    ) -> Devnet:
        net_dir = tmp_path / f"net{len(started)}"
        shutil.copytree(
            network_dir, net_dir, ignore=shutil.ignore_patterns("run", "ledger.sqlite*")
        )
        started.append(net_dir)
        proc = start_devnet(
            net_dir, batch_size=batch_size, batch_timeout_ms=batch_timeout_ms, router=router
        )
        return Devnet(net_dir, proc, passphrase)

    yield start
    for net_dir in started:
        stop_devnet(net_dir)


@pytest.fixture
def devnet(devnet_factory: Callable[..., Devnet]) -> Devnet:
    """Devnet serving the small counter contract (network.devnet.counter)."""
    return devnet_factory()

"""Where the Fabric launcher keeps things under NET/run/fabric, and where the MSPs are.

run/fabric/ports.json          every port in use (kept across restarts: the chaincode
                               address is inside the installed package)
run/fabric/processes.json      pid, command and log of every process started
run/fabric/state.json          what is done: channel joined, chaincode committed
run/fabric/logs/<name>.log     orderer0, peer0.<org>, chaincode.<org>
run/fabric/orderer/            orderer.yaml and the orderer's ledger
run/fabric/peers/<org>/        core.yaml and the peer's ledger
run/fabric/channel/            configtx.yaml and the genesis block
run/fabric/chaincode/<org>/    the org's CCaaS package
run/fabric/builder/bin/        the external builder the peers run
run/fabric/tmp/                decrypted admin keys, only while a command runs
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alliance.profile import ORDERER_ORG


@dataclass(frozen=True)
class FabricLayout:
    net_dir: Path

    @property
    def root(self) -> Path:
        return self.net_dir / "run" / "fabric"

    @property
    def ports_file(self) -> Path:
        return self.root / "ports.json"

    @property
    def processes_file(self) -> Path:
        return self.root / "processes.json"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def orderer_dir(self) -> Path:
        return self.root / "orderer"

    def peer_dir(self, org: str) -> Path:
        return self.root / "peers" / org

    @property
    def channel_dir(self) -> Path:
        return self.root / "channel"

    @property
    def genesis_block(self) -> Path:
        return self.channel_dir / "genesis.block"

    def package_dir(self, org: str) -> Path:
        return self.root / "chaincode" / org

    @property
    def builder_dir(self) -> Path:
        return self.root / "builder"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    # -- material made by `alliance network init` ---------------------------------------------

    def org_dir(self, org: str) -> Path:
        return self.net_dir / "orgs" / org

    def org_msp(self, org: str) -> Path:
        return self.org_dir(org) / "msp"

    def peer_msp(self, org: str) -> Path:
        return self.org_dir(org) / "peers" / "peer0" / "msp"

    def peer_tls(self, org: str) -> Path:
        return self.org_dir(org) / "peers" / "peer0" / "tls"

    def admin_msp(self, org: str) -> Path:
        return self.org_dir(org) / "users" / "admin" / "msp"

    @property
    def orderer_msp(self) -> Path:
        return self.org_dir(ORDERER_ORG) / "orderers" / "orderer0" / "msp"

    @property
    def orderer_tls(self) -> Path:
        return self.org_dir(ORDERER_ORG) / "orderers" / "orderer0" / "tls"

    @property
    def orderer_admin_tls(self) -> Path:
        return self.org_dir(ORDERER_ORG) / "users" / "admin" / "tls"

    @property
    def orderer_tls_ca(self) -> Path:
        return self.orderer_tls / "ca.crt"


def read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)

"""The environment the `peer` CLI needs to act as an org's admin against that org's peer."""

from __future__ import annotations

import os
from pathlib import Path

from network.fabric.config import HOST
from network.fabric.layout import FabricLayout
from network.fabric.ports import FabricPorts


def peer_cli_env(
    layout: FabricLayout, ports: FabricPorts, org: str, msp_id: str, msp_dir: Path
) -> dict[str, str]:
    return {
        **os.environ,
        "FABRIC_CFG_PATH": str(layout.peer_dir(org)),
        "CORE_PEER_LOCALMSPID": msp_id,
        "CORE_PEER_MSPCONFIGPATH": str(msp_dir),
        "CORE_PEER_ADDRESS": f"{HOST}:{ports.peers[org].listen}",
        "CORE_PEER_TLS_ENABLED": "true",
        "CORE_PEER_TLS_ROOTCERT_FILE": str(layout.peer_tls(org) / "ca.crt"),
        "FABRIC_LOGGING_SPEC": "WARNING",
    }


def orderer_flags(layout: FabricLayout, ports: FabricPorts) -> list[str]:
    """How a `peer` command reaches the ordering service over TLS."""
    return [
        "-o",
        f"{HOST}:{ports.orderer.listen}",
        "--tls",
        "--cafile",
        str(layout.orderer_tls_ca),
    ]

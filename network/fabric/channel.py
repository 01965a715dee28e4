"""The application channel: genesis block (configtxgen), orderer join (osnadmin), peer joins.

No system channel: the orderer joins the channel through its channel participation API (mutual
TLS with the orderer admin's TLS certificate), then each org's admin joins its peer with the
same genesis block.
"""

from __future__ import annotations

import os
from pathlib import Path

from alliance.profile import Profile
from network.fabric.binaries import run
from network.fabric.config import CHANNEL_PROFILE, HOST
from network.fabric.credentials import admin_msp, orderer_admin_tls
from network.fabric.layout import FabricLayout
from network.fabric.peercli import peer_cli_env
from network.fabric.ports import FabricPorts


def create_genesis_block(bin_dir: Path, layout: FabricLayout, channel: str) -> Path:
    """configtxgen's genesis block for `channel`, from run/fabric/channel/configtx.yaml."""
    block = layout.genesis_block
    run(
        [
            str(bin_dir / "configtxgen"),
            "-configPath",
            str(layout.channel_dir),
            "-profile",
            CHANNEL_PROFILE,
            "-channelID",
            channel,
            "-outputBlock",
            str(block),
        ],
        env={**os.environ, "FABRIC_LOGGING_SPEC": "WARNING"},
        what="creating the channel's genesis block (configtxgen)",
    )
    return block


def orderer_join(
    bin_dir: Path, layout: FabricLayout, ports: FabricPorts, channel: str, passphrase: bytes
) -> None:
    """Join the orderer to `channel` (osnadmin channel join)."""
    with orderer_admin_tls(layout, passphrase) as tls:
        run(
            [
                str(bin_dir / "osnadmin"),
                "channel",
                "join",
                "--channelID",
                channel,
                "--config-block",
                str(layout.genesis_block),
                "-o",
                f"{HOST}:{ports.orderer.admin}",
                "--ca-file",
                str(layout.orderer_tls_ca),
                "--client-cert",
                str(tls.cert),
                "--client-key",
                str(tls.key),
            ],
            env={**os.environ},
            what="joining the orderer to the channel (osnadmin)",
            ok_if=("already exists",),
        )


def peer_join(
    bin_dir: Path,
    layout: FabricLayout,
    profile: Profile,
    ports: FabricPorts,
    org: str,
    passphrase: bytes,
) -> None:
    """Join `org`'s peer to the channel of the genesis block, as the org's admin."""
    with admin_msp(layout, org, passphrase) as msp:
        run(
            [str(bin_dir / "peer"), "channel", "join", "-b", str(layout.genesis_block)],
            env=peer_cli_env(layout, ports, org, profile.orgs[org].msp_id, msp),
            what=f"joining {org}'s peer to the channel",
            ok_if=("already exists",),
        )

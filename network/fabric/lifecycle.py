"""Deploy the contract as an external chaincode service: install, approve for every org, commit.

Each org installs its own CCaaS package (its own chaincode server's address, so its own package
id) and approves the same definition (name, version, sequence) for its package; the definition
is committed with the endorsements of every org's peer. The endorsement policy is the channel's
`/Channel/Application/Endorsement`: a strict majority of the voting members' peers
(`config.endorsement_rule`), so with two or more members no single org can endorse alone.
"""

from __future__ import annotations

import json
from pathlib import Path

from alliance.profile import Profile
from network.fabric.binaries import run
from network.fabric.config import HOST
from network.fabric.credentials import admin_msp
from network.fabric.errors import FabricCommandError
from network.fabric.layout import FabricLayout
from network.fabric.peercli import orderer_flags, peer_cli_env
from network.fabric.ports import FabricPorts

VERSION = "1.0"
ENDORSEMENT_POLICY = "/Channel/Application/Endorsement"


class Lifecycle:
    """`peer lifecycle chaincode ...` as each org's admin, for one channel and chaincode name."""

    def __init__(
        self,
        bin_dir: Path,
        layout: FabricLayout,
        profile: Profile,
        ports: FabricPorts,
        passphrase: bytes,
    ) -> None:
        self.bin_dir = bin_dir
        self.layout = layout
        self.profile = profile
        self.ports = ports
        self.passphrase = passphrase
        self.channel = profile.channel
        self.name = profile.chaincode

    def _peer(self, org: str, args: list[str], what: str, ok_if: tuple[str, ...] = ()) -> str:
        with admin_msp(self.layout, org, self.passphrase) as msp:
            env = peer_cli_env(self.layout, self.ports, org, self.profile.orgs[org].msp_id, msp)
            return run([str(self.bin_dir / "peer"), *args], env=env, what=what, ok_if=ok_if)

    def install(self, org: str, package: Path) -> None:
        self._peer(
            org,
            ["lifecycle", "chaincode", "install", str(package)],
            f"installing the chaincode package on {org}'s peer",
            ok_if=("already successfully installed",),
        )

    def approve(self, org: str, package_id: str, sequence: int) -> None:
        self._peer(
            org,
            [
                "lifecycle",
                "chaincode",
                "approveformyorg",
                *orderer_flags(self.layout, self.ports),
                "--channelID",
                self.channel,
                "--name",
                self.name,
                "--version",
                VERSION,
                "--package-id",
                package_id,
                "--sequence",
                str(sequence),
                "--channel-config-policy",
                ENDORSEMENT_POLICY,
                "--waitForEventTimeout",
                "60s",
            ],
            f"approving the chaincode definition for {org}",
            ok_if=("attempted to redefine uncommitted sequence",),
        )

    def commit(self, orgs: list[str], sequence: int) -> None:
        peers: list[str] = []
        for org in orgs:
            peers += [
                "--peerAddresses",
                f"{HOST}:{self.ports.peers[org].listen}",
                "--tlsRootCertFiles",
                str(self.layout.peer_tls(org) / "ca.crt"),
            ]
        self._peer(
            orgs[0],
            [
                "lifecycle",
                "chaincode",
                "commit",
                *orderer_flags(self.layout, self.ports),
                "--channelID",
                self.channel,
                "--name",
                self.name,
                "--version",
                VERSION,
                "--sequence",
                str(sequence),
                "--channel-config-policy",
                ENDORSEMENT_POLICY,
                *peers,
                "--waitForEventTimeout",
                "60s",
            ],
            "committing the chaincode definition",
        )

    def committed(self, org: str) -> dict | None:
        """The committed definition as `querycommitted` reports it, or None when there is none."""
        try:
            output = self._peer(
                org,
                [
                    "lifecycle",
                    "chaincode",
                    "querycommitted",
                    "--channelID",
                    self.channel,
                    "--name",
                    self.name,
                    "--output",
                    "json",
                ],
                "querying the committed chaincode definition",
            )
        except FabricCommandError:
            return None
        start = output.find("{")
        try:
            return json.loads(output[start:]) if start >= 0 else None
        except ValueError:
            return None

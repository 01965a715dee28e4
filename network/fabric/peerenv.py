"""Fabric's own `peer` CLI against the launched network, as an org's admin (test-network's
`setOrgEnv`, without leaving a decrypted key behind).

`run_as(net_dir, org, passphrase, command)` runs `command` (e.g. `peer channel getinfo -c
alliance`) with what the stock CLI needs: FABRIC_CFG_PATH (the org peer's core.yaml),
CORE_PEER_LOCALMSPID, CORE_PEER_ADDRESS, TLS on with the peer's TLS root, ORDERER_ADDRESS and
ORDERER_CA for commands that reach the orderer, FABRIC_BIN_DIR's binaries first on PATH, and
CORE_PEER_MSPCONFIGPATH: the admin's MSP with its key decrypted into a private directory
(0700, under NET/run/fabric/tmp) that is removed when the command ends, however it ends.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from alliance.profile import load_profile
from network.fabric.binaries import resolve_bin_dir
from network.fabric.config import HOST
from network.fabric.credentials import admin_msp
from network.fabric.errors import FabricError
from network.fabric.layout import FabricLayout, read_json
from network.fabric.peercli import peer_cli_env
from network.fabric.ports import FabricPorts

SHOWN = (
    "FABRIC_CFG_PATH",
    "CORE_PEER_LOCALMSPID",
    "CORE_PEER_ADDRESS",
    "CORE_PEER_TLS_ENABLED",
    "CORE_PEER_TLS_ROOTCERT_FILE",
    "CORE_PEER_MSPCONFIGPATH",
    "ORDERER_ADDRESS",
    "ORDERER_CA",
)
"""The variables `peer-env` reports (the rest of the environment is the caller's own)."""


@contextmanager
def peer_env(net_dir: Path, org: str, passphrase: bytes) -> Iterator[dict[str, str]]:
    """The environment for Fabric's CLI as `org`'s admin; the decrypted MSP lives until exit."""
    net_dir = Path(net_dir).resolve()
    layout = FabricLayout(net_dir)
    profile = load_profile(net_dir)
    if org not in profile.orgs:
        known = ", ".join(sorted(profile.member_orgs())) or "none"
        raise FabricError(f"{org!r} is not an org of {net_dir}; orgs: {known}")
    recorded = read_json(layout.ports_file, None)
    if not recorded or org not in recorded.get("peers", {}):
        raise FabricError(
            f"no Fabric peer of {org!r} is recorded in {net_dir}; start the network with "
            f"`alliance network up --dir {net_dir} --engine fabric` first"
        )
    ports = FabricPorts.from_json(recorded)
    bin_dir = resolve_bin_dir()
    with admin_msp(layout, org, passphrase) as msp_dir:
        env = peer_cli_env(layout, ports, org, profile.orgs[org].msp_id, msp_dir)
        env["ORDERER_ADDRESS"] = f"{HOST}:{ports.orderer.listen}"
        env["ORDERER_CA"] = str(layout.orderer_tls_ca)
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        env.pop("FABRIC_LOGGING_SPEC", None)
        yield env


def run_as(
    net_dir: Path,
    org: str,
    passphrase: bytes,
    command: Sequence[str],
    *,
    capture: bool = False,
    timeout: float | None = None,
    announce: Callable[[dict[str, str]], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `command` in `peer_env` and return its result (output captured when `capture`)."""
    if not command:
        raise FabricError("no command given: e.g. `peer channel getinfo -c <channel>`")
    with peer_env(net_dir, org, passphrase) as env:
        if announce is not None:
            announce(env)
        try:
            return subprocess.run(
                list(command),
                env=env,
                capture_output=capture,
                text=True,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise FabricError(f"cannot run {command[0]!r}: {exc.strerror}") from exc

"""Fabric's own `peer` CLI works against the launched network as an org's admin, through
`alliance network peer-env`, and the decrypted admin key is gone afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import Fabric

from alliance.keystore import PASSPHRASE_ENV
from network.fabric.layout import FabricLayout
from network.fabric.peerenv import run_as


def _leftovers(fabric: Fabric) -> list[Path]:
    tmp = FabricLayout(fabric.net_dir.resolve()).tmp
    return list(tmp.iterdir()) if tmp.exists() else []


def test_peer_channel_getinfo_as_an_org_admin(fabric: Fabric) -> None:
    result = run_as(
        fabric.net_dir,
        "telecom",
        fabric.passphrase,
        ["peer", "channel", "getinfo", "-c", fabric.network.channel],
        capture=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout.split("Blockchain info:", 1)[1])
    assert info["height"] >= 2
    assert _leftovers(fabric) == []


def test_peer_chaincode_query_through_the_cli_command(fabric: Fabric) -> None:
    env = {**os.environ, PASSPHRASE_ENV: fabric.passphrase.decode()}
    query = json.dumps({"Args": ["GetCharter"]})
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "alliance"),
            "network",
            "peer-env",
            "--dir",
            str(fabric.net_dir),
            "--as",
            "bank",
            "--",
            "peer",
            "chaincode",
            "query",
            "-C",
            fabric.network.channel,
            "-n",
            fabric.network.chaincode,
            "-c",
            query,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    charter = json.loads(result.stdout)
    assert "bank" in json.dumps(charter)
    assert "CORE_PEER_MSPCONFIGPATH=" in result.stderr
    assert _leftovers(fabric) == []

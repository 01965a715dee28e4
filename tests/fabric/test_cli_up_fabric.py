"""`alliance network up` on a Fabric NET after one peer was killed: it starts exactly that peer
(and the member nodes), leaves the rest running, and exits 0. A network of its own."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from alliance.cli import main
from network.fabric import stop_fabric
from node.launcher import stop_node


def _up(capsys: pytest.CaptureFixture[str], net: Path, *extra: str) -> dict:
    capsys.readouterr()
    assert main(["--json", "network", "up", "--dir", str(net), *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_up_after_a_peer_was_killed_restarts_only_that_peer(
    network_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net = tmp_path / "net"
    shutil.copytree(network_dir, net, ignore=shutil.ignore_patterns("run"))
    try:
        first = _up(capsys, net, "--engine", "fabric", "--no-nodes")
        pids = {c["name"]: c["pid"] for c in first["components"]}
        os.kill(pids["peer0.telecom"], signal.SIGKILL)
        again = _up(capsys, net, "--no-nodes")  # the engine NET last ran: fabric
        assert again["engine"] == "fabric"
        actions = {c["name"]: c["action"] for c in again["components"]}
        assert actions.pop("peer0.telecom") == "started"
        assert set(actions.values()) == {"already running"}
        assert all(c["running"] for c in again["components"])
    finally:
        for org in ("bank", "telecom", "platform"):
            stop_node(net, org)
        stop_fabric(net)

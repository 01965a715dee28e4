"""`alliance demo` end to end, as a user runs it: a separate process, devnet and three nodes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from alliance.keystore import PASSPHRASE_ENV

STEPS = ["create", "start", "charter", "admit", "datasets", "request", "approve", "run",
         "result", "recipients", "psi", "rejected", "forged", "audit"]


def _demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alliance.cli.main", "demo", *args],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_the_demo_shows_every_step_and_stops_what_it_started(tmp_path: Path) -> None:
    net = tmp_path / "net"
    done = _demo("--dir", str(net), "--json", env={PASSPHRASE_ENV: "demo-test"})
    assert done.returncode == 0, done.stderr + done.stdout
    summary = json.loads(done.stdout)
    assert summary["ok"] is True
    assert [s["key"] for s in summary["steps"]] == STEPS
    assert all(s["ok"] for s in summary["steps"])
    assert summary["result"]["secure"] == summary["result"]["clear"]
    assert summary["psi"]["secure"] == summary["psi"]["clear"] > 0
    assert summary["psi"]["telecom_outputs"] == ["cardinality"]
    actions = [row["action"] for row in summary["trail"]]
    assert actions[0] == "RequestJob" and actions.count("SubmitReceipt") == 3
    assert all(row["block"] is not None for row in summary["trail"])
    # as on Fabric: a majority of the voting members' peers endorsed every transaction
    assert all(len(set(row["endorsers"])) >= 2 for row in summary["trail"])
    from network.devnet.launcher import devnet_status
    from node.launcher import node_status

    assert not devnet_status(net).running
    assert not any(node_status(net, org)["running"] for org in ("bank", "telecom", "platform"))


def test_the_demo_exits_non_zero_when_a_step_does_not_happen(tmp_path: Path) -> None:
    net = tmp_path / "net"
    net.mkdir()
    (net / "profile.json").write_text("{}")  # a directory that already holds something
    done = _demo("--dir", str(net), "--json", env={PASSPHRASE_ENV: "demo-test"})
    assert done.returncode == 1
    summary = json.loads(done.stdout)
    assert summary["ok"] is False
    assert summary["steps"][-1]["ok"] is False and "already holds" in summary["steps"][-1]["detail"]


def test_an_interrupted_demo_stops_every_process_it_started(tmp_path: Path) -> None:
    import signal
    import time

    from network.devnet.launcher import devnet_status
    from node.launcher import node_status
    from node.paths import node_run_file

    net = tmp_path / "net"
    proc = subprocess.Popen(
        [sys.executable, "-m", "alliance.cli.main", "demo", "--dir", str(net), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, PASSPHRASE_ENV: "demo-test"},
    )
    try:
        deadline = time.monotonic() + 60
        while not node_run_file(net, "bank").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert node_run_file(net, "bank").exists()
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert not devnet_status(net).running
    assert not any(node_status(net, org)["running"] for org in ("bank", "telecom", "platform"))

"""`network up` whole or nothing and idempotent, `network status` of every component, node
restart, the engine NET last ran, and devnet's fixed endpoint — devnet and nodes as processes."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import private_network, run

from alliance.cli import main
from alliance.keystore import PASSPHRASE_ENV
from network.devnet.launcher import devnet_status, kill_devnet
from node.launcher import kill_node, node_status

MEMBERS = ("bank", "platform", "telecom")


@pytest.fixture(scope="module")
def net(network_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    target = private_network(network_dir, tmp_path_factory.mktemp("cli-net") / "net")
    assert main(["network", "up", "--dir", str(target), "--batch-timeout-ms", "50"]) == 0
    yield target
    main(["network", "down", "--dir", str(target)])


def up(capsys: pytest.CaptureFixture[str], net: Path, *extra: str) -> tuple[int, dict, str]:
    code, out, err = run(capsys, "--json", "network", "up", "--dir", str(net), *extra)
    return code, (json.loads(out) if out.strip() else {}), err


def actions(report: dict) -> dict[str, str]:
    return {c["name"]: c["action"] for c in report["components"]}


def test_up_again_starts_nothing(net: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, err = up(capsys, net)
    assert code == 0, err
    assert set(actions(report).values()) == {"already running"}
    assert all(c["endpoint"].startswith("127.0.0.1:") for c in report["components"])


def test_up_after_devnet_alone_was_killed_starts_only_devnet(
    net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nodes_before = {org: node_status(net, org)["pid"] for org in MEMBERS}
    assert kill_devnet(net) is not None
    code, report, err = up(capsys, net)
    assert code == 0, err
    assert actions(report)["devnet"] == "started"
    assert {org: node_status(net, org)["pid"] for org in MEMBERS} == nodes_before


def test_up_after_a_node_was_killed_starts_that_node(
    net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    devnet_pid = devnet_status(net).pid
    assert kill_node(net, "platform") is not None
    code, report, err = up(capsys, net)
    assert code == 0, err
    assert actions(report) == {
        "devnet": "already running",
        "node bank": "already running",
        "node platform": "started",
        "node telecom": "already running",
    }
    assert devnet_status(net).pid == devnet_pid


def test_node_restart_brings_a_dead_node_back(
    net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert kill_node(net, "telecom") is not None
    code, out, err = run(capsys, "--json", "--dir", str(net), "--as", "telecom", "node", "restart")
    assert code == 0, err
    assert json.loads(out)["running"] is True
    assert node_status(net, "telecom")["running"]


def _drains(net: Path, org: str) -> int:
    from node.paths import node_log_path

    return node_log_path(net, org).read_text(errors="replace").count(f"node {org} draining")


def test_node_restart_lets_the_running_node_drain_first(
    net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before, drained = node_status(net, "platform")["pid"], _drains(net, "platform")
    code, out, err = run(capsys, "--json", "--dir", str(net), "--as", "platform", "node", "restart")
    assert code == 0, err
    assert json.loads(out)["pid"] != before
    assert _drains(net, "platform") == drained + 1


def test_node_restart_now_does_not_drain(net: Path, capsys: pytest.CaptureFixture[str]) -> None:
    drained = _drains(net, "platform")
    code, _, err = run(capsys, "--dir", str(net), "--as", "platform", "node", "restart", "--now")
    assert code == 0, err
    assert _drains(net, "platform") == drained


def test_devnet_keeps_its_port_across_restarts(
    net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from alliance.profile import load_profile

    fixed = load_profile(net).devnet.port
    assert devnet_status(net).port == fixed
    kill_devnet(net)
    assert up(capsys, net)[0] == 0
    assert devnet_status(net).port == fixed


def test_switching_engine_needs_an_explicit_flag(
    net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "network", "up", "--dir", str(net), "--engine", "fabric")
    assert code == 2
    assert "--switch-engine" in err and "separate" in err


@pytest.fixture
def stopped_net(network_dir: Path, tmp_path: Path) -> Path:
    return private_network(network_dir, tmp_path / "net")


def test_a_wrong_passphrase_starts_nothing(
    stopped_net: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "not-the-passphrase")
    code, _, err = run(capsys, "network", "up", "--dir", str(stopped_net))
    assert code == 4 and "passphrase" in err
    assert not devnet_status(stopped_net).running
    assert not (stopped_net / "run" / "devnet.json").exists()


def test_status_lists_every_component_when_stopped(
    stopped_net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--json", "network", "status", "--dir", str(stopped_net))
    assert code == 0
    states = {c["name"]: c["state"] for c in json.loads(out)["components"]}
    assert states == {
        "devnet": "stopped", "node bank": "stopped", "node platform": "stopped",
        "node telecom": "stopped",
    }


def test_a_taken_port_is_named_with_how_to_change_it(
    stopped_net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from alliance.profile import load_profile

    port = load_profile(stopped_net).devnet.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        code, _, err = run(capsys, "network", "up", "--dir", str(stopped_net), "--no-nodes")
    assert code == 4
    assert str(port) in err and "--devnet-port" in err
    assert not devnet_status(stopped_net).running


def test_init_refuses_an_unrelated_non_empty_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = run(capsys, "network", "init", "--dir", str(tmp_path), "--members", "bank")
    assert code == 4 and "not empty" in err and "notes.txt" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_errors_are_json_on_stderr_with_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--json", "network", "status", "--dir", str(tmp_path))
    assert code == 4 and out == ""
    error = json.loads(err)
    assert error["exit_code"] == 4 and "network init" in error["message"]



def test_status_of_a_fabric_net_lists_orderer_peers_and_chaincode_servers_when_stopped(
    stopped_net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from network.connection import record_engine

    record_engine(stopped_net, "fabric")
    code, out, _ = run(capsys, "--json", "network", "status", "--dir", str(stopped_net))
    assert code == 0
    report = json.loads(out)
    assert report["engine"] == "fabric"
    states = {c["name"]: c["state"] for c in report["components"]}
    assert states == {
        "orderer0": "stopped",
        **{f"{kind}.{org}": "stopped" for org in MEMBERS for kind in ("peer0", "chaincode")},
        **{f"node {org}": "stopped" for org in MEMBERS},
    }


def test_job_wait_follows_a_job_across_a_ledger_restart(
    net: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The event stream breaks when devnet dies; wait reopens it and re-reads the job."""
    import threading

    from alliance.app import jobs, open_session
    from alliance.app.datasets import register_dataset

    for org, name in (("bank", "restart-a"), ("telecom", "restart-b")):
        data = tmp_path / f"{name}.csv"
        data.write_text("id,amount\nc1,40\nc2,2\n")
        with open_session(net, org) as session:
            register_dataset(session, name, file=data)
    request = jobs.build_request(
        "stats", ["bank/restart-a:amount", "telecom/restart-b:amount"], {"op": "sum"},
        {"result": ["telecom"]}, 3600,
    )
    with open_session(net, "telecom") as session:
        job_id = jobs.request_job(session, request).id
    seen: list[str] = []
    ended: list[object] = []

    def follow() -> None:
        with open_session(net, "telecom") as session:
            try:
                ended.append(jobs.wait_for_job(
                    session, job_id, timeout=120, on_change=lambda j: seen.append(j.state.value)
                ))
            except Exception as exc:  # reported below
                ended.append(exc)

    waiter = threading.Thread(target=follow)
    waiter.start()
    deadline = time.monotonic() + 30
    while not seen and time.monotonic() < deadline:
        time.sleep(0.1)
    assert seen == ["REQUESTED"]
    kill_devnet(net)
    assert up(capsys, net)[0] == 0
    with open_session(net, "bank") as session:
        jobs.approve_job(session, job_id)
    waiter.join(150)
    assert len(ended) == 1 and getattr(ended[0], "state", None) == "COMPLETED", ended
    assert seen[0] == "REQUESTED" and seen[-1] == "COMPLETED"

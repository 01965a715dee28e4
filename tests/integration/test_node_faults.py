"""Faults lose nothing and stick nothing: a recipient killed at each point of staging gets its
COMPLETED output after restart, a run whose party never comes back ends FAILED by its deadline,
and a party that dies or freezes mid-protocol fails the job within seconds.

Nodes are killed at exact points with the runner's failpoint (`ALLIANCE_NODE_FAILPOINT`: the node
process exits at once, as under SIGKILL), or with SIGKILL / SIGSTOP from outside.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from node_cluster import PASSPHRASE, approve_all, running_alliance
from node_cluster import wait_until as until

from alliance.canonical import canonical_json
from alliance.cli.demo.flow import MEMBERS, DemoFlow
from alliance.keystore import PASSPHRASE_ENV
from node.failpoint import FAILPOINT_ENV
from node.launcher import kill_node, node_status, start_node, stop_node
from node.outputs import list_outputs
from node.paths import node_store_path, outputs_dir
from node.store import NodeStore

STEP = 90.0
NODE_ARGS = ["--connect-timeout", str(STEP), "--step-timeout", str(STEP)]
"""Long transport timeouts: a dead party must be noticed by the link, not by a timeout."""
DETECTION_BOUND = 30.0
"""Seconds from a party's death (or freeze) to FAILED on the ledger: generous for a loaded
machine; the link notices a killed peer at once and a frozen one within ~5 s (keepalive)."""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFlow]:
    with running_alliance(tmp_path_factory.mktemp("faults") / "net", NODE_ARGS) as flow:
        yield flow


@pytest.fixture
def alliance(cluster: DemoFlow) -> DemoFlow:
    for org in MEMBERS:
        if not node_status(cluster.net_dir, org)["running"]:
            _start(cluster, org)
    return cluster


def _start(flow: DemoFlow, org: str, failpoint: str | None = None) -> int:
    env = {PASSPHRASE_ENV: PASSPHRASE.decode()}
    if failpoint:
        env[FAILPOINT_ENV] = failpoint
    return start_node(flow.net_dir, org, env=env, extra_args=NODE_ARGS)


def _restart_with_failpoint(flow: DemoFlow, org: str, failpoint: str) -> None:
    assert stop_node(flow.net_dir, org)
    _start(flow, org, failpoint)


def _request(flow: DemoFlow, orgs: list[str], recipient: str, **parameters: str) -> dict:
    body = {
        "protocol": "stats", "inputs": [flow._input(o) for o in orgs],
        "parameters": {"op": "sum", **parameters}, "outputs": {"result": [recipient]},
        "expires_in_seconds": 600, "max_runs": 1,
    }
    return approve_all(flow, flow.submit(recipient, "RequestJob", canonical_json(body).decode()))


def _dead(flow: DemoFlow, org: str) -> bool:
    return not node_status(flow.net_dir, org)["running"]


def _hidden_files(flow: DemoFlow, org: str) -> list[Path]:
    """Files under a hidden (staging or temporary) directory of org's outputs."""
    root = outputs_dir(flow.net_dir, org)
    if not root.exists():
        return []
    return [p for p in root.rglob("*")
            if p.is_file() and any(part.startswith(".") for part in p.relative_to(root).parts)]


def _delivered(flow: DemoFlow, org: str, job_id: str) -> bool:
    return any(m["job_id"] == job_id for m in list_outputs(outputs_dir(flow.net_dir, org)))


@pytest.mark.parametrize("point", ["staged", "receipted", "judged"])
def test_a_recipient_killed_while_staging_gets_its_completed_output_after_restart(
    alliance: DemoFlow, point: str,
) -> None:
    _restart_with_failpoint(alliance, "telecom", point)
    job = _request(alliance, ["bank", "telecom"], "telecom")
    assert until(lambda: _dead(alliance, "telecom"), 40), "the failpoint was not reached"
    assert not _delivered(alliance, "telecom", job["id"])
    if point == "staged":
        assert alliance.evaluate("regulator", "GetJob", job["id"])["state"] == "RUNNING"
    _start(alliance, "telecom")
    job = alliance.wait_for(job["id"], ("COMPLETED", "FAILED", "DISPUTED"))
    assert job["state"] == "COMPLETED", job["failures"]
    assert until(lambda: _delivered(alliance, "telecom", job["id"]))
    assert _hidden_files(alliance, "telecom") == []
    store = NodeStore(node_store_path(alliance.net_dir, "telecom"))
    assert until(lambda: (s := store.get_staged(job["id"], 1)) is not None
                 and s.state == "delivered")


def test_a_run_whose_party_never_receipts_ends_failed_by_its_deadline(alliance: DemoFlow) -> None:
    _restart_with_failpoint(alliance, "telecom", "staged")
    job = _request(alliance, ["bank", "telecom"], "telecom", run_seconds="5")
    assert until(lambda: _dead(alliance, "telecom"), 40)
    # nobody restarts telecom: bank's node expires the run once its deadline passes
    job = alliance.wait_for(job["id"], ("FAILED", "COMPLETED"), timeout=60)
    assert job["state"] == "FAILED"
    assert job["failures"]["bank"]["reason"] == "deadline passed, missing receipts from telecom"
    assert _hidden_files(alliance, "telecom")  # still staged while telecom's node is down
    _start(alliance, "telecom")
    assert until(lambda: _hidden_files(alliance, "telecom") == [])
    assert not _delivered(alliance, "telecom", job["id"])
    assert not (outputs_dir(alliance.net_dir, "telecom") / job["id"] / "run-1").exists()


def _stuck_three_party_job(flow: DemoFlow) -> dict:
    """A three-party job with platform's node down: bank and telecom are linked and wait for it
    (for up to STEP seconds) inside the protocol."""
    assert stop_node(flow.net_dir, "platform")
    job = _request(flow, list(MEMBERS), "telecom")
    store = {org: NodeStore(node_store_path(flow.net_dir, org)) for org in ("bank", "telecom")}
    assert until(lambda: all((r := s.get_run(job["id"], 1)) and r.state == "running"
                             for s in store.values()))
    time.sleep(1.0)  # the bank-telecom link is up and both are inside the protocol
    return job


def _names_bank_as_lost(failure: dict) -> bool:
    """telecom's coded failure names bank as the party its run lost (the detail, "lost
    connection to bank", stays in telecom's local failure log)."""
    return failure["code"] in ("peer_unreachable", "peer_aborted") and failure["peer"] == "bank"


def test_a_party_killed_mid_protocol_fails_the_job_within_seconds(alliance: DemoFlow) -> None:
    job = _stuck_three_party_job(alliance)
    assert kill_node(alliance.net_dir, "bank") is not None
    killed = time.monotonic()
    job = alliance.wait_for(job["id"], ("FAILED", "COMPLETED"), timeout=STEP)
    assert job["state"] == "FAILED"
    elapsed = time.monotonic() - killed
    print(f"killed party: FAILED after {elapsed:.1f} s")
    assert elapsed < DETECTION_BOUND
    assert _names_bank_as_lost(job["failures"]["telecom"])


def test_a_party_frozen_mid_protocol_fails_the_job_within_seconds(alliance: DemoFlow) -> None:
    job = _stuck_three_party_job(alliance)
    pid = node_status(alliance.net_dir, "bank")["pid"]
    os.kill(pid, signal.SIGSTOP)  # alive, socket open, answering nothing
    try:
        frozen = time.monotonic()
        job = alliance.wait_for(job["id"], ("FAILED", "COMPLETED"), timeout=STEP)
        assert job["state"] == "FAILED"
        elapsed = time.monotonic() - frozen
        print(f"frozen party: FAILED after {elapsed:.1f} s")
        assert elapsed < DETECTION_BOUND
        assert _names_bank_as_lost(job["failures"]["telecom"])
    finally:
        os.kill(pid, signal.SIGKILL)
        os.kill(pid, signal.SIGCONT)
        assert until(lambda: _dead(alliance, "bank"))


def test_job_expire_run_ends_an_overdue_run_from_the_command_line(
    alliance: DemoFlow, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cli_helpers import run

    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE.decode())
    for org in ("bank", "telecom"):  # no node to run or expire it: the run just sits there
        assert stop_node(alliance.net_dir, org)
    job = _request(alliance, ["bank", "telecom"], "telecom", run_seconds="5")
    net = str(alliance.net_dir)
    assert run(capsys, "--dir", net, "--as", "bank", "job", "claim", job["id"])[0] == 0
    running = alliance.evaluate("regulator", "GetJob", job["id"])
    assert running["state"] == "RUNNING" and running["run_deadline"] > 0
    code, _, err = run(capsys, "--dir", net, "--as", "telecom", "job", "expire-run", job["id"])
    assert code != 0 and "expire it after its deadline" in err
    time.sleep(max(0.0, running["run_deadline"] - time.time()) + 1.0)
    code, _, err = run(capsys, "--dir", net, "--as", "telecom", "job", "expire-run", job["id"])
    assert code == 0, err
    failed = alliance.evaluate("regulator", "GetJob", job["id"])
    assert failed["state"] == "FAILED"
    assert failed["failures"]["telecom"]["reason"] == (
        "deadline passed, missing receipts from bank, telecom")

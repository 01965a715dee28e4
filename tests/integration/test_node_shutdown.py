"""A node stops promptly on SIGTERM even while a job of its runs, waiting for a peer forever."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
from node_cluster import approve_all, request, running_alliance, runs_of
from node_cluster import wait_until as until

from alliance.cli.demo.flow import MEMBERS, DemoFlow
from network.processes import kill_now, wait_gone
from node.launcher import node_status, stop_node

# Deadlines far past the bound below: only the shutdown itself can end bank's wait.
NODE_ARGS = ["--connect-timeout", "600", "--step-timeout", "600", "--job-deadline", "900"]
EXIT_BOUND = 20.0
"""Seconds a node may take to exit after SIGTERM: a liveness bound, not a speed target."""


@pytest.fixture(scope="module")
def alliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFlow]:
    with running_alliance(tmp_path_factory.mktemp("shutdown") / "net", NODE_ARGS) as flow:
        yield flow


def test_sigterm_stops_a_node_whose_job_waits_for_a_peer_that_never_connects(
    alliance: DemoFlow,
) -> None:
    # platform's node is down: bank and telecom open the run and wait for it (for 600 s).
    assert stop_node(alliance.net_dir, "platform")
    job = approve_all(alliance, request(alliance, "telecom",
                                        [alliance._input(o) for o in MEMBERS], "telecom"))
    assert until(lambda: [r.state for r in runs_of(alliance, "bank", job["id"])] == ["running"]
                 and [r.state for r in runs_of(alliance, "telecom", job["id"])] == ["running"])
    time.sleep(0.5)  # bank's link to telecom is up and both wait inside the protocol
    pid = node_status(alliance.net_dir, "bank")["pid"]
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    exited = wait_gone(pid, EXIT_BOUND)
    if not exited:
        kill_now(pid)
    assert exited, f"bank's node still ran {EXIT_BOUND:.0f} s after SIGTERM, mid-job"
    # bank's abort reached telecom, whose run fails with bank's reason instead of waiting on
    job = alliance.wait_for(job["id"], ("FAILED", "COMPLETED"))
    assert job["state"] == "FAILED"
    failure = job["failures"]["telecom"]
    assert failure["code"] in ("peer_aborted", "peer_unreachable"), job["failures"]
    assert failure["peer"] == "bank", job["failures"]

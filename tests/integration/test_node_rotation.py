"""A node's MPC identity rotated while the alliance runs: the node drains (its running job
finishes) and restarts with its new TLS certificate, so no job is lost; a later job runs with the
new certificate after the old one was revoked without grace."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from node_cluster import PASSPHRASE, approve_all, request, running_alliance, runs_of
from node_cluster import wait_until as until

from alliance.app import keys
from alliance.app.session import open_session
from alliance.cli.demo.flow import DemoFlow
from alliance.keystore import PASSPHRASE_ENV
from node.launcher import start_node, stop_node
from node.paths import node_log_path

# platform's run waits for bank's node as long as the test needs, however slow the machine
NODE_ARGS = ["--connect-timeout", "600", "--step-timeout", "600", "--job-deadline", "900"]


@pytest.fixture(scope="module")
def alliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFlow]:
    with running_alliance(tmp_path_factory.mktemp("rotation") / "net", NODE_ARGS) as flow:
        yield flow


def _job(flow: DemoFlow) -> dict:
    inputs = [flow._input(org) for org in ("bank", "platform")]
    return approve_all(flow, request(flow, "bank", inputs, "bank", op="count"))


def _rotate(flow: DemoFlow, grace: int, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE.decode())
    with open_session(flow.net_dir, "platform", passphrase=PASSPHRASE) as s:
        return keys.rotate(s, "node/tls", grace)


def test_a_job_running_when_the_node_rotates_completes_before_the_restart(
    alliance: DemoFlow, monkeypatch: pytest.MonkeyPatch
) -> None:
    # bank's node is down: platform opens the run and waits inside it for bank's link
    assert stop_node(alliance.net_dir, "bank")
    job = _job(alliance)
    assert until(lambda: [r.state for r in runs_of(alliance, "platform", job["id"])]
                 == ["running"], timeout=120)
    log = node_log_path(alliance.net_dir, "platform")
    rotated: dict = {}
    rotation = threading.Thread(
        target=lambda: rotated.update(_rotate(alliance, 3600, monkeypatch)))
    rotation.start()
    # platform drains (the rotation waits for its run) before bank comes back
    assert until(lambda: "draining" in log.read_text(errors="replace"), timeout=120)
    start_node(alliance.net_dir, "bank", extra_args=NODE_ARGS)
    rotation.join(300)
    assert rotated.get("node_restarted") is True
    job = alliance.wait_for(job["id"], ("COMPLETED", "FAILED", "DISPUTED"))
    assert job["state"] == "COMPLETED", job["failures"]


def test_after_a_rotation_without_grace_the_new_certificate_carries_the_links(
    alliance: DemoFlow, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = _rotate(alliance, 0, monkeypatch)
    with open_session(alliance.net_dir, "regulator", passphrase=PASSPHRASE) as s:
        revoked = {r["fingerprint"] for r in s.evaluate("ListRevokedCertificates")}
    assert done["old_fingerprint"] in revoked and done["new_fingerprint"] not in revoked
    job = alliance.wait_for(_job(alliance)["id"], ("COMPLETED", "FAILED", "DISPUTED"))
    assert job["state"] == "COMPLETED", job["failures"]
    assert Path(done["kept"]).is_file()

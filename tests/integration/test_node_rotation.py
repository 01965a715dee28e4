"""A node's MPC identity rotated while the alliance runs: the node restarts with its new TLS
certificate, the job approved just before runs to completion (no job lost), and a later job runs
with the new certificate after the old one was revoked without grace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from node_cluster import PASSPHRASE, approve_all, request, running_alliance

from alliance.app import keys
from alliance.app.session import open_session
from alliance.cli.demo.flow import DemoFlow
from alliance.keystore import PASSPHRASE_ENV


@pytest.fixture(scope="module")
def alliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFlow]:
    with running_alliance(tmp_path_factory.mktemp("rotation") / "net") as flow:
        yield flow


def _job(flow: DemoFlow) -> dict:
    inputs = [flow._input(org) for org in ("bank", "platform")]
    return approve_all(flow, request(flow, "bank", inputs, "bank", op="count"))


def _rotate(flow: DemoFlow, grace: int, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE.decode())
    with open_session(flow.net_dir, "platform", passphrase=PASSPHRASE) as s:
        return keys.rotate(s, "node/tls", grace)


def test_a_job_approved_before_the_rotation_completes_after_it(
    alliance: DemoFlow, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _job(alliance)
    done = _rotate(alliance, 3600, monkeypatch)
    assert done["node_restarted"] is True
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

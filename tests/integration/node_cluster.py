"""A running alliance for node tests: devnet, the charter, three member nodes, demo datasets.

Built with the demo's own steps (`DemoFlow`), so the tests exercise what the demo shows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alliance.cli.demo.flow import DemoFlow
from alliance.keystore import PASSPHRASE_ENV
from node.failpoint import FAILPOINT_ENV
from node.launcher import node_status, start_node, stop_node
from node.paths import node_store_path, outputs_dir
from node.store import JobRun, NodeStore

PASSPHRASE = b"node-tests-passphrase"


@contextmanager
def running_alliance(net_dir: Path, node_args: list[str] | None = None) -> Iterator[DemoFlow]:
    flow = DemoFlow(net_dir, PASSPHRASE, node_args=node_args)
    try:
        flow.create()
        flow.start()
        flow.charter()
        flow.register_datasets()
        yield flow
    finally:
        flow.stop()


def request(flow: DemoFlow, requester: str, inputs: list[str], recipient: str,
            op: str = "sum") -> dict[str, Any]:
    return flow._request(requester, inputs, recipient, op)


def approve_all(flow: DemoFlow, job: dict[str, Any]) -> dict[str, Any]:
    for org in job["required_approvers"]:
        job = flow.submit(org, "ApproveJob", job["id"])
    return job


def runs_of(flow: DemoFlow, org: str, job_id: str) -> list[JobRun]:
    return [r for r in NodeStore(node_store_path(flow.net_dir, org)).runs() if r.job_id == job_id]


def has_outputs(flow: DemoFlow, org: str, job_id: str) -> bool:
    return (outputs_dir(flow.net_dir, org) / job_id).exists()


def wait_until(predicate: Any, timeout: float = 30.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def manifest(flow: DemoFlow, org: str, job_id: str, run: int = 1) -> dict[str, Any]:
    return json.loads((outputs_dir(flow.net_dir, org) / job_id / f"run-{run}" /
                       "manifest.json").read_text())


def killed_at(flow: DemoFlow, org: str, failpoint: str, start_job: Callable[[], dict[str, Any]]
              ) -> dict[str, Any]:
    """Restart `org`'s node so that it exits at once (as under SIGKILL) at `failpoint`, start a
    job with `start_job`, and return it once ended: it must have FAILED naming `org`, with no
    party holding an output. `org`'s node is started again normally afterwards."""
    env = {PASSPHRASE_ENV: PASSPHRASE.decode()}
    assert stop_node(flow.net_dir, org)
    start_node(flow.net_dir, org, env={**env, FAILPOINT_ENV: failpoint})
    try:
        job = start_job()
        assert wait_until(lambda: not node_status(flow.net_dir, org)["running"], 120), (
            f"{org} never reached {failpoint}")
        job = flow.wait_for(job["id"], ("COMPLETED", "FAILED", "DISPUTED"), timeout=120)
        assert job["state"] == "FAILED"
        assert any(f.get("peer") == org for f in job["failures"].values()), job["failures"]
    finally:
        if not node_status(flow.net_dir, org)["running"]:
            start_node(flow.net_dir, org, env=env)
    for member in ("bank", "telecom", "platform"):
        assert not has_outputs(flow, member, job["id"]), member
    return job

"""A running alliance for node tests: devnet, the charter, three member nodes, demo datasets.

Built with the demo's own steps (`DemoFlow`), so the tests exercise what the demo shows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alliance.cli.demo.flow import DemoFlow
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

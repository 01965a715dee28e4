"""Fault injection: devnet and each node SIGKILLed at random points of a stream of jobs.

Checks, once everything is back: every job ends (COMPLETED with its outputs delivered at every
recipient, digests equal to the ledger's; or FAILED with a reason from each party that gave
one); nothing the ledger reported committed is lost (every request and approval the test saw
committed is there); no plaintext is left outside delivered outputs (no file under a hidden
staging directory at any node).

The short variant (FAULT_ROUNDS rounds) runs with the suite. The slow variant (SLOW_ROUNDS
rounds, a few minutes) runs only with `ALLIANCE_SLOW_TESTS=1`:

    ALLIANCE_SLOW_TESTS=1 .venv/bin/python -m pytest tests/integration/test_fault_injection.py

`ALLIANCE_FAULT_SEED=N` replays a run (the seed is printed and named in every failure).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from node_cluster import PASSPHRASE, running_alliance
from node_cluster import wait_until as until

from alliance.canonical import canonical_json
from alliance.cli.demo.flow import MEMBERS, DemoFlow
from alliance.keystore import PASSPHRASE_ENV
from network.devnet.launcher import devnet_status, kill_devnet, start_devnet
from node.launcher import kill_node, node_status, start_node
from node.outputs import list_outputs
from node.paths import outputs_dir

FAULT_ROUNDS = 4
SLOW_ROUNDS = 24
NODE_ARGS = ["--connect-timeout", "10", "--step-timeout", "10"]
RUN_SECONDS = "10"
"""Each job's run deadline base: a run whose party died for good ends FAILED ~11 s after it
started (expired by a surviving participant's node)."""
SETTLE_SECONDS = 180.0
VICTIMS = ("devnet", *MEMBERS)
TERMINAL = ("COMPLETED", "FAILED", "DISPUTED", "REJECTED", "REVOKED", "EXPIRED")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFlow]:
    with running_alliance(tmp_path_factory.mktemp("injection") / "net", NODE_ARGS) as flow:
        yield flow


def _start_node(flow: DemoFlow, org: str) -> None:
    start_node(flow.net_dir, org, env={PASSPHRASE_ENV: PASSPHRASE.decode()},
               extra_args=NODE_ARGS)


def _revive(flow: DemoFlow) -> None:
    """Start whatever is not running (devnet first), as an operator would after a crash."""
    if not devnet_status(flow.net_dir).running:
        start_devnet(flow.net_dir, batch_timeout_ms=20)
        flow.stop_connections()
    for org in MEMBERS:
        if not node_status(flow.net_dir, org)["running"]:
            _start_node(flow, org)


def _kill(flow: DemoFlow, victim: str) -> None:
    if victim == "devnet":
        kill_devnet(flow.net_dir)
    else:
        kill_node(flow.net_dir, victim)


def _request(flow: DemoFlow, rng: random.Random) -> dict:
    """A stats job over two or three members' inputs, result to one of them, all approved."""
    orgs = sorted(rng.sample(MEMBERS, rng.choice((2, 3))))
    recipients = sorted(rng.sample(orgs, rng.choice((1, 2))))
    requester = recipients[0]
    body = {
        "protocol": "stats", "inputs": [flow._input(o) for o in orgs],
        "parameters": {"op": "sum", "run_seconds": RUN_SECONDS},
        "outputs": {"result": recipients}, "expires_in_seconds": 900, "max_runs": 1,
    }
    job = flow.submit(requester, "RequestJob", canonical_json(body).decode())
    for org in job["required_approvers"]:
        job = flow.submit(org, "ApproveJob", job["id"])
    return job


def _hidden_files(flow: DemoFlow) -> list[Path]:
    found = []
    for org in MEMBERS:
        root = outputs_dir(flow.net_dir, org)
        if root.exists():
            found += [p for p in root.rglob("*") if p.is_file() and any(
                part.startswith(".") for part in p.relative_to(root).parts)]
    return found


def _delivered(flow: DemoFlow, org: str, job_id: str, run: int) -> dict | None:
    for manifest in list_outputs(outputs_dir(flow.net_dir, org)):
        if manifest["job_id"] == job_id and manifest["run"] == run:
            return manifest
    return None


def _inject(flow: DemoFlow, rounds: int) -> None:
    seed = int(os.environ.get("ALLIANCE_FAULT_SEED", time.time_ns() % 1_000_000))
    print(f"fault injection: {rounds} rounds, seed {seed}")
    rng = random.Random(seed)
    committed: list[dict] = []
    for _ in range(rounds):
        _revive(flow)
        committed.append(_request(flow, rng))
        time.sleep(rng.uniform(0.0, 2.0))  # the job is being claimed, run, receipted, judged…
        _kill(flow, rng.choice(VICTIMS))
        time.sleep(rng.uniform(0.0, 1.0))
    _revive(flow)
    where = f"(seed {seed})"

    def ended() -> list[dict]:
        jobs = [flow.evaluate("regulator", "GetJob", j["id"]) for j in committed]
        return jobs if all(j["state"] in TERMINAL for j in jobs) else []

    assert until(lambda: bool(ended()), SETTLE_SECONDS, interval=0.5), (
        f"jobs still open {where}: " + ", ".join(
            f"{j['id']} {s['state']}" for j in committed
            if (s := flow.evaluate("regulator", "GetJob", j["id"]))["state"] not in TERMINAL))
    jobs = ended()
    for before, job in zip(committed, jobs, strict=True):
        # nothing reported committed is lost: the request and every approval are on the ledger
        assert set(before["approvals"]) <= set(job["approvals"]), where
        assert job["state"] in ("COMPLETED", "FAILED"), (job["id"], job["state"], where)
        if job["state"] == "FAILED":
            assert job["failures"] and all(f["reason"] for f in job["failures"].values()), where
            continue
        run = job["current_run"]
        agreed = job["results"][str(run)]["output_digests"]
        for name, recipients in job["outputs"].items():
            for org in recipients:
                assert until(lambda o=org, j=job["id"], r=run: _delivered(flow, o, j, r)
                             is not None, 60), (
                    f"{job['id']} COMPLETED but not delivered at {org} {where}")
                manifest = _delivered(flow, org, job["id"], run)
                assert manifest["outputs"][name]["digest"] == agreed[name], where
    assert until(lambda: _hidden_files(flow) == [], 60), (_hidden_files(flow), where)
    outcome = {s: sum(j["state"] == s for j in jobs) for s in ("COMPLETED", "FAILED")}
    print(f"fault injection {where}: {outcome}")
    for job in jobs:
        for org, failure in job["failures"].items():
            print(f"  {job['id']} FAILED by {org}: {failure['reason']}")


def test_kills_at_random_points_lose_nothing_and_leave_nothing(cluster: DemoFlow) -> None:
    _inject(cluster, FAULT_ROUNDS)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("ALLIANCE_SLOW_TESTS"),
                    reason="a few minutes: set ALLIANCE_SLOW_TESTS=1 to run it")
def test_many_kills_at_random_points_lose_nothing_and_leave_nothing(cluster: DemoFlow) -> None:
    _inject(cluster, SLOW_ROUNDS)

"""A 2M-row CSV input: its owner needs 13-19 s (idle machine) to read and fingerprint it before
the protocol can start, far longer than the nodes' connect timeout here (5 s); the other party
waits on the open link (keepalive shows the owner alive) and the stats job completes with the
plaintext sum.

Slow (the file is generated, fingerprinted for registration, then read again by the job: one to
three minutes); runs only with `ALLIANCE_SLOW_TESTS=1`:

    ALLIANCE_SLOW_TESTS=1 .venv/bin/python -m pytest tests/integration/test_node_large_inputs.py
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from node_cluster import approve_all, running_alliance

from alliance.canonical import canonical_json, loads
from alliance.cli.demo.flow import DemoFlow
from node.paths import node_store_path
from node.sources import open_source
from node.store import LocalDataset, NodeStore

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("ALLIANCE_SLOW_TESTS"),
                       reason="minutes: set ALLIANCE_SLOW_TESTS=1 to run it"),
]

ROWS = 2_000_000
NODE_ARGS = ["--connect-timeout", "5", "--step-timeout", "30"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFlow]:
    with running_alliance(tmp_path_factory.mktemp("large") / "net", NODE_ARGS) as flow:
        yield flow


def _write_csv(path: Path, rows: int) -> int:
    """`id,amount` rows with amounts 0..999; the plaintext sum."""
    amounts = np.random.default_rng(5).integers(0, 1000, rows)
    with open(path, "w") as f:
        f.write("id,amount\n")
        for b0 in range(0, rows, 200_000):
            block = amounts[b0 : b0 + 200_000].tolist()
            f.write("".join(f"C{b0 + i:09d},{v}\n" for i, v in enumerate(block)))
    return int(amounts.sum())


def _register(flow: DemoFlow, org: str, name: str, path: Path) -> None:
    fp = open_source(str(path)).fingerprint()
    dataset = flow.submit(org, "RegisterDataset", canonical_json({
        "name": name, "schema": fp.schema, "row_count": fp.row_count,
        "fingerprint": fp.fingerprint, "description": "2M rows", "tags": ["test"],
    }).decode())
    NodeStore(node_store_path(flow.net_dir, org)).put_dataset(LocalDataset(
        name=name, location=str(path), columns_json=json.dumps(fp.schema),
        row_count=fp.row_count, fingerprint=fp.fingerprint, merkle_root=fp.merkle_root,
        ledger_version=dataset["version"], ledger_tx=dataset["updated_tx"],
    ))


def test_a_stats_job_on_a_2m_row_csv_completes(cluster: DemoFlow, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    big_sum = _write_csv(path, ROWS)
    _register(cluster, "bank", "big", path)
    telecom_path, table = cluster.tables["telecom"][:2]
    with open(telecom_path, newline="") as f:
        telecom_sum = sum(int(row[table.value_column]) for row in csv.DictReader(f))
    body = {
        "protocol": "stats", "inputs": ["bank/big:amount", cluster._input("telecom")],
        "parameters": {"op": "sum"}, "outputs": {"result": ["telecom"]},
        "expires_in_seconds": 3600, "max_runs": 1,
    }
    job = approve_all(cluster, cluster.submit("telecom", "RequestJob",
                                              canonical_json(body).decode()))
    job = cluster.wait_for(job["id"], ("COMPLETED", "FAILED", "DISPUTED"), timeout=900)
    assert job["state"] == "COMPLETED", job["failures"]
    value = loads(cluster.delivered("telecom", job["id"], 1, "result"))  # after COMPLETED
    assert float(value["value"]) == pytest.approx(big_sum + telecom_sum, rel=1e-9)

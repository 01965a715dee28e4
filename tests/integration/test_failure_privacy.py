"""Property: whatever a member's files hold, and wherever they lie, a failing job publishes none
of it. Random strings are planted in CSV cells, in file and directory names, and as numbers the
protocol cannot take; each job fails through the real nodes; then every ledger write (blocks,
world state, key history, chaincode events) is searched for every planted string.

A seeded random generator (ALLIANCE_PRIVACY_SEED to replay another) chooses the strings and the
scenarios. The planted strings are kept in the reporting node's local failure log — which shows
the test looks where a leak would be.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from node_cluster import approve_all, request, running_alliance, wait_until

from alliance.cli.demo.flow import DemoFlow
from network.devnet.server import ledger_path
from node import failure_log
from node.paths import node_dir, node_store_path
from node.sources import open_source
from node.store import LocalDataset, NodeStore

NODE_ARGS = ["--connect-timeout", "10", "--step-timeout", "10"]
EXAMPLES = 9
SEED = int(os.environ.get("ALLIANCE_PRIVACY_SEED", "20261201"))
CORE_LETTERS = "ghijklmnopqrstuvwxyz"  # never in a hex digest, tx id or fingerprint
EXTRA = "éß漢字ñ€ -_.'!~😀"


@pytest.fixture(scope="module")
def alliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFlow]:
    with running_alliance(tmp_path_factory.mktemp("privacy") / "net", NODE_ARGS) as flow:
        yield flow


def planted_text(rng: random.Random) -> tuple[str, str]:
    """(core, full): the full string is planted; its ASCII core is what the search looks for
    (so an escaped or truncated copy is still found)."""
    core = "zq" + "".join(rng.choice(CORE_LETTERS) for _ in range(10))
    tail = "".join(rng.choice(EXTRA) for _ in range(rng.randint(0, 6)))
    return core, core + tail


def planted_number(rng: random.Random) -> tuple[str, str]:
    digits = "9" + "".join(rng.choice("0123456789") for _ in range(23))
    return digits, digits + "." + "".join(rng.choice("0123456789") for _ in range(2))


def register(flow: DemoFlow, org: str, name: str, path: Path) -> None:
    fp = open_source(str(path)).fingerprint()
    dataset = flow.submit(org, "RegisterDataset", json.dumps({
        "name": name, "schema": fp.schema, "row_count": fp.row_count,
        "fingerprint": fp.fingerprint,
    }))
    NodeStore(node_store_path(flow.net_dir, org)).put_dataset(LocalDataset(
        name=name, location=str(path), columns_json=json.dumps(fp.schema),
        row_count=fp.row_count, fingerprint=fp.fingerprint, merkle_root=fp.merkle_root,
        ledger_version=dataset["version"], ledger_tx=dataset["updated_tx"],
    ))


def rows(rng: random.Random, count: int = 6) -> list[list[str]]:
    return [[f"C{index:05d}", f"{rng.randint(1, 999)}.{rng.randint(0, 99):02d}"]
            for index in range(count)]


def write_csv(path: Path, data: list[list[str]]) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "amount"])
        writer.writerows(data)


def scenario_cell(rng: random.Random, flow: DemoFlow, base: Path, name: str) -> str:
    """A text planted in a numeric cell after registration."""
    core, text = planted_text(rng)
    data = rows(rng)
    path = base / f"{name}.csv"
    write_csv(path, data)
    register(flow, "bank", name, path)
    data[rng.randrange(len(data))][1] = text
    write_csv(path, data)
    return core


def scenario_path(rng: random.Random, flow: DemoFlow, base: Path, name: str) -> str:
    """The file lies under a planted directory and file name, and is gone when the job runs."""
    core, text = planted_text(rng)
    path = base / text / f"{text}-{name}.csv"
    write_csv(path, rows(rng))
    register(flow, "bank", name, path)
    shutil.rmtree(path.parent)
    return core


def scenario_number(rng: random.Random, flow: DemoFlow, base: Path, name: str) -> str:
    """A registered decimal too large for the protocol's fixed point."""
    core, number = planted_number(rng)
    data = rows(rng)
    data[rng.randrange(len(data))][1] = number
    path = base / f"{name}.csv"
    write_csv(path, data)
    register(flow, "bank", name, path)
    return core


SCENARIOS = {"cell": scenario_cell, "path": scenario_path, "number": scenario_number}


def ledger_bytes(net_dir: Path) -> list[bytes]:
    """Every value the ledger stores: blocks (with each transaction's arguments and events),
    world state, key history and the event index."""
    blobs: list[bytes] = []
    with sqlite3.connect(f"file:{ledger_path(net_dir)}?mode=ro", uri=True) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f"SELECT * FROM {table}"):
                for cell in row:
                    if isinstance(cell, bytes):
                        blobs.append(cell)
                    elif isinstance(cell, str):
                        blobs.append(cell.encode())
    return blobs


def test_no_planted_string_reaches_the_ledger(alliance: DemoFlow, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    kinds = [*SCENARIOS] * (EXAMPLES // len(SCENARIOS))
    rng.shuffle(kinds)
    planted: list[tuple[str, str, dict[str, Any]]] = []
    for index, kind in enumerate(kinds):
        name = f"leak{index}"
        core = SCENARIOS[kind](rng, alliance, tmp_path / f"ex{index}", name)
        job = approve_all(alliance, request(alliance, "telecom",
                                            [f"bank/{name}:amount", alliance._input("telecom")],
                                            "telecom"))
        job = alliance.wait_for(job["id"], ("FAILED", "COMPLETED", "DISPUTED"))
        assert job["state"] == "FAILED", (kind, job["state"])
        assert wait_until(lambda j=job: "bank" in alliance.evaluate(
            "regulator", "GetJob", j["id"])["failures"]), (kind, job["failures"])
        job = alliance.evaluate("regulator", "GetJob", job["id"])
        assert job["failures"]["bank"]["code"] in (
            "input_unreadable", "input_type_mismatch", "fingerprint_mismatch", "gate_refused",
        ), (kind, job["failures"])
        planted.append((kind, core, job))

    everything = ledger_bytes(alliance.net_dir)
    assert len(everything) > 100  # the search sees the whole ledger, not an empty file
    for kind, core, job in planted:
        needle = core.encode()
        hits = [blob[:200] for blob in everything if needle in blob]
        assert not hits, f"{kind}: planted {core!r} is on the ledger: {hits[:2]}"
        # the detail stayed where it belongs: bank's own log (cells and paths), not telecom's
        bank_log = failure_log.read(node_dir(alliance.net_dir, "bank"), job["id"])
        telecom_log = failure_log.read(node_dir(alliance.net_dir, "telecom"), job["id"])
        assert bank_log, f"{kind}: bank logged nothing locally for {job['id']}"
        if kind == "path":  # a cell changed after registration fails on its fingerprint
            assert any(core in entry.detail for entry in bank_log), (kind, bank_log)
        assert not any(core in entry.detail for entry in telecom_log), (kind, telecom_log)

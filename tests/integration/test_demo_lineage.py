"""The lineage of everything `alliance demo` did, read from its ledger by the regulator, equals
the graph drawn by hand from the demo's story: a secure sum over three members' columns (result
to telecom, a receipt from each), a PSI of bank and telecom (intersection to bank, cardinality
to both), a job bank rejected and one nobody approved — each input with the column it used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from alliance.cli import main
from alliance.keystore import PASSPHRASE_ENV


def test_the_demos_lineage_equals_the_graph_drawn_by_hand(tmp_path: Path) -> None:
    net = tmp_path / "net"
    env = {**os.environ, PASSPHRASE_ENV: "demo-lineage"}
    done = subprocess.run([sys.executable, "-m", "alliance.cli.main", "demo", "--dir", str(net),
                           "--json"], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr + done.stdout
    summary = json.loads(done.stdout)
    stats, psi = summary["job"], summary["psi"]["job"]
    rejected, unapproved = summary["rejected_job"], summary["unapproved_job"]
    old = os.environ.get(PASSPHRASE_ENV)
    os.environ[PASSPHRASE_ENV] = "demo-lineage"
    try:
        assert main(["network", "up", "--dir", str(net), "--no-nodes"]) == 0
        try:
            assert main(["--dir", str(net), "--as", "regulator", "audit", "report", "--out",
                         str(tmp_path / "report")]) == 0
        finally:
            main(["network", "down", "--dir", str(net)])
    finally:
        if old is None:
            os.environ.pop(PASSPHRASE_ENV, None)
        else:
            os.environ[PASSPHRASE_ENV] = old
    graph = json.loads((tmp_path / "report" / "lineage.json").read_text())

    customers, subscribers, users = ("dataset:bank/customers@1", "dataset:telecom/subscribers@1",
                                     "dataset:platform/users@1")

    def job(j: str) -> str:
        return f"job:{j}"

    def out(j: str, name: str) -> str:
        return f"output:{j}/1/{name}"

    def rec(j: str, org: str) -> str:
        return f"receipt:{j}/1/{org}"

    expected = {
        (customers, job(stats), "input", "exposure"),
        (subscribers, job(stats), "input", "balance"),
        (users, job(stats), "input", "spend"),
        (job(stats), out(stats, "result"), "output", "result"),
        *((job(stats), rec(stats, org), "receipt", "run 1")
          for org in ("bank", "platform", "telecom")),
        (rec(stats, "telecom"), out(stats, "result"), "attests", ""),
        (customers, job(psi), "input", "customer_id"),
        (subscribers, job(psi), "input", "customer_id"),
        (job(psi), out(psi, "intersection"), "output", "intersection"),
        (job(psi), out(psi, "cardinality"), "output", "cardinality"),
        (job(psi), rec(psi, "bank"), "receipt", "run 1"),
        (job(psi), rec(psi, "telecom"), "receipt", "run 1"),
        (rec(psi, "bank"), out(psi, "intersection"), "attests", ""),
        (rec(psi, "bank"), out(psi, "cardinality"), "attests", ""),
        (rec(psi, "telecom"), out(psi, "cardinality"), "attests", ""),
        (customers, job(rejected), "input", "exposure"),
        (subscribers, job(rejected), "input", "balance"),
        (customers, job(unapproved), "input", "exposure"),
        (users, job(unapproved), "input", "spend"),
    }
    assert {(e["from"], e["to"], e["kind"], e["label"]) for e in graph["edges"]} == expected
    states = {n["id"]: n.get("state") for n in graph["nodes"] if n["kind"] == "job"}
    assert states == {job(stats): "COMPLETED", job(psi): "COMPLETED",
                      job(rejected): "REJECTED", job(unapproved): "REQUESTED"}

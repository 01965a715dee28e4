"""`alliance demo --scenario query` end to end, as a user runs it: a separate process, devnet,
three nodes and the two query servers; every lookup checked against the clear by the demo, the
forbidden ones refused, a lookup's consent proven to the regulator; everything stopped after."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import pytest
from cli_helpers import demo_summary, run

from alliance.cli import main
from alliance.keystore import PASSPHRASE_ENV

STEPS = ["create", "start", "charter", "servers", "service", "feed", "lookups", "refusals",
         "proof"]


def test_the_query_demo_answers_as_the_clear_refuses_and_proves_consent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    net = tmp_path / "net"
    summary = demo_summary(net, "--scenario", "query")
    assert [s["key"] for s in summary["steps"]] == STEPS
    lookups = summary["lookups"]
    assert len(lookups) == 5 and all(row["secure"] == row["clear"] for row in lookups)
    assert lookups[0]["secure"]["distinct_lenders"] == 2  # C00042: at the bank and the telecom
    refused = next(s for s in summary["steps"] if s["key"] == "refusals")
    assert "refused (bad_purpose)" in refused["detail"]
    assert "refused (server_may_not_ask)" in refused["detail"]
    proof = next(s for s in summary["steps"] if s["key"] == "proof")
    assert "hold none of the applicant ids asked, nor a local path" in proof["detail"]
    bundle = json.loads(next((net / "demo-data").glob("proof-lk-*.json")).read_text())
    assert bundle["verified"] and {p["server"] for p in bundle["servers"]} == {"bank", "telecom"}

    from network.devnet.launcher import devnet_status
    from node.launcher import node_status
    from node.query.launcher import query_server_status

    assert not devnet_status(net).running
    assert not any(node_status(net, org)["running"] for org in ("bank", "telecom", "platform"))
    assert not any(query_server_status(net, org)["running"] for org in ("bank", "telecom"))

    # the kept network goes on with the commands the demo names (its passphrase is the one set)
    up, lookup, _, tui = summary["next"]
    assert tui.split()[:2] == ["alliance", "tui"] and "--as platform" in tui
    monkeypatch.setenv(PASSPHRASE_ENV, "demo-test")
    assert main(shlex.split(up)[1:]) == 0
    try:
        deadline = time.monotonic() + 90
        while True:  # the servers form their first table from the kept contributions
            code, out, err = run(capsys, "--json", *shlex.split(lookup)[1:])
            if code == 0 or "no common table yet" not in out + err or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert code == 0, out + err
        assert json.loads(out)["aggregates"] == lookups[0]["secure"]
    finally:
        main(["network", "down", "--dir", str(net)])

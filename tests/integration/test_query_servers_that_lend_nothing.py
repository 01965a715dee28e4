"""Every lender asks when the query servers are run by members that lend nothing: platform and
insurer, voted in as the servers, contribute no loan book; bank and telecom contribute and both
ask, each answer counting the other's loans only. The deployment node/query/README.md ("Who may
ask") names for alliances whose lenders all want to ask. Devnet, real node processes, the
servers started by `network up`."""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polling
import pytest
from cli_helpers import query_network_up

from alliance.cli import main
from alliance.keystore import PASSPHRASE_ENV
from node.query.launcher import query_server_status
from node.query.layout import Layout
from node.query.wiring import make_client

SERVERS = ("platform", "insurer")
LENDERS = ("bank", "telecom")
CAPACITY = 2000
WAIT = 90.0


def cli(net: Path, org: str, *argv: str) -> tuple[int, Any]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--json", "--dir", str(net), "--as", org, *argv])
    text = out.getvalue().strip() or err.getvalue().strip() or "{}"
    return code, json.loads(text)


def epoch_versions(net: Path) -> dict[str, int]:
    """The contribution versions of the servers' common table, as a lender's client sees it."""
    servers = tuple((org, f"127.0.0.1:{query_server_status(net, org)['port']}")
                    for org in SERVERS)
    passphrase = os.environ[PASSPHRASE_ENV].encode()
    try:
        with make_client(net, "bank", servers, None,
                         Layout.for_applicants(CAPACITY, LENDERS), passphrase,
                         timeout=10) as client:
            return client.refresh_epoch()[2]
    except Exception:
        return {}


@pytest.fixture(scope="module")
def net(query_network_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with query_network_up(query_network_dir,
                          tmp_path_factory.mktemp("query-infra") / "net") as target:
        yield target


@pytest.fixture(scope="module")
def served(net: Path) -> Path:
    """platform and insurer named as the servers by vote; a job whose contributors and askers
    are bank and telecom; each lender's events pushed; a table holding both."""
    code, proposal = cli(net, "bank", "member", "propose", "--query-servers", ",".join(SERVERS),
                         "--reason", "two members that lend nothing run the query servers")
    assert code == 0, proposal
    for voter in ("telecom", "platform"):
        assert cli(net, voter, "member", "vote", proposal["id"], "yes")[0] == 0
    assert main(["network", "up", "--dir", str(net)]) == 0
    assert all(query_server_status(net, org)["running"] for org in SERVERS)
    for org in LENDERS:
        book = net.parent / f"{org}-loans.csv"
        book.write_text("applicant_id,amount\nx1,1\nx2,2\n")
        assert cli(net, org, "dataset", "register", "--name", "loans", "--file", str(book))[0] == 0
    code, job = cli(net, "bank", "job", "request", "--protocol", "multilender",
                    "--input", "bank/loans:applicant_id", "--input", "telecom/loans:applicant_id",
                    "--output", "aggregates=bank,telecom",
                    "--param", "server_a=platform", "--param", "server_b=insurer",
                    "--param", "purposes=credit_check", "--param", "daily_quota=10",
                    "--param", "period_seconds=60", "--param", f"capacity={CAPACITY}",
                    "--expires", "1d")
    assert code == 0, job
    assert cli(net, "telecom", "job", "approve", job["job_id"])[0] == 0
    today = time.strftime("%Y-%m-%d", time.gmtime())
    feeds = {"bank": f"loan_opened,A1,{today},b-1,5000\n",
             "telecom": f"loan_opened,A1,{today},t-1,700\napplication,A1,{today},,0\n"}
    for org, rows in feeds.items():
        events = net.parent / f"{org}-events.csv"
        events.write_text("kind,applicant_id,date,loan_id,amount_cents\n" + rows)
        polling.until(f"{org}'s push accepted by both servers (they read the job first)",
                      lambda org=org, events=events: cli(net, org, "query", "events", "--file",
                                                         str(events))[0] == 0, WAIT)
    polling.until("a table holding both lenders' contributions",
                  lambda: set(epoch_versions(net)) == set(LENDERS), WAIT)
    (net.parent / "consent-A1.txt").write_text("I, applicant A1, consent to a credit check.")
    return net


@pytest.mark.parametrize(("asker", "others"), [
    ("bank", {"active_loans": 1, "distinct_lenders": 1, "outstanding_cents": 700,
              "applications_7d": 1, "applications_30d": 1}),
    ("telecom", {"active_loans": 1, "distinct_lenders": 1, "outstanding_cents": 5000,
                 "applications_7d": 0, "applications_30d": 0}),
])
def test_each_lender_asks_and_counts_the_other_lenders_loans_only(
        served: Path, asker: str, others: dict[str, int]) -> None:
    code, answer = cli(served, asker, "query", "lender", "--id", "A1", "--purpose",
                       "credit_check", "--consent", str(served.parent / "consent-A1.txt"))
    assert code == 0, answer
    assert answer["aggregates"] == others and answer["missing"] == []


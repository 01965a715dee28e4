"""The governed multi-lender query on a real Fabric network: the charter vote naming the two
query servers, the standing `multilender` job approved by its contributors, the servers reading
it from the peers (and its revocation through Deliver), a lookup through the CLI, and both
servers' period summaries committed on Fabric and proved by `query audit`. A network of its own,
started by `alliance network up --engine fabric` as a user starts it."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polling
import pytest

from alliance.cli import main
from node.query.errors import QueryRefused
from node.query.launcher import query_server_status
from node.query.layout import Layout
from node.query.wiring import make_client

WAIT = 120.0
QUERY_ENV = {"ALLIANCE_QUERY_EPOCH_SECONDS": "1", "ALLIANCE_QUERY_COMMIT_SECONDS": "1",
             "ALLIANCE_QUERY_PARTIAL_PERIODS": "1"}


def cli(net: Path, org: str, *argv: str) -> tuple[int, Any]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--json", "--dir", str(net), "--as", org, *argv])
    text = out.getvalue().strip() or err.getvalue().strip() or "{}"
    try:
        return code, json.loads(text)
    except ValueError:
        return code, {"raw": out.getvalue() + err.getvalue()}


def until(what: str, check: Callable[[], object], timeout: float = WAIT) -> Any:
    return polling.until(what, check, timeout, interval=0.5)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def net(network_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    mp = pytest.MonkeyPatch()
    for name, value in QUERY_ENV.items():
        mp.setenv(name, value)
    target = tmp_path_factory.mktemp("query-fabric") / "net"
    shutil.copytree(network_dir, target, ignore=shutil.ignore_patterns("run"))
    try:
        assert main(["network", "up", "--dir", str(target), "--engine", "fabric"]) == 0
        yield target
    finally:
        main(["network", "down", "--dir", str(target)])
        mp.undo()


@pytest.fixture(scope="module")
def job(net: Path) -> str:
    """Servers named by vote and started by `network up`, the job approved, events fed."""
    code, vote = cli(net, "bank", "member", "propose", "--query-servers", "bank,telecom",
                     "--reason", "bank and telecom run the query servers")
    assert code == 0, vote
    assert cli(net, "telecom", "member", "vote", vote["id"], "yes")[0] == 0
    assert main(["network", "up", "--dir", str(net)]) == 0
    assert query_server_status(net, "bank")["running"]
    assert query_server_status(net, "telecom")["running"]
    for org in ("bank", "telecom", "platform"):
        path = write(net.parent / f"{org}-loans.csv", "applicant_id,amount\nx1,1\n")
        assert cli(net, org, "dataset", "register", "--name", "loans", "--file", str(path))[0] == 0
    code, requested = cli(
        net, "bank", "job", "request", "--protocol", "multilender",
        "--input", "bank/loans:applicant_id", "--input", "telecom/loans:applicant_id",
        "--input", "platform/loans:applicant_id", "--output", "aggregates=platform",
        "--param", "server_a=bank", "--param", "server_b=telecom",
        "--param", "purposes=credit_check", "--param", "daily_quota=50",
        "--param", "period_seconds=60", "--param", "part_bits=12", "--expires", "7d")
    assert code == 0, requested
    job_id = requested["job_id"]
    for org in ("telecom", "platform"):
        assert cli(net, org, "job", "approve", job_id)[0] == 0
    today = time.strftime("%Y-%m-%d", time.gmtime())
    feeds = {"bank": f"loan_opened,F1,{today},b-1,70000\n",
             "telecom": f"application,F1,{today},,0\n",
             "platform": f"loan_opened,F1,{today},p-1,5000\n"}  # the asker's own: excluded
    for org, rows in feeds.items():
        path = write(net.parent / f"{org}-events.csv",
                     "kind,applicant_id,date,loan_id,amount_cents\n" + rows)
        until(f"{org}'s contribution to be taken (the servers read the job from the peers)",
              lambda org=org, path=path: cli(net, org, "query", "events", "--file",
                                             str(path))[0] == 0)
    return job_id


@pytest.fixture(scope="module")
def consent(net: Path) -> Path:
    return write(net.parent / "consent-F1.txt", "I, applicant F1, consent to a credit check.")


def _lookup(net: Path, consent: Path) -> Any:
    code, answer = cli(net, "platform", "query", "lender", "--id", "F1", "--purpose",
                       "credit_check", "--consent", str(consent))
    if code != 0 or answer["aggregates"]["applications_7d"] != 1:
        return None  # the epoch holding every member's contribution is not formed yet
    return answer


def test_a_lookup_on_fabric_answers_the_other_members_aggregates(
    net: Path, job: str, consent: Path
) -> None:
    answer = until("a lookup answered from every member's contribution",
                   lambda: _lookup(net, consent))
    assert answer["aggregates"] == {"active_loans": 1, "distinct_lenders": 1,
                                    "outstanding_cents": 70000, "applications_7d": 1,
                                    "applications_30d": 1}


def test_both_servers_commit_their_period_summaries_on_fabric_and_the_audit_proves_it(
    net: Path, job: str, consent: Path
) -> None:
    answer = until("a lookup", lambda: _lookup(net, consent))

    def audited() -> Any:
        code, out = cli(net, "platform", "query", "audit", answer["record"], "--consent",
                        str(consent))
        return out if code == 0 else None

    report = until("both servers to commit the lookup's period on Fabric", audited)
    assert report["verified"]
    assert {p["server"] for p in report["servers"]} == {"bank", "telecom"}
    code, summaries = cli(net, "regulator", "query", "summaries")
    assert code == 0 and {s["server"] for s in summaries} == {"bank", "telecom"}
    assert '"F1"' not in json.dumps(summaries)


def _client(net: Path, passphrase: bytes):  # type: ignore[no-untyped-def]
    ports = [query_server_status(net, org)["port"] for org in ("bank", "telecom")]
    servers = (("bank", f"127.0.0.1:{ports[0]}"), ("telecom", f"127.0.0.1:{ports[1]}"))
    return make_client(net, "platform", servers, None,
                       Layout.of(12, ("bank", "telecom", "platform")), passphrase, timeout=30)


def test_a_job_revoked_on_fabric_is_refused_by_the_servers(
    net: Path, job: str, passphrase: bytes
) -> None:
    code, out = cli(net, "bank", "job", "revoke", job, "--reason", "service ended")
    assert code == 0, out
    with _client(net, passphrase) as client:
        until("both servers to read the revocation from the peers' events",
              lambda: all(s["policy"] is None or s["policy"]["job"] is None
                          for s in client.status()))
        with pytest.raises(QueryRefused) as refused:
            client.lookup("F1", "credit_check", "sha256:" + "33" * 32)
    assert refused.value.code == "no_service_job"

"""The governed multi-lender query end to end on a devnet network with real node processes and
the two query servers started by `network up`: servers named by a charter vote, the standing
`multilender` job approved by the contributing members, policy read from the ledger and kept
current from its events, lookups through the CLI, refusals, committed period summaries with an
inclusion proof, a restart that loses no update and a server down. bank and telecom run the
servers and contribute; platform and insurer contribute and ask (a server's member may not)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polling
import pytest
from cli_helpers import query_network_up, run

from alliance.cli import main
from alliance.keystore import PASSPHRASE_ENV
from alliance.wallet import load_user
from node.paths import node_dir
from node.query.consent import document_digest
from node.query.errors import QueryRefused
from node.query.launcher import kill_query_server, query_server_status
from node.query.layout import Layout
from node.query.record import FIELDS
from node.query.salt import SALT_BYTES, member_salt_path
from node.query.service import server_folder
from node.query.wiring import make_client

CAPACITY = 5000
CONTRIBUTORS = ("bank", "telecom", "platform", "insurer")
LAYOUT = Layout.for_applicants(CAPACITY, CONTRIBUTORS)
"""The job's layout: sized for its capacity (3 blocks of 1,024 slots per part, under a DPF domain
of 2^12), one segment per contributor."""
WAIT = 90.0


def cli(capsys: pytest.CaptureFixture[str], net: Path, org: str, *argv: str) -> tuple[int, Any]:
    code, out, err = run(capsys, "--json", "--dir", str(net), "--as", org, *argv)
    try:
        return code, json.loads(out) if out.strip() else json.loads(err or "{}")
    except ValueError:
        return code, {"raw": out + err}


def cli_json(net: Path, org: str, *argv: str) -> tuple[int, Any]:
    """`cli` for module fixtures (no capsys): the command's --json output (its error's when it
    printed none)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--json", "--dir", str(net), "--as", org, *argv])
    try:
        return code, json.loads(out.getvalue() if out.getvalue().strip() else err.getvalue()
                                or "{}")
    except ValueError:
        return code, {"raw": out.getvalue() + err.getvalue()}


def audit_report(net: Path, record: str, consent: Path) -> Any:
    """insurer's `query audit` of `record`: the report, or None until it verifies."""
    code, out = cli_json(net, "insurer", "query", "audit", record, "--consent", str(consent))
    return out if code == 0 else None


def until(what: str, check: Callable[[], object], timeout: float = WAIT) -> Any:
    return polling.until(what, check, timeout)


def servers(net: Path) -> tuple[tuple[str, str], tuple[str, str]]:
    ports = [query_server_status(net, org)["port"] for org in ("bank", "telecom")]
    return (("bank", f"127.0.0.1:{ports[0]}"), ("telecom", f"127.0.0.1:{ports[1]}"))


def client(net: Path, org: str, passphrase: bytes,  # type: ignore[no-untyped-def]
           salt: bytes | None = None):
    """`salt` None: the member's copy of server A's salt (fetched from A the first time)."""
    return make_client(net, org, servers(net), salt, LAYOUT, passphrase, timeout=30)


def policy(net: Path, passphrase: bytes) -> list[dict]:
    with client(net, "bank", passphrase) as c:
        return [s["policy"] for s in c.status()]


def epoch_versions(net: Path, passphrase: bytes) -> dict[str, int]:
    with client(net, "bank", passphrase) as c:
        try:
            return c.refresh_epoch()[2]
        except Exception:
            return {}


@pytest.fixture(scope="module")
def net(query_network_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with query_network_up(query_network_dir,
                          tmp_path_factory.mktemp("query-gov") / "net") as target:
        yield target


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def served(net: Path) -> Path:
    """Servers named by vote, started by `network up`, the job approved, events fed."""
    code, out = cli_json(net, "bank", "member", "propose", "--query-servers", "bank,telecom",
                         "--reason", "bank and telecom run the query servers")
    assert code == 0, out
    for voter in ("telecom", "platform"):  # 3 of the 4 members
        assert cli_json(net, voter, "member", "vote", out["id"], "yes")[0] == 0
    assert main(["network", "up", "--dir", str(net)]) == 0
    assert query_server_status(net, "bank")["running"]
    assert query_server_status(net, "telecom")["running"]
    for org in CONTRIBUTORS:
        path = write(net.parent / f"{org}-loans.csv", "applicant_id,amount\nx1,1\nx2,2\n")
        assert cli_json(net, org, "dataset", "register", "--name", "loans", "--file",
                        str(path))[0] == 0
    return net


def request_job(net: Path, quotas: str = "platform=3", *params: str) -> str:
    code, out = cli_json(
        net, "bank", "job", "request", "--protocol", "multilender",
        "--input", "bank/loans:applicant_id", "--input", "telecom/loans:applicant_id",
        "--input", "platform/loans:applicant_id", "--input", "insurer/loans:applicant_id",
        "--output", "aggregates=platform,insurer",
        "--param", "server_a=bank", "--param", "server_b=telecom",
        "--param", "purposes=credit_check,limit_review", "--param", "daily_quota=100",
        "--param", f"quotas={quotas}", "--param", "period_seconds=60",
        "--param", f"capacity={CAPACITY}", *params, "--expires", "7d")
    assert code == 0, out
    return str(out["job_id"])


@pytest.fixture(scope="module")
def job(served: Path) -> str:
    passphrase = os.environ[PASSPHRASE_ENV].encode()
    job_id = request_job(served)
    for org in ("telecom", "platform", "insurer"):
        assert main(["--dir", str(served), "--as", org, "job", "approve", job_id]) == 0
    until("both servers to read the approved job from the ledger",
          lambda: all(p and p["job"] == job_id for p in policy(served, passphrase)))
    today = time.strftime("%Y-%m-%d", time.gmtime())
    feeds = {
        "bank": f"loan_opened,A3,{today},b-1,900\n",
        "telecom": f"loan_opened,A1,{today},t-1,5000\nloan_opened,A2,{today},t-2,800\n",
        "platform": f"application,A1,{today},,0\napplication,A1,{today},,0\n",
        "insurer": f"loan_opened,A1,{today},i-1,70000\n",  # the asker's own: excluded
    }
    for org, rows in feeds.items():
        path = write(served.parent / f"{org}-events.csv",
                     "kind,applicant_id,date,loan_id,amount_cents\n" + rows)
        assert main(["--dir", str(served), "--as", org, "query", "events", "--file",
                     str(path)]) == 0
    until("an epoch holding every member's contribution",
          lambda: set(epoch_versions(served, passphrase)) == set(CONTRIBUTORS))
    return job_id


@pytest.fixture(scope="module")
def consent(served: Path) -> Path:
    return write(served.parent / "consent-A1.txt", "I, applicant A1, consent to a credit check.")


EXPECTED = {"active_loans": 1, "distinct_lenders": 1, "outstanding_cents": 5000,
            "applications_7d": 2, "applications_30d": 2}


def test_no_service_job_is_refused_by_the_servers(served: Path, passphrase: bytes) -> None:
    with client(served, "insurer", passphrase, b"\x07" * SALT_BYTES) as c:
        until("a common epoch", lambda: c.status()[0]["epochs"] and c.status()[1]["epochs"])
        with pytest.raises(QueryRefused) as refused:
            c.lookup("A1", "credit_check", "sha256:" + "00" * 32)
    assert refused.value.code == "no_service_job"


def test_no_salt_is_handed_out_without_a_service_job(served: Path, passphrase: bytes) -> None:
    with pytest.raises(QueryRefused) as refused:
        client(served, "telecom", passphrase)
    assert refused.value.code == "no_service_job"
    assert not member_salt_path(node_dir(served, "telecom"), "bank").exists()


def test_the_contract_refuses_a_service_job_naming_other_servers(
    served: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = cli(capsys, served, "bank", "job", "request", "--protocol", "multilender",
                    "--input", "platform/loans:applicant_id", "--output", "aggregates=platform",
                    "--param", "server_a=bank", "--param", "server_b=insurer",
                    "--param", "purposes=credit_check", "--param", "daily_quota=5")
    assert code == 1
    assert "charter's query servers" in out["message"]


def test_a_service_job_letting_a_server_ask_is_refused_before_it_is_sent(
    served: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = cli(capsys, served, "platform", "job", "request", "--protocol", "multilender",
                    "--input", "bank/loans:applicant_id", "--input", "platform/loans:applicant_id",
                    "--output", "aggregates=bank,platform",
                    "--param", "server_a=bank", "--param", "server_b=telecom",
                    "--param", "purposes=credit_check", "--param", "daily_quota=5")
    assert code != 0
    assert "bank runs a query server and may not ask" in out["message"], out
    code, jobs = cli(capsys, served, "platform", "job", "list")
    assert code == 0 and not [j for j in jobs if j["requester"] == "platform"], jobs


def test_a_servers_member_asking_is_told_it_may_not(
    served: Path, job: str, consent: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = cli(capsys, served, "bank", "query", "lender", "--id", "A1",
                    "--purpose", "credit_check", "--consent", str(consent))
    assert (code, out["error_type"]) == (1, "server_may_not_ask"), out
    assert "ask from a member that runs no query server" in out["message"]


def test_network_status_shows_the_query_servers(
    served: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--json", "network", "status", "--dir", str(served))
    assert code == 0
    names = {c["name"]: c for c in json.loads(out)["components"]}
    assert names["query server bank (A)"]["state"] == "running"
    assert names["query server telecom (B)"]["state"] == "running"


def test_governed_lookup_through_the_cli_excludes_the_askers_own_loans(
    served: Path, job: str, consent: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, answer = cli(capsys, served, "insurer", "query", "lender", "--id", "A1",
                       "--purpose", "credit_check", "--consent", str(consent))
    assert code == 0, answer
    assert answer["aggregates"] == EXPECTED
    assert answer["record"].startswith("lk-")
    assert answer["missing"] == []  # every other contributor is in the table


def test_job_wait_on_the_service_job_says_it_never_runs(
    served: Path, job: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, error = cli(capsys, served, "bank", "job", "wait", job)
    assert code == 2, error
    assert "never runs" in error["message"] and "alliance query lender" in error["message"]


def test_the_service_job_shows_it_is_in_force_not_waiting_for_a_run(
    served: Path, job: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--dir", str(served), "--as", "bank", "job", "show", job)
    assert code == 0
    assert "in force" in out and "never (a standing service)" in out
    assert "claim a run" not in out


def test_an_unknown_applicant_has_zero_everywhere(
    served: Path, job: str, consent: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, answer = cli(capsys, served, "insurer", "query", "lender", "--id", "nobody-42",
                       "--purpose", "limit_review", "--consent", str(consent))
    assert code == 0, answer
    assert set(answer["aggregates"].values()) == {0}


def test_lookups_over_one_connection_answer_as_single_ones_and_keep_a_record_each(
    served: Path, job: str, consent: Path, passphrase: bytes
) -> None:
    from alliance.app.query import kept_records, lookup_many
    from alliance.app.session import open_session

    kept = len(kept_records(served, "insurer"))
    with open_session(served, "insurer", passphrase=passphrase) as s:
        answers = lookup_many(s, [("A1", consent), ("nobody-42", consent)], "credit_check")
    assert [a.applicant for a in answers] == ["A1", "nobody-42"]
    assert answers[0].aggregates == EXPECTED and set(answers[1].aggregates.values()) == {0}
    assert all(a.seconds > 0 for a in answers) and answers[0].record != answers[1].record
    assert len(kept_records(served, "insurer")) == kept + 2


def test_lookups_with_a_consent_document_missing_send_nothing(
    served: Path, job: str, consent: Path, passphrase: bytes, tmp_path: Path
) -> None:
    from alliance.app.errors import FileMissing
    from alliance.app.query import kept_records, lookup_many
    from alliance.app.session import open_session

    kept = len(kept_records(served, "insurer"))
    with open_session(served, "insurer", passphrase=passphrase) as s, \
            pytest.raises(FileMissing, match="no such consent document"):
        lookup_many(s, [("A1", consent), ("A2", tmp_path / "absent.pdf")], "credit_check")
    assert len(kept_records(served, "insurer")) == kept  # the first was not sent either


def test_servers_log_an_unlinkable_commitment_never_the_consent_hash(
    served: Path, job: str, consent: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(2):
        assert cli(capsys, served, "insurer", "query", "lender", "--id", "A1", "--purpose",
                   "credit_check", "--consent", str(consent))[0] == 0
    plain = document_digest(consent.read_bytes())
    logged = []
    for org in ("bank", "telecom"):
        with sqlite3.connect(server_folder(served, org) / "state.sqlite") as db:
            logged += [r[0] for r in db.execute("SELECT consent FROM queries")]
    assert plain not in logged
    assert len(logged) == len(set(logged))  # no two lookups (nor the two servers) share one


def test_a_purpose_the_job_does_not_allow_is_refused(
    served: Path, job: str, consent: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = cli(capsys, served, "insurer", "query", "lender", "--id", "A1",
                    "--purpose", "marketing", "--consent", str(consent))
    assert code == 1
    assert out["error_type"] == "bad_purpose"


def test_a_refused_lookup_is_kept_as_not_answered_with_the_refusals_code(
    served: Path, job: str, consent: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = cli(capsys, served, "insurer", "query", "lender", "--id", "A1",
                    "--purpose", "advertising", "--consent", str(consent))
    assert (code, out["error_type"]) == (1, "bad_purpose")
    code, kept = cli(capsys, served, "insurer", "query", "records")
    assert code == 0
    refused = [r for r in kept if r["purpose"] == "advertising"]
    assert [(r["answered"], r["failed"]) for r in refused] == [(False, "bad_purpose")]


def test_an_org_that_is_not_a_service_member_is_refused(
    served: Path, job: str, passphrase: bytes
) -> None:
    # a salt of its own choosing: the servers refuse the lookup whatever it asks
    with (client(served, "regulator", passphrase, b"\x07" * SALT_BYTES) as c,
          pytest.raises(QueryRefused) as refused):
        c.lookup("A1", "credit_check", "sha256:" + "11" * 32)
    assert refused.value.code == "not_member"


def test_every_member_holds_server_as_salt_in_its_own_node_folder(
    served: Path, job: str
) -> None:
    held = (server_folder(served, "bank") / "salt.bin").read_bytes()
    assert len(held) == SALT_BYTES
    for org in CONTRIBUTORS:  # each fed events through the CLI
        copy = member_salt_path(node_dir(served, org), "bank")
        assert copy.read_bytes() == held
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert not (server_folder(served, "telecom") / "salt.bin").exists()


def test_an_org_that_is_not_a_service_member_gets_no_salt(
    served: Path, job: str, passphrase: bytes
) -> None:
    with pytest.raises(QueryRefused) as refused:
        client(served, "regulator", passphrase)
    assert refused.value.code == "not_member"
    assert not member_salt_path(node_dir(served, "regulator"), "bank").exists()


def test_server_b_does_not_hand_out_the_salt(
    served: Path, job: str, passphrase: bytes
) -> None:
    a, b = servers(served)
    with make_client(served, "platform", (b, a), b"\x07" * SALT_BYTES, LAYOUT,
                     passphrase, timeout=30) as c, pytest.raises(QueryRefused) as refused:
        c.fetch_salt()
    assert refused.value.code == "not_salt_holder"


def test_a_lookup_without_consent_is_refused_by_the_server(
    served: Path, job: str, passphrase: bytes
) -> None:
    with client(served, "insurer", passphrase) as c, pytest.raises(QueryRefused) as refused:
        c.lookup("A1", "credit_check", "")
    assert refused.value.code == "no_consent"


def test_an_empty_consent_document_is_refused_before_asking(
    served: Path, job: str, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = write(served.parent / "empty.txt", "")
    code, out = cli(capsys, served, "insurer", "query", "lender", "--id", "A1",
                    "--purpose", "credit_check", "--consent", str(empty))
    assert code == 2
    assert "consent" in out["message"]


def test_over_the_daily_quota_is_refused_and_the_count_survives_a_restart(
    served: Path, job: str, consent: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def ask() -> tuple[int, Any]:
        return cli(capsys, served, "platform", "query", "lender", "--id", "A2",
                   "--purpose", "credit_check", "--consent", str(consent))

    for _ in range(3):  # platform's quota is 3 a day on each server
        assert ask()[0] == 0
    code, out = ask()
    assert (code, out["error_type"]) == (1, "over_quota")
    assert kill_query_server(served, "bank") is not None
    assert main(["network", "up", "--dir", str(served)]) == 0
    code, out = until("the restarted server to answer", lambda: (lambda r: r if r[0] != 3
                                                                   else None)(ask()))
    assert (code, out["error_type"]) == (1, "over_quota")


def test_a_restart_loses_no_update(
    served: Path, job: str, consent: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert kill_query_server(served, "telecom") is not None
    assert main(["network", "up", "--dir", str(served)]) == 0
    answer = until("a lookup answered after the restart", lambda: _answer(
        capsys, served, consent))
    assert answer == EXPECTED


def test_a_server_whose_port_was_taken_meanwhile_restarts_on_another(
    served: Path, job: str, consent: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    port = query_server_status(served, "telecom")["port"]
    assert kill_query_server(served, "telecom") is not None
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
    try:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        assert main(["network", "up", "--dir", str(served)]) == 0
        moved = query_server_status(served, "telecom")["port"]
        assert moved != port
        assert until("a lookup answered on the new port", lambda: _answer(
            capsys, served, consent)) == EXPECTED
    finally:
        squatter.close()


def _answer(capsys: pytest.CaptureFixture[str], net: Path, consent: Path) -> dict | None:
    code, out = cli(capsys, net, "insurer", "query", "lender", "--id", "A1", "--purpose",
                    "credit_check", "--consent", str(consent))
    return out["aggregates"] if code == 0 else None


def test_a_server_down_is_a_clear_error_not_an_answer(
    served: Path, job: str, consent: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert kill_query_server(served, "telecom") is not None
    try:
        code, out = cli(capsys, served, "insurer", "query", "lender", "--id", "A1",
                        "--purpose", "credit_check", "--consent", str(consent))
        assert code == 3
        assert "telecom" in out["message"] and "network" in out["message"] + out.get("hint", "")
        assert "aggregates" not in out
    finally:
        assert main(["network", "up", "--dir", str(served)]) == 0
        until("the servers to answer again", lambda: _answer(capsys, served, consent))


def test_a_lookup_failing_after_the_servers_logged_it_keeps_the_nonces_that_open_their_entries(
    served: Path, job: str, consent: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from node.query.client import QueryClient
    from node.query.consent import opens
    from node.query.errors import ServerUnavailable

    def second_rounds_fail(self: object, items: list) -> list:
        return [ServerUnavailable("telecom went away between the rounds") for _ in items]

    def kept() -> list[dict]:
        code, out = cli(capsys, served, "insurer", "query", "records")
        assert code == 0, out
        return list(out)

    before = {r["record"] for r in kept()}
    monkeypatch.setattr(QueryClient, "_second_rounds", second_rounds_fail)
    code, out = cli(capsys, served, "insurer", "query", "lender", "--id", "A1",
                    "--purpose", "credit_check", "--consent", str(consent))
    assert code == 3, out
    monkeypatch.undo()
    unanswered = [r for r in kept() if r["record"] not in before]
    assert [(r["answered"], r["failed"]) for r in unanswered] == [(False, "ServerUnavailable")]
    for part in unanswered[0]["sent"]:  # what each server logged opens with the kept nonce
        with sqlite3.connect(server_folder(served, part["server"]) / "state.sqlite") as db:
            assert db.execute("SELECT COUNT(*) FROM queries WHERE consent = ?",
                              (part["commitment"],)).fetchone()[0] == 1
        assert opens(part["commitment"], bytes.fromhex(part["nonce"]), consent.read_bytes())
    code, out = cli(capsys, served, "insurer", "query", "audit", unanswered[0]["record"],
                    "--consent", str(consent))
    assert (code, out["error_type"]) == (1, "not_answered"), out


@pytest.fixture(scope="module")
def audited(served: Path, job: str, consent: Path) -> tuple[dict, dict]:
    """insurer's lookup of A1 (its answer) and, once both servers committed its period, its
    audit report: the bundle an auditor checks."""
    code, answer = cli_json(served, "insurer", "query", "lender", "--id", "A1",
                            "--purpose", "credit_check", "--consent", str(consent))
    assert code == 0, answer

    return answer, until("both servers to commit the lookup's period",
                         lambda: audit_report(served, answer["record"], consent))


def test_period_summaries_are_committed_and_a_lookup_proves_its_consent(
    served: Path, audited: tuple[dict, dict], consent: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    answer, report = audited
    assert report["verified"] and {p["server"] for p in report["servers"]} == {"bank", "telecom"}
    code, summaries = cli(capsys, served, "regulator", "query", "summaries")
    assert code == 0 and summaries
    text = json.dumps(summaries)
    assert '"A1"' not in text and str(served) not in text
    assert {key for s in summaries for key in s} == {
        "job_id", "server", "period_start", "period_end", "counts", "purposes", "merkle_root",
        "entries", "signature", "signer", "tx_id", "at"}
    assert document_digest(consent.read_bytes()) not in text
    other = write(served.parent / "other-consent.txt", "someone else's consent")
    code, out = cli(capsys, served, "insurer", "query", "audit", answer["record"],
                    "--consent", str(other))
    assert (code, out["error_type"]) == (1, "consent_mismatch")
    # the asker hands the bundle to the auditor, who checks it against the ledger alone
    bundle = write(served.parent / "bundle.json", json.dumps(report))
    code, out = cli(capsys, served, "regulator", "query", "verify", "--bundle", str(bundle),
                    "--consent", str(consent))
    assert code == 0 and out["verified"], out
    code, out = cli(capsys, served, "regulator", "query", "verify", "--bundle", str(bundle),
                    "--consent", str(other))
    assert (code, out["error_type"]) == (1, "consent_mismatch")
    tampered = json.loads(bundle.read_text())
    tampered["purpose"] = "limit_review"
    write(bundle, json.dumps(tampered))
    code, out = cli(capsys, served, "regulator", "query", "verify", "--bundle", str(bundle),
                    "--consent", str(consent))
    assert (code, out["error_type"]) == (1, "proof_failed")


def test_a_bundle_proving_the_lookup_at_one_server_twice_is_refused(
    served: Path, audited: tuple[dict, dict], consent: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    _, report = audited
    once = next(p for p in report["servers"] if p["server"] == "bank")
    bundle = write(served.parent / "bundle-twice.json",
                   json.dumps({**report, "servers": [once, once]}))
    code, out = cli(capsys, served, "regulator", "query", "verify", "--bundle", str(bundle),
                    "--consent", str(consent))
    assert (code, out["error_type"]) == (1, "proof_failed"), out


def test_a_server_whose_log_lost_committed_entries_says_so_at_restart(
    served: Path, job: str, consent: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _answer(capsys, served, consent) is not None  # a lookup of its own to commit

    def telecoms_summaries() -> list[dict] | None:
        code, summaries = cli(capsys, served, "bank", "query", "summaries")
        return [s for s in summaries if s["server"] == "telecom"] if code == 0 else None

    committed = until("telecom to commit a period summary", telecoms_summaries)
    assert kill_query_server(served, "telecom") is not None
    with sqlite3.connect(server_folder(served, "telecom") / "state.sqlite") as db:
        db.execute("DELETE FROM queries WHERE at >= ? AND at < ?",
                   (committed[0]["period_start"], committed[0]["period_end"]))
    assert main(["network", "up", "--dir", str(served)]) == 0
    log = (served / "run" / "query-telecom.log").read_text()
    assert "no longer matches the root committed" in log
    until("the servers to answer again", lambda: _answer(capsys, served, consent))


def test_a_member_reshares_its_book_without_new_events(
    served: Path, job: str, capsys: pytest.CaptureFixture[str], passphrase: bytes
) -> None:
    before = epoch_versions(served, passphrase)["telecom"]
    code, report = cli(capsys, served, "telecom", "query", "events")
    assert code == 0 and report["events"] == 0 and report["applicants"] == 2
    until("an epoch with the new version",
          lambda: epoch_versions(served, passphrase).get("telecom", 0) > before)


def test_the_node_reshares_a_book_cut_on_an_earlier_day_so_the_windows_move(
    served: Path, job: str, consent: Path, passphrase: bytes,
    capsys: pytest.CaptureFixture[str]
) -> None:
    from alliance.app.query import feed_events, member_store
    from alliance.app.session import open_session

    today = int(time.time() // 86400)
    week_ago = time.strftime("%Y-%m-%d", time.gmtime((today - 7) * 86400))
    path = write(served.parent / "platform-old.csv",
                 f"kind,applicant_id,date,loan_id,amount_cents\napplication,W7,{week_ago},,0\n")
    with open_session(served, "platform", passphrase=passphrase) as s:
        sent = feed_events(s, path, today=today - 1)  # cut yesterday: W7 applied 6 days before
    # platform's node sees a book cut on an earlier UTC day and shares it again as of today
    store = member_store(served, "platform")
    until("platform's node to re-share its book", lambda: store.pushed_day() == today)
    assert max(store.versions()) > sent["version"]

    def windows() -> object:
        code, answer = cli(capsys, served, "insurer", "query", "lender", "--id", "W7",
                           "--purpose", "credit_check", "--consent", str(consent))
        assert code == 0, answer
        found = answer["aggregates"]
        return found if found["applications_30d"] == 1 and found["applications_7d"] == 0 else None

    until("a lookup answered from today's windows", windows)


def test_a_job_answering_fewer_fields_is_enforced_by_the_servers(
    served: Path, job: str, consent: Path, passphrase: bytes,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """A newer job answering two fields takes effect on the running servers: the two are
    answered exactly, a client asking the servers for the others in its second round is
    refused; revoking that job brings the first one's fields back."""
    answered = ("active_loans", "applications_7d")
    narrow = request_job(served, "platform=3", "--param", "fields=" + ",".join(answered))
    try:
        for org in ("telecom", "platform", "insurer"):
            assert main(["--dir", str(served), "--as", org, "job", "approve", narrow]) == 0
        until("both servers to read the narrower job",
              lambda: all(p["job"] == narrow for p in policy(served, passphrase)))
        code, answer = cli(capsys, served, "insurer", "query", "lender", "--id", "A1",
                           "--purpose", "credit_check", "--consent", str(consent))
        assert code == 0, answer
        assert answer["aggregates"] == {f: EXPECTED[f] for f in answered}
        with client(served, "insurer", passphrase) as c:  # the low-level client: every field
            c.refresh_epoch()
            first = c.first_round("A1", "credit_check", "sha256:" + "44" * 32)
            assert first.answered == answered
            with pytest.raises(QueryRefused) as refused:
                c.second_round(first, FIELDS)
        assert refused.value.code == "field_not_answered"
    finally:
        assert main(["--dir", str(served), "--as", "bank", "job", "revoke", narrow,
                     "--reason", "back to every field"]) == 0
    until("both servers to read the first job again",
          lambda: all(p["job"] == job for p in policy(served, passphrase)))
    assert _answer(capsys, served, consent) == EXPECTED


def test_lookups_around_a_newer_jobs_approval_are_each_proven_under_the_job_that_admitted_them(
    served: Path, job: str, consent: Path, passphrase: bytes,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """A lookup made after a newer job was requested but before it was approved is the older
    job's (the servers commit it in that job's summaries), the next one the newer job's."""
    newer = request_job(served, "platform=3")

    def lookup() -> str:
        code, answer = cli(capsys, served, "insurer", "query", "lender", "--id", "A1",
                           "--purpose", "credit_check", "--consent", str(consent))
        assert code == 0, answer
        return str(answer["record"])

    try:
        before = lookup()
        for org in ("telecom", "platform", "insurer"):
            assert main(["--dir", str(served), "--as", org, "job", "approve", newer]) == 0
        until("both servers to read the newer job",
              lambda: all(p["job"] == newer for p in policy(served, passphrase)))
        after = lookup()
        for record, admitted_by in ((before, job), (after, newer)):
            report = until(f"both servers to commit {record}'s period",
                           lambda record=record: audit_report(served, record, consent))
            assert {p["job_id"] for p in report["servers"]} == {admitted_by}, report
    finally:
        assert main(["--dir", str(served), "--as", "bank", "job", "revoke", newer,
                     "--reason", "back to the first job"]) == 0
    until("both servers to read the first job again",
          lambda: all(p["job"] == job for p in policy(served, passphrase)))


def test_a_revoked_certificate_is_refused_while_the_server_runs(
    served: Path, job: str, consent: Path, passphrase: bytes,
    capsys: pytest.CaptureFixture[str]
) -> None:
    identity, _ = load_user(served, "platform", "node", passphrase)
    code, out = cli(capsys, served, "platform", "member", "revoke-cert", identity.fingerprint)
    assert code == 0, out
    until("the servers to read the revocation",
          lambda: all(p["revoked"] >= 1 for p in policy(served, passphrase)))
    code, out = cli(capsys, served, "platform", "query", "lender", "--id", "A1",
                    "--purpose", "credit_check", "--consent", str(consent))
    assert (code, out["error_type"]) == (1, "revoked_certificate")


@pytest.fixture(scope="module")
def platform_removed(served: Path, job: str) -> None:
    """platform voted out by 3 of the 4 members, and both servers have read it (the module's
    last tests of platform: it asks nothing after)."""
    def vote(org: str, *argv: str) -> dict:
        code, out = cli_json(served, org, "member", *argv)
        assert code == 0, out
        return dict(out)

    proposal = vote("bank", "propose", "--remove", "platform", "--reason", "left the alliance")
    for voter in ("telecom", "insurer"):
        vote(voter, "vote", proposal["id"], "yes")
    passphrase = os.environ[PASSPHRASE_ENV].encode()
    until("the servers to read the removal",
          lambda: all("platform" in p["removed"] for p in policy(served, passphrase)))


def test_a_member_removed_while_the_server_runs_is_refused(
    served: Path, platform_removed: None, passphrase: bytes
) -> None:
    with client(served, "platform", passphrase) as c, pytest.raises(QueryRefused) as refused:
        c.lookup("A1", "credit_check", "sha256:" + "22" * 32)
    assert refused.value.code == "removed_member"
    with client(served, "platform", passphrase) as c, pytest.raises(QueryRefused) as refused:
        c.fetch_salt()  # its old copy stays where it was; server A hands it no new one
    assert refused.value.code == "removed_member"


def test_a_removed_members_contribution_is_refused_by_the_servers(
    served: Path, platform_removed: None, passphrase: bytes
) -> None:
    import numpy as np

    from node.query.contribution import Contribution

    slots = LAYOUT.segment_slots
    with client(served, "platform", passphrase) as c, pytest.raises(QueryRefused) as refused:
        c.contribute(Contribution(99, np.zeros((slots, 2), dtype=np.uint64), b"\x00" * 16))
    assert refused.value.code == "removed_member"


def test_a_revoked_service_job_is_refused_at_once(
    served: Path, job: str, passphrase: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = cli(capsys, served, "bank", "job", "revoke", job, "--reason", "service ends")
    assert code == 0, out
    until("the servers to read the revocation of the job",
          lambda: all(p["job"] is None for p in policy(served, passphrase)))
    with client(served, "insurer", passphrase) as c, pytest.raises(QueryRefused) as refused:
        c.lookup("A1", "credit_check", "sha256:" + "33" * 32)
    assert refused.value.code == "no_service_job"

"""The README's flow by command line, nodes included: request, approve, the nodes compute, the
recipient holds the output, and an auditor checks that file against the digest on the ledger."""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import private_network, run

from alliance.cli import main


@pytest.fixture(scope="module")
def net(network_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    target = tmp_path_factory.mktemp("cli-jobs") / "net"
    private_network(network_dir, target)
    (target.parent / "balances.csv").write_text("id,balance\nc1,100\nc2,250\nc3,75\n")
    (target.parent / "exposures.csv").write_text("id,exposure\nc1,5\nc3,7\nc9,1\n")
    assert main(["network", "up", "--dir", str(target), "--batch-timeout-ms", "50"]) == 0
    try:
        for org, name, path in (
            ("bank", "balances", "balances.csv"),
            ("telecom", "exposures", "exposures.csv"),
        ):
            assert (
                main(
                    [
                        "--dir",
                        str(target),
                        "--as",
                        org,
                        "dataset",
                        "register",
                        "--name",
                        name,
                        "--file",
                        str(target.parent / path),
                    ]
                )
                == 0
            )
        yield target
    finally:
        main(["network", "down", "--dir", str(target)])


def wait_for_state(
    capsys: pytest.CaptureFixture[str], net: Path, job_id: str, states: tuple[str, ...]
) -> dict:
    deadline = time.monotonic() + 60
    while True:
        code, out, _ = run(
            capsys, "--json", "--dir", str(net), "--as", "regulator", "job", "show", job_id
        )
        assert code == 0
        job = json.loads(out)
        if job["state"] in states or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


@pytest.fixture(scope="module")
def completed_job(net: Path) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert (
            main(
                [
                    "--json",
                    "--dir",
                    str(net),
                    "--as",
                    "telecom",
                    "job",
                    "request",
                    "--protocol",
                    "stats",
                    "--input",
                    "bank/balances:balance",
                    "--input",
                    "telecom/exposures:exposure",
                    "--param",
                    "op=sum",
                    "--output",
                    "result=telecom",
                ]
            )
            == 0
        )
    job_id = json.loads(buffer.getvalue())["job_id"]
    assert main(["--dir", str(net), "--as", "bank", "job", "approve", job_id]) == 0
    return job_id


def test_nodes_complete_an_approved_job(
    net: Path, completed_job: str, capsys: pytest.CaptureFixture[str]
) -> None:
    job = wait_for_state(capsys, net, completed_job, ("COMPLETED", "FAILED", "DISPUTED"))
    assert job["state"] == "COMPLETED", job.get("failures")
    assert set(job["receipts"]["1"]) == {"bank", "telecom"}


def test_only_the_recipient_holds_the_output(
    net: Path, completed_job: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wait_for_state(capsys, net, completed_job, ("COMPLETED",))
    delivered_manifest(capsys, net, "telecom", completed_job)
    code, out, _ = run(capsys, "--json", "--dir", str(net), "--as", "bank", "node", "outputs")
    assert code == 0
    assert [m for m in json.loads(out) if m["job_id"] == completed_job] == []


def delivered_manifest(
    capsys: pytest.CaptureFixture[str], net: Path, org: str, job_id: str
) -> dict:
    """The manifest of `job_id` at `org`'s node, once delivered (a node submits its receipt, then
    moves the output into place, so COMPLETED can be seen a moment before the file)."""
    deadline = time.monotonic() + 60
    while True:
        code, out, _ = run(capsys, "--json", "--dir", str(net), "--as", org, "node", "outputs")
        assert code == 0
        found = [m for m in json.loads(out) if m["job_id"] == job_id]
        if found or time.monotonic() > deadline:
            assert len(found) == 1, found
            return found[0]
        time.sleep(0.1)


def delivered_file(capsys: pytest.CaptureFixture[str], net: Path, job_id: str) -> Path:
    manifest = delivered_manifest(capsys, net, "telecom", job_id)
    return Path(manifest["dir"]) / manifest["outputs"]["result"]["file"]


def audit_verify(
    capsys: pytest.CaptureFixture[str], net: Path, job_id: str, path: Path
) -> tuple[int, str]:
    """`alliance audit verify` as the regulator: (exit code, JSON output)."""
    code, out, _ = run(
        capsys,
        "--json",
        "--dir",
        str(net),
        "--as",
        "regulator",
        "audit",
        "verify",
        job_id,
        "--file",
        str(path),
        "--output",
        "result",
    )
    return code, out


def test_auditor_verifies_the_delivered_file(
    net: Path, completed_job: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wait_for_state(capsys, net, completed_job, ("COMPLETED",))
    path = delivered_file(capsys, net, completed_job)
    assert json.loads(path.read_bytes())["value"] == "438"  # 100+250+75 + 5+7+1
    code, out = audit_verify(capsys, net, completed_job, path)
    assert code == 0
    assert json.loads(out)["matches"] is True


def test_auditor_detects_a_tampered_file(
    net: Path, completed_job: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    wait_for_state(capsys, net, completed_job, ("COMPLETED",))
    forged = tmp_path / "forged.json"
    forged.write_bytes(
        delivered_file(capsys, net, completed_job).read_bytes().replace(b"438", b"439")
    )
    code, out = audit_verify(capsys, net, completed_job, forged)
    assert code == 1
    assert json.loads(out)["matches"] is False


def test_a_sql_table_serves_a_job(
    net: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import sqlite3

    db = tmp_path / "platform.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE spend (id TEXT PRIMARY KEY, amount INTEGER NOT NULL)")
        conn.executemany("INSERT INTO spend VALUES (?, ?)", [("c1", 40), ("c2", 2)])
    platform = ("--dir", str(net), "--as", "platform")
    code, _, err = run(
        capsys,
        *platform,
        "dataset",
        "register",
        "--name",
        "spend",
        "--sql",
        f"sqlite:///{db}#spend",
    )
    assert code == 0, err
    code, out, err = run(
        capsys,
        "--json",
        *platform,
        "job",
        "request",
        "--protocol",
        "stats",
        "--input",
        "platform/spend:amount",
        "--input",
        "bank/balances:balance",
        "--param",
        "op=sum",
        "--output",
        "result=platform",
    )
    assert code == 0, err
    job_id = json.loads(out)["job_id"]
    assert run(capsys, "--dir", str(net), "--as", "bank", "job", "approve", job_id)[0] == 0
    job = wait_for_state(capsys, net, job_id, ("COMPLETED", "FAILED", "DISPUTED"))
    assert job["state"] == "COMPLETED", job["failures"]
    manifest = delivered_manifest(capsys, net, "platform", job_id)
    result = Path(manifest["dir"]) / manifest["outputs"]["result"]["file"]
    assert json.loads(result.read_bytes())["value"] == "467"  # 40 + 2 + 100 + 250 + 75


def as_org(net: Path, org: str, *argv: str) -> list[str]:
    return ["--dir", str(net), "--as", org, *argv]


def request_json(capsys: pytest.CaptureFixture[str], net: Path, org: str, *argv: str) -> str:
    code, out, err = run(capsys, "--json", *as_org(net, org, "job", "request", *argv))
    assert code == 0, err
    return json.loads(out)["job_id"]


@pytest.fixture(scope="module")
def psi_job(net: Path) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(as_org(
            net, "telecom", "job", "request", "--protocol", "psi",
            "--input", "bank/balances:id", "--input", "telecom/exposures:id",
            "--output", "intersection=bank", "--output", "cardinality=bank,telecom",
        ))
    assert code == 0
    job_id = buffer.getvalue().strip()
    assert main(as_org(net, "bank", "job", "approve", job_id)) == 0
    return job_id


def test_job_wait_follows_the_job_to_completed(
    net: Path, psi_job: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--json", *as_org(net, "bank", "job", "wait", psi_job,
                                                   "--timeout", "90"))
    assert code == 0, err
    assert json.loads(out)["state"] == "COMPLETED"


def test_job_wait_times_out_with_its_own_exit_code(
    net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = request_json(
        capsys, net, "telecom", "--protocol", "stats", "--param", "op=sum",
        "--input", "bank/balances:balance", "--input", "telecom/exposures:exposure",
        "--output", "result=telecom",
    )  # nobody approves it: it stays REQUESTED
    code, _, err = run(capsys, *as_org(net, "telecom", "job", "wait", job_id, "--timeout", "1"))
    assert code == 6 and "REQUESTED" in err and "--timeout" in err


def test_job_result_prints_a_stats_value(
    net: Path, completed_job: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, *as_org(net, "telecom", "job", "wait", completed_job))[0] == 0
    code, out, err = run(capsys, *as_org(net, "telecom", "job", "result", completed_job[:9]))
    assert code == 0, err
    assert out.strip() == "438"


def test_job_result_writes_the_intersection_as_csv_with_a_header(
    net: Path, psi_job: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(capsys, *as_org(net, "bank", "job", "wait", psi_job))[0] == 0
    target = tmp_path / "common.csv"
    code, out, err = run(capsys, "--json", *as_org(
        net, "bank", "job", "result", psi_job, "--output", "intersection", "--to", str(target)
    ))
    assert code == 0, err
    result = json.loads(out)
    assert (result["path"], result["format"], result["rows"]) == (str(target), "csv", 2)
    assert target.read_text().splitlines() == ["id", "c1", "c3"]


def test_job_result_writes_parquet_on_request(
    net: Path, psi_job: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    assert run(capsys, *as_org(net, "bank", "job", "wait", psi_job))[0] == 0
    target = tmp_path / "common.parquet"
    code, _, err = run(capsys, *as_org(
        net, "bank", "job", "result", psi_job, "--output", "intersection",
        "--format", "parquet", "--to", str(target),
    ))
    assert code == 0, err
    assert pq.read_table(target).to_pydict() == {"id": ["c1", "c3"]}


def test_node_outputs_shows_values_and_whole_paths_in_a_pipe(
    net: Path, psi_job: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, *as_org(net, "telecom", "job", "wait", psi_job))[0] == 0
    code, out, _ = run(capsys, *as_org(net, "telecom", "node", "outputs"))
    assert code == 0
    row = next(line for line in out.splitlines() if psi_job in line)
    assert "cardinality" in row and "│ 2 " in row
    manifest = delivered_manifest(capsys, net, "telecom", psi_job)
    assert str(Path(manifest["dir"]) / "cardinality.json") in out


def test_tables_keep_whole_ids_at_80_columns(
    net: Path, completed_job: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, *as_org(net, "regulator", "job", "list"))
    assert code == 0
    assert completed_job in out and "…" not in out


def test_the_requester_is_told_its_inputs_were_approved_by_its_request(
    net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = request_json(
        capsys, net, "telecom", "--protocol", "stats", "--param", "op=sum",
        "--input", "bank/balances:balance", "--input", "telecom/exposures:exposure",
        "--output", "result=telecom",
    )
    code, _, err = run(capsys, *as_org(net, "telecom", "job", "approve", job_id))
    assert code == 1
    assert "approved by your request" in err and "telecom/exposures:exposure" in err
    assert "waiting for bank" in err


def test_a_semicolon_file_with_a_declared_type_serves_a_job(
    net: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "spend.csv"
    data.write_text("id;amount\nc1;40\nc2;2\n")
    code, out, err = run(capsys, "--json", *as_org(
        net, "platform", "dataset", "register", "--name", "spend-typed", "--file", str(data),
        "--type", "amount=decimal",
    ))
    assert code == 0, err
    registered = json.loads(out)
    assert {"name": "amount", "type": "decimal"} in registered["schema"]
    assert "not copied" in registered["note"]
    job_id = request_json(
        capsys, net, "platform", "--protocol", "stats", "--param", "op=sum",
        "--input", "platform/spend-typed:amount", "--input", "bank/balances:balance",
        "--output", "result=platform",
    )
    assert run(capsys, *as_org(net, "bank", "job", "approve", job_id))[0] == 0
    code, _, err = run(capsys, *as_org(net, "platform", "job", "wait", job_id[:10]))
    assert code == 0, err
    assert run(capsys, *as_org(net, "platform", "job", "result", job_id))[1].strip() == "467"


def test_a_missing_file_exits_4_in_every_command(
    net: Path, completed_job: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = str(tmp_path / "missing.csv")
    register = run(capsys, *as_org(net, "bank", "dataset", "register", "--name", "x",
                                   "--file", missing))
    verify = run(capsys, *as_org(net, "regulator", "audit", "verify", completed_job,
                                 "--output", "result", "--file", missing))
    assert register[0] == verify[0] == 4
    assert "missing.csv" in register[2] and "missing.csv" in verify[2]


def test_job_why_shows_the_ledger_code_and_the_nodes_local_detail(
    net: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "later.csv"
    data.write_text("id,amount\nc1,40\nc2,2\n")
    assert run(capsys, *as_org(net, "platform", "dataset", "register", "--name", "later",
                               "--file", str(data)))[0] == 0
    job_id = request_json(
        capsys, net, "platform", "--protocol", "stats", "--param", "op=sum",
        "--input", "platform/later:amount", "--input", "bank/balances:balance",
        "--output", "result=platform",
    )
    data.write_text("id,amount\nc1,41\nc2,2\n")  # changed after registering: the node refuses
    assert run(capsys, *as_org(net, "bank", "job", "approve", job_id))[0] == 0
    code, _, err = run(capsys, *as_org(net, "platform", "job", "wait", job_id))
    assert code == 5 and "FAILED" in err
    code, out, err = run(capsys, "--json", *as_org(net, "platform", "job", "why", job_id))
    assert code == 0, err
    why = json.loads(out)
    assert why["ledger"]["platform"]["code"]
    assert str(data) not in json.dumps(why["ledger"])
    assert why["local"] and "the file changed" in why["local"][0]["detail"]
    code, _, err = run(capsys, *as_org(net, "regulator", "job", "why", job_id))
    assert code == 2 and "not a participant" in err

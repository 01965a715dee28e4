"""The `alliance` command line against devnet as a real process: the governed flow of issue 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import private_network, run

from alliance.cli import main


@pytest.fixture(scope="module")
def net(network_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    target = tmp_path_factory.mktemp("cli") / "net"
    private_network(network_dir, target)
    data = target.parent
    (data / "customers.csv").write_text("id,balance\nc1,100\nc2,250\nc3,75\n")
    (data / "subscribers.csv").write_text("phone,exposure\nc1,5\nc3,7\nc9,1\n")
    assert (
        main(["network", "up", "--dir", str(target), "--no-nodes", "--batch-timeout-ms", "50"]) == 0
    )
    yield target
    main(["network", "down", "--dir", str(target)])


def as_org(net: Path, org: str, *argv: str) -> list[str]:
    return ["--dir", str(net), "--as", org, *argv]


@pytest.fixture(scope="module")
def datasets(net: Path) -> None:
    data = net.parent
    assert (
        main(
            as_org(
                net,
                "bank",
                "dataset",
                "register",
                "--name",
                "customers",
                "--file",
                str(data / "customers.csv"),
                "--tag",
                "retail",
            )
        )
        == 0
    )
    assert (
        main(
            as_org(
                net,
                "telecom",
                "dataset",
                "register",
                "--name",
                "subscribers",
                "--file",
                str(data / "subscribers.csv"),
            )
        )
        == 0
    )


def request(capsys: pytest.CaptureFixture[str], net: Path) -> str:
    capsys.readouterr()
    code, out, _ = run(
        capsys,
        "--json",
        *as_org(
            net,
            "telecom",
            "job",
            "request",
            "--protocol",
            "stats",
            "--input",
            "bank/customers:balance",
            "--input",
            "telecom/subscribers:exposure",
            "--param",
            "op=sum",
            "--output",
            "result=telecom",
            "--expires",
            "1h",
        ),
    )
    assert code == 0
    return json.loads(out)["job_id"]


def show(
    capsys: pytest.CaptureFixture[str], net: Path, job_id: str, org: str = "regulator"
) -> dict:
    code, out, _ = run(capsys, "--json", *as_org(net, org, "job", "show", job_id))
    assert code == 0
    return json.loads(out)


def test_status_reports_devnet_running(net: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--json", "network", "status", "--dir", str(net))
    assert code == 0
    processes = json.loads(out)["processes"]
    assert processes[0]["name"] == "devnet" and processes[0]["state"] == "running"


def test_charter_is_on_the_ledger_after_up(net: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--json", *as_org(net, "regulator", "member", "list"))
    assert code == 0
    members = {m["org"]: m for m in json.loads(out)}
    assert set(members) == {"bank", "telecom", "platform", "regulator"}
    assert members["regulator"]["roles"] == ["auditor"]


def test_registered_dataset_carries_local_fingerprint(
    net: Path, datasets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from alliance.fingerprint import fingerprint_file

    code, out, _ = run(
        capsys, "--json", *as_org(net, "platform", "dataset", "show", "bank/customers")
    )
    assert code == 0
    dataset = json.loads(out)
    local = fingerprint_file(net.parent / "customers.csv")
    assert dataset["fingerprint"] == local.fingerprint
    assert dataset["row_count"] == 3
    assert dataset["schema"] == [
        {"name": "id", "type": "string"},
        {"name": "balance", "type": "integer"},
    ]


def test_dataset_list_filters_by_tag(
    net: Path, datasets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--json", *as_org(net, "bank", "dataset", "list", "--tag", "retail"))
    assert code == 0
    assert [d["id"] for d in json.loads(out)] == ["bank/customers"]


def test_owner_approval_moves_job_to_approved(
    net: Path, datasets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = request(capsys, net)
    assert show(capsys, net, job_id)["state"] == "REQUESTED"
    code, _, _ = run(capsys, *as_org(net, "bank", "job", "approve", job_id))
    assert code == 0
    job = show(capsys, net, job_id)
    assert job["state"] == "APPROVED"
    assert set(job["approvals"]) == {"bank", "telecom"}


def test_non_owner_approval_is_refused_with_the_contract_reason(
    net: Path, datasets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = request(capsys, net)
    code, _, err = run(capsys, *as_org(net, "platform", "job", "approve", job_id))
    assert code == 1
    assert "NotAuthorized" in err and "platform" in err
    assert show(capsys, net, job_id)["state"] == "REQUESTED"


def test_rejected_job_is_final(
    net: Path, datasets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = request(capsys, net)
    assert main(as_org(net, "bank", "job", "reject", job_id, "--reason", "not for marketing")) == 0
    code, _, err = run(capsys, *as_org(net, "bank", "job", "approve", job_id))
    assert code == 1 and "REJECTED" in err
    assert show(capsys, net, job_id)["rejection"]["reason"] == "not for marketing"


def test_auditor_cannot_request_jobs(
    net: Path, datasets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys,
        *as_org(
            net,
            "regulator",
            "job",
            "request",
            "--protocol",
            "stats",
            "--param",
            "op=sum",
            "--input",
            "bank/customers:balance",
            "--output",
            "result=regulator",
        ),
    )
    assert code == 1
    assert "NotAuthorized" in err


def test_job_list_by_state(net: Path, datasets: None, capsys: pytest.CaptureFixture[str]) -> None:
    job_id = request(capsys, net)
    code, out, _ = run(
        capsys, "--json", *as_org(net, "bank", "job", "list", "--state", "REQUESTED")
    )
    assert code == 0
    jobs = json.loads(out)
    assert job_id in [j["id"] for j in jobs]
    assert all(j["state"] == "REQUESTED" for j in jobs)


def test_job_history_lists_each_transaction(
    net: Path, datasets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = request(capsys, net)
    assert run(capsys, *as_org(net, "bank", "job", "approve", job_id))[0] == 0
    code, out, _ = run(capsys, "--json", *as_org(net, "regulator", "job", "history", job_id))
    assert code == 0
    states = [h["value"]["state"] for h in json.loads(out)]
    assert states == ["APPROVED", "REQUESTED"]


def test_membership_vote_admits_new_member(net: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["network", "add-org", "--dir", str(net), "fintech"]) == 0
    capsys.readouterr()
    code, out, _ = run(
        capsys,
        "--json",
        *as_org(
            net, "bank", "member", "propose", "--join", "fintech", "--reason", "payments partner"
        ),
    )
    assert code == 0
    proposal = json.loads(out)
    assert proposal["state"] == "PENDING"
    code, out, _ = run(
        capsys, "--json", *as_org(net, "telecom", "member", "vote", proposal["id"], "yes")
    )
    assert code == 0 and json.loads(out)["state"] == "PASSED"
    code, out, _ = run(capsys, "--json", *as_org(net, "fintech", "member", "list"))
    assert code == 0
    assert "fintech" in {m["org"] for m in json.loads(out)}


def test_double_vote_is_refused(net: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["network", "add-org", "--dir", str(net), "insurer"])
    capsys.readouterr()
    code, out, _ = run(
        capsys,
        "--json",
        *as_org(net, "bank", "member", "propose", "--join", "insurer", "--reason", "underwriting"),
    )
    assert code == 0
    proposal_id = json.loads(out)["id"]
    code, _, err = run(capsys, *as_org(net, "bank", "member", "vote", proposal_id, "yes"))
    assert code == 1 and "Conflict" in err


def test_usage_error_exits_2(net: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys,
        *as_org(
            net,
            "telecom",
            "job",
            "request",
            "--protocol",
            "stats",
            "--input",
            "bank/customers:balance",
            "--output",
            "result=telecom",
            "--expires",
            "soon",
        ),
    )
    assert code == 2 and "duration" in err


def test_missing_passphrase_is_a_clear_error(net: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ALLIANCE_PASSPHRASE"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "alliance.cli.main",
            "--dir",
            str(net),
            "--as",
            "bank",
            "member",
            "list",
        ],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert proc.returncode == 4
    assert "ALLIANCE_PASSPHRASE" in proc.stderr


def test_ledger_down_is_a_clear_error(
    network_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "net"
    private_network(network_dir, target)
    code, _, err = run(capsys, *as_org(target, "bank", "member", "list"))
    assert code == 3
    assert "network up" in err


def test_audit_trail_names_signer_and_block_of_each_transaction(
    net: Path, datasets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = request(capsys, net)
    assert run(capsys, *as_org(net, "bank", "job", "approve", job_id))[0] == 0
    code, out, _ = run(capsys, "--json", *as_org(net, "regulator", "audit", "trail", job_id))
    assert code == 0
    trail = json.loads(out)
    assert [t["state"] for t in trail] == ["REQUESTED", "APPROVED"]
    assert [t["signer_msp_id"] for t in trail] == ["TelecomMSP", "BankMSP"]
    assert all(t["validation"] == "VALID" for t in trail)
    assert trail[0]["block"] <= trail[1]["block"]


def test_audit_chain_reports_height(net: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--json", *as_org(net, "regulator", "audit", "chain"))
    assert code == 0
    assert json.loads(out)["height"] >= 2


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("member", "list"), "BankMSP"),
        (("member", "proposals"), "Proposals"),
        (("dataset", "list"), "bank/customers"),
        (("dataset", "history", "bank/customers"), "History of bank/customers"),
        (("job", "list"), "Jobs"),
    ],
)
def test_listings_render_as_tables_for_people(
    net: Path,
    datasets: None,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    expected: str,
) -> None:
    code, out, _ = run(capsys, *as_org(net, "regulator", *argv))
    assert code == 0
    assert expected in out


def test_job_tables_render_for_people(
    net: Path, datasets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = request(capsys, net)
    for argv in (("job", "show", job_id), ("job", "history", job_id), ("audit", "trail", job_id)):
        code, out, _ = run(capsys, *as_org(net, "regulator", *argv))
        assert code == 0 and job_id in out


def test_a_founding_charter_other_than_nets_is_reported(network_dir: Path, tmp_path: Path) -> None:
    from alliance.app.charter import ensure_charter
    from alliance.charter import Charter
    from alliance.errors import CharterError

    target = private_network(network_dir, tmp_path / "net")
    assert main(["network", "up", "--dir", str(target), "--no-nodes"]) == 0
    try:
        path = target / "charter.json"
        original = path.read_bytes()
        local = Charter.from_json(original)
        Charter(**{**local.model_dump(), "membership_threshold_pct": 100}).save(path)
        with pytest.raises(CharterError, match="differs"):
            ensure_charter(target)
        path.write_bytes(original)
        assert ensure_charter(target) is False  # the agreed charter: nothing to do
    finally:
        main(["network", "down", "--dir", str(target)])


def test_human_output_shows_local_times_and_json_keeps_seconds_with_iso(
    net: Path, datasets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = request(capsys, net)
    job = show(capsys, net, job_id[:12])
    assert isinstance(job["expires_at"], int) and job["expires_iso"].endswith("Z")
    code, out, _ = run(capsys, *as_org(net, "regulator", "job", "show", job_id[:12]))
    assert code == 0
    assert str(job["expires_at"]) not in out
    assert "(in 60 min)" in out or "(in 59 min)" in out


def test_a_proposal_is_voted_by_a_unique_prefix_of_its_id(
    net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "--json",
        *as_org(net, "telecom", "member", "propose", "--remove", "platform", "--reason", "test"),
    )
    assert code == 0
    proposal_id = json.loads(out)["id"]
    code, out, err = run(
        capsys, "--json", *as_org(net, "bank", "member", "vote", proposal_id[:12], "no")
    )
    assert code == 0, err
    assert json.loads(out)["votes"]["bank"]["vote"] == "no"

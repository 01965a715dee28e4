"""`alliance audit verify-chain` against devnet as a real process: a governed flow (datasets, a
job approved, a certificate revoked, a later transaction) verifies whole; each tampering — with
devnet's SQLite block store while it runs, or with blocks forged and signed again with NET's real
keys — is named by block, transaction and check."""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from chain_tamper import copies, forge, relink, replace_tx
from cli_helpers import private_network, run
from fabric_protos.common import common_pb2

from alliance.app.session import open_session
from alliance.cli import main
from alliance.msp import MspRegistry
from alliance.wallet import load_user
from chaincode import default_router
from network.chainverify import ChainVerifier, compare_world_state
from network.deliver import BlockReader
from network.devnet.server import ledger_path
from network.protoutil import TxValidationCode, unpack_transaction

TRANSACTIONS_FILTER = common_pb2.BlockMetadataIndex.TRANSACTIONS_FILTER


@pytest.fixture(scope="module")
def net(network_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    target = tmp_path_factory.mktemp("chain") / "net"
    private_network(network_dir, target)
    data = target.parent
    (data / "customers.csv").write_text("id,balance\nc1,100\nc2,250\nc3,75\n")
    (data / "subscribers.csv").write_text("phone,exposure\nc1,5\nc3,7\nc9,1\n")
    (data / "accounts.csv").write_text("id,limit\nc1,10\n")
    assert main(["network", "up", "--dir", str(target), "--no-nodes",
                 "--batch-timeout-ms", "50"]) == 0
    try:
        _flow(target, data)
        yield target
    finally:
        main(["network", "down", "--dir", str(target)])


def _as(net: Path, org: str, *argv: str) -> int:
    return main(["--dir", str(net), "--as", org, *argv])


def _flow(net: Path, data: Path) -> None:
    """Datasets, a job requested and approved, telecom's admin certificate revoked by telecom,
    then one more transaction by bank."""
    assert _as(net, "bank", "dataset", "register", "--name", "customers",
               "--file", str(data / "customers.csv")) == 0
    assert _as(net, "telecom", "dataset", "register", "--name", "subscribers",
               "--file", str(data / "subscribers.csv")) == 0
    assert _as(net, "telecom", "--json", "job", "request", "--protocol", "stats",
               "--input", "bank/customers:balance", "--input", "telecom/subscribers:exposure",
               "--param", "op=sum", "--output", "result=telecom", "--expires", "1h") == 0
    jobs = open_session(net, "bank").evaluate("ListJobs")
    assert _as(net, "bank", "job", "approve", jobs[0]["id"]) == 0
    telecom_admin, _ = load_user(net, "telecom", "admin")
    assert _as(net, "telecom", "member", "revoke-cert", telecom_admin.fingerprint) == 0
    assert _as(net, "bank", "dataset", "register", "--name", "accounts",
               "--file", str(data / "accounts.csv")) == 0


@pytest.fixture(scope="module")
def blocks(net: Path) -> list[common_pb2.Block]:
    """Every block, read through Deliver as the regulator."""
    with open_session(net, "regulator") as s:
        reader = BlockReader(s.connection.gateway, s.connection.profile.channel)
        height = reader.height()
        return list(reader.blocks(0, height - 1, wait=False))


def _verify(net: Path, blocks: list[common_pb2.Block], *, live: bool = False):  # type: ignore[no-untyped-def]
    verifier = ChainVerifier(MspRegistry.from_network(net), default_router, "alliance", "alliance")
    for block in blocks:
        verifier.feed(block)
    if live:
        with open_session(net, "regulator") as s:
            ident = s.connection.gateway.identity
            compare_world_state(
                verifier, s.connection.contract.evaluate_transaction,
                (ident.msp_id, ident.certificate), 1_900_000_000,
            )
    return verifier.report


def _find_tx(blocks: list[common_pb2.Block], function: str, last: bool = False) -> tuple[int, int]:
    found = []
    for block in blocks:
        for index, raw in enumerate(block.data.data):
            try:
                tx = unpack_transaction(common_pb2.Envelope.FromString(raw))
            except ValueError:
                continue
            from network.chainverify import _invocation

            if _invocation(tx.cpp_bytes)[0] == function:
                found.append((block.header.number, index))
    assert found, f"no {function} transaction in the chain"
    return found[-1] if last else found[0]


def _checks(report) -> set[tuple[int, str]]:  # type: ignore[no-untyped-def]
    return {(f.block, f.check) for f in report.findings}


def test_untampered_chain_verifies_through_the_cli(
    net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--json", "--dir", str(net), "--as", "regulator",
                       "audit", "verify-chain")
    report = json.loads(out)
    assert (code, report["findings"]) == (0, [])
    assert report["transactions"] == report["replayed"] == 7  # InitCharter and 6 of the flow
    assert report["signatures_verified"] >= 7 * 3  # creator + a majority of 3 peers each


def test_a_certificate_revoked_later_still_verifies_its_earlier_transactions(
    net: Path, blocks: list[common_pb2.Block]
) -> None:
    number, _ = _find_tx(blocks, "RevokeCertificate")
    earlier, _ = _find_tx(blocks, "RequestJob")  # signed by telecom's admin before revocation
    assert earlier < number
    assert _verify(net, blocks).ok


def test_one_byte_changed_in_the_sqlite_block_store_is_named(
    net: Path, capsys: pytest.CaptureFixture[str], blocks: list[common_pb2.Block]
) -> None:
    number, index = _find_tx(blocks, "ApproveJob")
    db = ledger_path(net)
    with sqlite3.connect(db) as conn:
        (original,) = conn.execute(
            "SELECT block FROM blocks WHERE number = ?", (number,)
        ).fetchone()
        envelope = bytes(blocks[number].data.data[index])
        at = bytes(original).index(envelope) + len(envelope) // 2
        tampered = bytearray(original)
        tampered[at] ^= 0x01
        conn.execute("UPDATE blocks SET block = ? WHERE number = ?", (bytes(tampered), number))
    try:
        code, out, _ = run(capsys, "--json", "--dir", str(net), "--as", "regulator",
                           "audit", "verify-chain")
    finally:
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE blocks SET block = ? WHERE number = ?", (original, number))
    findings = json.loads(out)["findings"]
    assert code == 1
    # devnet checks every block it serves against its own hashes and refuses this one; the
    # verifier names the block, goes on, and finds the ledger's state unsupported by the rest
    assert (findings[0]["block"], findings[0]["check"]) == (number, "block-undelivered")
    assert "data hash does not match" in findings[0]["detail"]
    assert {f["check"] for f in findings[1:]} <= {"world-state"}


def test_a_flipped_byte_served_by_a_ledger_is_named_by_the_data_hash_check(
    net: Path, blocks: list[common_pb2.Block]
) -> None:
    """The same byte flipped in a block as a ledger that does not check itself would serve it."""
    number, index = _find_tx(blocks, "ApproveJob")
    forged = copies(blocks)
    envelope = bytearray(forged[number].data.data[index])
    envelope[len(envelope) // 2] ^= 0x01
    forged[number].data.data[index] = bytes(envelope)
    report = _verify(net, forged)
    assert (report.findings[0].block, report.findings[0].check) == (number, "data-hash")
    tx_checks = {f.check for f in report.findings if f.tx_index == index}
    assert tx_checks and tx_checks <= {"creator-signature", "endorsement-signature",
                                       "endorsement-policy", "validation-code", "malformed"}


def test_a_block_removed_from_the_sqlite_store_is_named(
    net: Path, capsys: pytest.CaptureFixture[str], blocks: list[common_pb2.Block]
) -> None:
    number, _ = _find_tx(blocks, "RegisterDataset")
    db = ledger_path(net)
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT * FROM blocks WHERE number = ?", (number,)).fetchone()
        conn.execute("DELETE FROM blocks WHERE number = ?", (number,))
    try:
        code, out, _ = run(capsys, "--json", "--dir", str(net), "--as", "regulator",
                           "audit", "verify-chain")
    finally:
        with sqlite3.connect(db) as conn:
            marks = ",".join("?" * len(row))
            conn.execute(f"INSERT INTO blocks VALUES ({marks})", row)
    findings = json.loads(out)["findings"]
    assert code == 1
    assert (findings[0]["block"], findings[0]["check"]) == (number, "block-missing")


def test_a_broken_link_is_named(net: Path, blocks: list[common_pb2.Block]) -> None:
    forged = copies(blocks)
    forged[3].header.previous_hash = b"\x00" * 32
    assert _checks(_verify(net, forged)) == {(3, "chain-link"), (4, "chain-link")}


def test_a_changed_validation_code_is_named(net: Path, blocks: list[common_pb2.Block]) -> None:
    number, index = _find_tx(blocks, "ApproveJob")
    forged = copies(blocks)
    codes = bytearray(forged[number].metadata.metadata[TRANSACTIONS_FILTER])
    codes[index] = TxValidationCode.MVCC_READ_CONFLICT
    forged[number].metadata.metadata[TRANSACTIONS_FILTER] = bytes(codes)
    report = _verify(net, forged)
    assert (number, "validation-code") in _checks(report)
    assert report.findings[0].tx_index == index


def test_too_few_endorsements_break_the_policy(
    net: Path, passphrase: bytes, blocks: list[common_pb2.Block]
) -> None:
    number, index = _find_tx(blocks, "ApproveJob")
    forged = copies(blocks)
    envelope = forge(net, passphrase, blocks[number].data.data[index],
                     creator=("bank", "admin"), endorsers=("bank",))
    replace_tx(forged, number, index, envelope)
    report = _verify(net, forged)
    assert [(f.block, f.tx_index, f.check) for f in report.findings][:2] == [
        (number, index, "endorsement-policy"),
        (number, index, "validation-code"),
    ]


def test_a_forged_endorsement_signature_is_named(
    net: Path, passphrase: bytes, blocks: list[common_pb2.Block]
) -> None:
    number, index = _find_tx(blocks, "ApproveJob")
    forged = copies(blocks)
    envelope = forge(net, passphrase, blocks[number].data.data[index],
                     creator=("bank", "admin"), endorsers=("bank", "telecom"))
    tx = common_pb2.Envelope.FromString(envelope)
    # telecom's endorsement now claims platform's peer: its signature no longer verifies
    from chain_tamper import peer_signer
    from fabric_protos.peer import transaction_pb2

    payload = common_pb2.Payload.FromString(tx.payload)
    body = transaction_pb2.Transaction.FromString(payload.data)
    cap = transaction_pb2.ChaincodeActionPayload.FromString(body.actions[0].payload)
    cap.action.endorsements[1].endorser = peer_signer(net, "platform")[0]
    body.actions[0].payload = cap.SerializeToString()
    payload.data = body.SerializeToString()
    _, bank_admin = load_user(net, "bank", "admin", passphrase)
    from network.protoutil import sha256

    raw = payload.SerializeToString()
    envelope = common_pb2.Envelope(payload=raw, signature=bank_admin.sign(sha256(raw)))
    replace_tx(forged, number, index, envelope.SerializeToString())
    checks = [(f.block, f.tx_index, f.check) for f in _verify(net, forged).findings]
    assert checks[0] == (number, index, "endorsement-signature")
    assert (number, index, "endorsement-policy") in checks


def test_a_write_the_contract_would_not_make_fails_the_replay(
    net: Path, passphrase: bytes, blocks: list[common_pb2.Block]
) -> None:
    number, index = _find_tx(blocks, "RegisterDataset", last=True)

    def inflate(rwset) -> None:  # type: ignore[no-untyped-def]
        key = next(k for k, v in rwset.writes.items() if v and b"row_count" in v)
        rwset.writes[key] = rwset.writes[key].replace(b'"row_count":1', b'"row_count":9')

    forged = copies(blocks)
    envelope = forge(net, passphrase, blocks[number].data.data[index],
                     creator=("bank", "admin"), endorsers=("bank", "platform"),
                     mutate_rwset=inflate)
    replace_tx(forged, number, index, envelope)
    report = _verify(net, forged)
    assert [(f.block, f.tx_index, f.check) for f in report.findings] == [
        (number, index, "replay")
    ]
    assert "writes differ" in report.findings[0].detail


def test_a_transaction_signed_after_its_certificate_was_revoked_is_named(
    net: Path, passphrase: bytes, blocks: list[common_pb2.Block]
) -> None:
    revoked_at, _ = _find_tx(blocks, "RevokeCertificate")
    number, index = _find_tx(blocks, "RegisterDataset", last=True)
    assert number > revoked_at
    forged = copies(blocks)
    envelope = forge(net, passphrase, blocks[number].data.data[index],
                     creator=("telecom", "admin"), endorsers=("bank", "telecom"))
    replace_tx(forged, number, index, envelope)
    first = _verify(net, forged).findings[0]
    assert (first.block, first.tx_index, first.check) == (number, index, "creator-certificate")
    assert "revoked on the ledger" in first.detail


def test_a_creator_signature_over_other_bytes_is_named(
    net: Path, passphrase: bytes, blocks: list[common_pb2.Block]
) -> None:
    number, index = _find_tx(blocks, "RequestJob")
    forged = copies(blocks)
    envelope = common_pb2.Envelope.FromString(blocks[number].data.data[index])
    other = common_pb2.Envelope.FromString(blocks[1].data.data[0])
    envelope.signature = other.signature
    replace_tx(forged, number, index, envelope.SerializeToString())
    first = _verify(net, forged).findings[0]
    assert (first.block, first.tx_index, first.check) == (number, index, "creator-signature")


def test_a_ledger_state_the_blocks_do_not_reach_is_named(
    net: Path, blocks: list[common_pb2.Block]
) -> None:
    assert _verify(net, blocks, live=True).ok
    report = _verify(net, blocks[:-1], live=True)  # the last dataset is missing from the replay
    assert {f.check for f in report.findings} == {"world-state"}
    assert any("ListDatasets" in f.detail for f in report.findings)


def test_relinking_alone_changes_nothing(net: Path, blocks: list[common_pb2.Block]) -> None:
    forged = copies(blocks)
    relink(forged, 0)
    assert _verify(net, forged).ok


# --- audit export and the offline verifier ------------------------------------------------------


@pytest.fixture(scope="module")
def bundle(net: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "job.bundle.json"
    jobs = open_session(net, "regulator").evaluate("ListJobs")
    assert main(["--dir", str(net), "--as", "regulator", "audit", "export",
                 "--job", jobs[0]["id"], "--out", str(out)]) == 0
    return out


def _offline(*argv: str) -> subprocess.CompletedProcess[str]:
    """`python -m alliance.verify` in a fresh interpreter, as a regulator would run it."""
    return subprocess.run([sys.executable, "-m", "alliance.verify", *argv],
                          capture_output=True, text=True, timeout=120, check=False)


def _tampered(bundle: Path, tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    data = json.loads(bundle.read_text())
    change(data)
    out = tmp_path / "tampered.json"
    out.write_text(json.dumps(data))
    return out


def test_an_exported_bundle_verifies_offline(bundle: Path) -> None:
    done = _offline(str(bundle), "--json")
    result = json.loads(done.stdout)
    assert (done.returncode, result["failures"]) == (0, [])
    functions = [t["function"] for t in result["transactions"]]
    assert functions[0] == "InitCharter"
    assert {"RegisterDataset", "RequestJob", "ApproveJob", "RevokeCertificate"} <= set(functions)


def test_the_offline_verifier_loads_nothing_of_the_network_node_or_contract() -> None:
    code = (
        "import sys, alliance.verify.__main__\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('network', 'node', 'chaincode', 'fabric_protos', 'grpc', 'pydantic', 'google'))\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == ""


@pytest.mark.parametrize(
    ("change", "check"),
    [
        (lambda b: b["job"].update(state="COMPLETED"), "job:"),
        (lambda b: b["charter"].update(name="another alliance"), "charter:"),
        (lambda b: b["headers"].pop(2), "header-chain:"),
        (lambda b: b["job"]["inputs"][0].update(fingerprint="sha256:" + "0" * 64), "input:"),
        (lambda b: b["msps"].update(BankMSP=b["msps"]["TelecomMSP"]), "creator:"),
        (lambda b: b["transactions"].pop(4), "job: the job record names transaction"),
    ],
    ids=["job-record", "charter", "header-removed", "input-fingerprint", "ca-root", "tx-dropped"],
)
def test_a_tampered_bundle_is_refused_naming_the_check(
    bundle: Path, tmp_path: Path, change, check: str  # type: ignore[no-untyped-def]
) -> None:
    done = _offline(str(_tampered(bundle, tmp_path, change)))
    assert done.returncode == 1
    assert "does NOT verify" in done.stdout
    assert check in done.stdout


def test_one_byte_changed_in_a_bundled_block_is_refused(bundle: Path, tmp_path: Path) -> None:
    def flip(b: dict) -> None:
        number = sorted(b["blocks"], key=int)[-1]
        raw = bytearray(base64.b64decode(b["blocks"][number]))
        raw[len(raw) // 2] ^= 0x01
        b["blocks"][number] = base64.b64encode(bytes(raw)).decode()

    done = _offline(str(_tampered(bundle, tmp_path, flip)))
    assert done.returncode == 1
    assert "transactions do not hash to its data hash" in done.stdout


def test_a_result_file_the_job_did_not_produce_is_refused(bundle: Path, tmp_path: Path) -> None:
    other = tmp_path / "result.csv"
    other.write_text("sum\n42\n")
    done = _offline(str(bundle), "--file", str(other), "--output", "result")
    assert done.returncode == 1
    assert "file: run 0 of the job records no output 'result'" in done.stdout


def test_a_file_that_is_no_bundle_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text("[1, 2]")
    done = _offline(str(junk))
    assert done.returncode == 2
    assert "is not an Alliance audit bundle" in done.stderr


# --- lineage and the regulator's report ----------------------------------------------------------


def test_lineage_of_a_dataset_names_the_job_that_used_it(
    net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--json", "--dir", str(net), "--as", "regulator",
                       "audit", "lineage", "--dataset", "bank/customers")
    graph = json.loads(out)
    job = open_session(net, "regulator").evaluate("ListJobs")[0]["id"]
    assert code == 0
    assert {(e["from"], e["to"], e["kind"]) for e in graph["edges"]} == {
        ("dataset:bank/customers@1", f"job:{job}", "input"),
        ("dataset:telecom/subscribers@1", f"job:{job}", "input"),
    }


def test_lineage_of_an_unknown_dataset_says_what_to_run(
    net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--dir", str(net), "--as", "regulator",
                       "audit", "lineage", "--dataset", "bank/nothing")
    assert code == 2
    assert "alliance dataset list" in err


def test_report_writes_json_markdown_and_html(
    net: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, _ = run(capsys, "--dir", str(net), "--as", "regulator",
                     "audit", "report", "--out", str(tmp_path))
    assert code == 0
    text = (tmp_path / "report.md").read_text()
    assert "under charter version 1" in text
    assert "Approval: bank approved at" in text
    assert "Datasets used by no job" in text and "bank/accounts version 1" in text
    assert json.loads((tmp_path / "lineage.json").read_text())["nodes"]
    assert "<h1>" in (tmp_path / "report.html").read_text()


def test_a_dataset_registered_with_derived_from_is_refused_before_its_job_completes(
    net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = open_session(net, "regulator").evaluate("ListJobs")[0]["id"]
    data = net.parent / "derived.csv"
    data.write_text("sum\n425\n")
    code, _, err = run(capsys, "--dir", str(net), "--as", "bank", "dataset", "register",
                       "--name", "sums", "--file", str(data), "--derived-from", f"{job}:1:result")
    assert code == 1 and "has not completed" in err
    code, _, err = run(capsys, "--dir", str(net), "--as", "bank", "dataset", "register",
                       "--name", "sums", "--file", str(data), "--derived-from", "nonsense")
    assert code == 2 and "JOB:RUN:OUTPUT" in err

"""`alliance keys` against devnet as a real process: list an org's identities, revoke one (the
contract and devnet's MSP refuse it afterwards; the CRL carries the X.509 reason), change the
keystore's passphrase."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import private_network, run
from cryptography import x509

from alliance.cli import main
from alliance.keystore import PASSPHRASE_ENV, key_kdf


@pytest.fixture(scope="module")
def net(network_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    target = tmp_path_factory.mktemp("keys") / "net"
    private_network(network_dir, target)
    assert main(["network", "up", "--dir", str(target), "--no-nodes",
                 "--batch-timeout-ms", "50"]) == 0
    yield target
    main(["network", "down", "--dir", str(target)])


def _as(org: str, net: Path, *argv: str) -> list[str]:
    return ["--json", "--dir", str(net), "--as", org, *argv]


def test_list_names_every_identity_of_the_org(
    net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, *_as("platform", net, "keys", "list"))
    found = json.loads(out)
    assert code == 0 and found["ledger_checked"] is True
    names = {r["identity"]: r for r in found["identities"]}
    assert set(names) == {"admin", "admin/tls", "client", "client/tls", "node", "node/tls",
                          "peer0", "peer0/tls", "ca", "tlsca"}
    assert {r["status"] for r in names.values()} == {"active"}
    assert names["admin"]["role"] == "admin" and names["peer0"]["role"] == "peer"
    cert = x509.load_pem_x509_certificate(Path(names["node"]["certificate"]).read_bytes())
    assert names["node"]["serial"] == format(cert.serial_number, "x")
    assert names["node"]["key"].endswith("users/node/msp/keystore/key.pem")


def test_a_revoked_client_is_refused_by_contract_and_msp_and_listed_as_revoked(
    net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, *_as("telecom", net, "keys", "revoke", "client",
                                    "--reason", "keyCompromise"))
    assert code == 0
    done = json.loads(out)
    crl = x509.load_pem_x509_crl(Path(done["crl"]).read_bytes())
    entry = crl.get_revoked_certificate_by_serial_number(int(done["serial"], 16))
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise)
    code, out, _ = run(capsys, *_as("telecom", net, "keys", "list"))
    status = {r["identity"]: r["status"] for r in json.loads(out)["identities"]}
    assert code == 1 and status["client"] == "revoked (keyCompromise)"
    # the client can no longer act: devnet's MSP refuses its certificate
    code, _, err = run(capsys, "--dir", str(net), "--as", "telecom", "--user", "client",
                       "job", "list")
    assert code != 0 and "revoked" in err


def test_revoked_on_the_ledger_alone_is_refused_by_the_contract(
    net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from alliance.wallet import load_user

    node, _ = load_user(net, "platform", "node")
    assert run(capsys, *_as("platform", net, "member", "revoke-cert", node.fingerprint))[0] == 0
    code, out, _ = run(capsys, *_as("platform", net, "keys", "list"))
    status = {r["identity"]: r["status"] for r in json.loads(out)["identities"]}
    assert status["node"] == "revoked-on-ledger"
    code, _, err = run(capsys, "--dir", str(net), "--as", "platform", "--user", "node",
                       "job", "list")
    assert code == 1 and "certificate revoked" in err


def test_an_unknown_reason_is_a_usage_error(
    net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, *_as("bank", net, "keys", "revoke", "client", "--reason", "bored"))
    assert code == 2 and "keyCompromise" in err


def test_change_passphrase_rewrites_every_key_with_scrypt(
    net: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    old = os.environ[PASSPHRASE_ENV]
    monkeypatch.setenv("ALLIANCE_NEW_PASSPHRASE", "a-new-passphrase")
    code, out, _ = run(capsys, *_as("bank", net, "keys", "change-passphrase"))
    assert code == 0
    paths = [Path(p) for p in json.loads(out)["keys"]]
    assert any(p.name == "ca.key" for p in paths) and len(paths) >= 7
    assert {key_kdf(p) for p in paths} == {"scrypt"}
    code, _, err = run(capsys, "--dir", str(net), "--as", "bank", "job", "list")
    assert code == 4 and "wrong passphrase" in err
    monkeypatch.setenv(PASSPHRASE_ENV, "a-new-passphrase")
    assert run(capsys, "--dir", str(net), "--as", "bank", "job", "list")[0] == 0
    monkeypatch.setenv(PASSPHRASE_ENV, old)


def test_change_passphrase_with_a_wrong_current_one_changes_nothing(
    net: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = net / "orgs" / "platform" / "users" / "admin" / "msp" / "keystore" / "key.pem"
    before = key.read_bytes()
    monkeypatch.setenv(PASSPHRASE_ENV, "not-the-passphrase")
    monkeypatch.setenv("ALLIANCE_NEW_PASSPHRASE", "another-passphrase")
    code, _, err = run(capsys, *_as("platform", net, "keys", "change-passphrase"))
    assert code == 4 and "wrong passphrase" in err
    assert key.read_bytes() == before


def test_rotating_the_admin_records_the_new_certificate_and_keeps_the_old_for_its_grace(
    net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from alliance.identity import Identity
    from alliance.keystore import load_private_key
    from alliance.signing import EcdsaSigner
    from alliance.wallet import devnet_tls
    from network.gateway import connect

    code, out, _ = run(capsys, *_as("platform", net, "keys", "rotate", "admin", "--grace", "1h"))
    assert code == 0
    done = json.loads(out)
    assert done["new_serial"] != done["old_serial"]
    # the ledger names the new certificate, and the record was signed by it
    revoked = {r["fingerprint"]: r for r in _evaluate(net, "ListRevokedCertificates")}
    record = revoked[done["old_fingerprint"]]
    assert record["replaced_by"] == done["new_fingerprint"]
    assert record["reason"] == "superseded" and record["effective_at"] == record["at"] + 3600
    # the new admin acts; the old one still does, within its grace period
    assert run(capsys, *_as("platform", net, "member", "proposals"))[0] == 0
    kept = Path(done["kept"])
    old = Identity(msp_id="PlatformMSP", certificate=kept.read_bytes())
    key_file = kept.parent.parent / "keystore" / f"key.pem.old-{done['old_serial']}"
    key = load_private_key(key_file, os.environ[PASSPHRASE_ENV].encode())
    with connect(f"127.0.0.1:{_port(net)}", identity=old, signer=EcdsaSigner(key),
                 tls_root_certs=devnet_tls(net).root_certs) as gw:
        gw.get_network("alliance").get_contract("alliance").evaluate_transaction("ListMembers")
    status = {r["identity"]: r for r in json.loads(
        run(capsys, *_as("platform", net, "keys", "list"))[1])["identities"]}
    assert status["admin"]["serial"] == done["new_serial"]


def test_rotating_a_client_with_no_grace_refuses_the_old_certificate_at_once(
    net: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, *_as("platform", net, "keys", "rotate", "client", "--grace", "0"))
    assert code == 0
    done = json.loads(out)
    revoked = {r["fingerprint"]: r for r in _evaluate(net, "ListRevokedCertificates")}
    assert "effective_at" not in revoked[done["old_fingerprint"]]  # in force at once
    # the new client certificate acts
    assert run(capsys, "--dir", str(net), "--as", "platform", "--user", "client",
               "job", "list")[0] == 0


def _evaluate(net: Path, function: str) -> list[dict]:
    from alliance.app.session import open_session

    with open_session(net, "regulator") as s:
        return s.evaluate(function)


def _port(net: Path) -> int:
    from alliance.profile import load_profile

    return int(load_profile(net).devnet.port)

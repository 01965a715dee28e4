"""Signing keys in a PKCS#11 token (SoftHSM2): low-S DER signatures made from the token's plain
ECDSA, and an admin whose key lives in the token signs transactions that devnet commits.

SoftHSM2 comes from Debian's `softhsm2`; when it is absent the fixture installs it (as root with
apt-get), and skips with the reason when it cannot."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cli_helpers import private_network, run
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from alliance.cli import main
from alliance.grpc_openssl import token_tls_problem
from alliance.hsm import CONFIG_FILE, Pkcs11Signer, TokenKey, generate_key
from alliance.identity import load_certificate
from alliance.keystore import load_private_key
from alliance.network_init import CertificateAuthority, cert_pem
from alliance.signing import is_low_s


def test_token_signatures_are_low_s_der_and_verify(token: str) -> None:
    ref = TokenKey(token, "alliance", "probe", "ALLIANCE_HSM_PIN")
    public = generate_key(ref)
    signer = Pkcs11Signer(ref)
    try:
        assert signer.public_key.public_numbers() == public.public_numbers()
        for i in range(40):  # about half of raw ECDSA signatures are high-S
            message = f"message {i}".encode()
            signature = signer.sign(hashlib.sha256(message).digest())
            assert is_low_s(signature)
            public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    finally:
        signer.close()


def test_an_admin_key_in_the_token_signs_transactions_devnet_commits(
    token: str, network_dir: Path, tmp_path: Path, passphrase: bytes,
    capsys: pytest.CaptureFixture[str],
) -> None:
    net = private_network(network_dir, tmp_path / "net")
    assert main(["network", "up", "--dir", str(net), "--no-nodes",
                 "--batch-timeout-ms", "50"]) == 0
    try:
        # bank's admin moves into the token: a new key pair made there, a certificate from
        # bank's CA for it, and the keystore's key.pem replaced by the token reference
        org_dir = net / "orgs" / "bank"
        msp = org_dir / "users" / "admin" / "msp"
        ref = TokenKey(token, "alliance", "bank-admin", "ALLIANCE_HSM_PIN")
        public = generate_key(ref)
        ca = CertificateAuthority(load_certificate((org_dir / "ca" / "ca.pem").read_bytes()),
                                  load_private_key(org_dir / "ca" / "ca.key", passphrase))
        cert = ca.issue(public, org="bank", common_name="Admin@bank", ou="admin")
        (msp / "signcerts" / "cert.pem").write_bytes(cert_pem(cert))
        (msp / "keystore" / "key.pem").unlink()
        ref.save(msp / "keystore" / CONFIG_FILE)
        data = tmp_path / "loans.csv"
        data.write_text("id,amount\nl1,5\n")
        code, _, err = run(capsys, "--dir", str(net), "--as", "bank", "dataset", "register",
                           "--name", "loans", "--file", str(data))
        assert code == 0, err
        code, out, _ = run(capsys, "--json", "--dir", str(net), "--as", "regulator",
                           "audit", "verify-chain")
        assert code == 0, out
    finally:
        main(["network", "down", "--dir", str(net)])


def test_keys_rotate_hsm_makes_the_admin_key_inside_the_token_non_extractable(
    token: str, network_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from alliance.hsm import key_attributes

    net = private_network(network_dir, tmp_path / "net")
    assert main(["network", "up", "--dir", str(net), "--no-nodes",
                 "--batch-timeout-ms", "50"]) == 0
    try:
        code, out, err = run(capsys, "--json", "--dir", str(net), "--as", "telecom", "keys",
                             "rotate", "admin", "--hsm", "--module", token, "--token", "alliance",
                             "--grace", "0")
        assert code == 0, err
        done = json.loads(out)
        keystore = net / "orgs" / "telecom" / "users" / "admin" / "msp" / "keystore"
        assert not (keystore / "key.pem").exists()
        ref = TokenKey.load(keystore / CONFIG_FILE)
        assert done["key"] == f"pkcs11:token=alliance;object={ref.key_label}"
        assert key_attributes(ref) == {"sensitive": True, "extractable": False,
                                       "never_extractable": True, "local": True}
        # the token's key signs what the ledger commits: the revocation of the old admin
        # certificate (signed by the new one) and a dataset registration
        data = tmp_path / "towers.csv"
        data.write_text("id,height\nt1,30\n")
        code, _, err = run(capsys, "--dir", str(net), "--as", "telecom", "dataset", "register",
                           "--name", "towers", "--file", str(data))
        assert code == 0, err
        code, out, _ = run(capsys, "--json", "--dir", str(net), "--as", "telecom", "keys", "list")
        rows = {r["identity"]: r for r in json.loads(out)["identities"]}
        assert rows["admin"]["key"].endswith("keystore/pkcs11.json")
        assert rows["admin"]["serial"] == done["new_serial"]
        code, out, _ = run(capsys, "--json", "--dir", str(net), "--as", "regulator",
                           "audit", "verify-chain")
        assert code == 0, out
    finally:
        main(["network", "down", "--dir", str(net)])


@pytest.mark.skipif(token_tls_problem() is None,
                    reason="this grpcio links OpenSSL: node/tls can move into a token "
                           "(tests/integration/test_hsm_node_tls.py)")
def test_node_tls_cannot_move_into_a_token_and_the_message_says_why(
    token: str, network_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    net = private_network(network_dir, tmp_path / "net")
    before = (net / "orgs" / "bank" / "users" / "node" / "tls" / "client.crt").read_bytes()
    code, _, err = run(capsys, "--dir", str(net), "--as", "bank", "keys", "rotate", "node/tls",
                       "--hsm", "--module", token, "--token", "alliance")
    assert code == 2 and "BoringSSL" in err and "keys rotate node --hsm" in err
    assert (net / "orgs" / "bank" / "users" / "node" / "tls" / "client.crt").read_bytes() == before

"""Signing keys in a PKCS#11 token (SoftHSM2): low-S DER signatures made from the token's plain
ECDSA, and an admin whose key lives in the token signs transactions that devnet commits.

SoftHSM2 comes from Debian's `softhsm2`; when it is absent the fixture installs it (as root with
apt-get), and skips with the reason when it cannot."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import private_network, run
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from alliance.cli import main
from alliance.hsm import CONFIG_FILE, Pkcs11Signer, TokenKey, generate_key
from alliance.identity import load_certificate
from alliance.keystore import load_private_key
from alliance.network_init import CertificateAuthority, cert_pem
from alliance.signing import is_low_s

MODULES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")
PIN = "4711-test"


def _module() -> str | None:
    return next((m for m in MODULES if Path(m).is_file()), None)


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh SoftHSM2 token labelled `alliance` (its files under a temporary directory)."""
    pytest.importorskip("pkcs11", reason="python-pkcs11 is not installed (pip install '.[hsm]')")
    if _module() is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "softhsm2"], capture_output=True,
                       timeout=600, check=False)
    module = _module()
    if module is None or shutil.which("softhsm2-util") is None:
        pytest.skip("SoftHSM2 is not installed and could not be installed (apt-get install "
                    "softhsm2 as root)")
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\n")
    previous = {k: os.environ.get(k) for k in ("SOFTHSM2_CONF", "ALLIANCE_HSM_PIN")}
    os.environ["SOFTHSM2_CONF"] = str(conf)
    os.environ["ALLIANCE_HSM_PIN"] = PIN
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "alliance",
                    "--pin", PIN, "--so-pin", "0000-so"], check=True, capture_output=True,
                   timeout=60)
    yield module
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


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


def test_node_tls_cannot_move_into_a_token_and_the_message_says_why(
    token: str, network_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    net = private_network(network_dir, tmp_path / "net")
    before = (net / "orgs" / "bank" / "users" / "node" / "tls" / "client.crt").read_bytes()
    code, _, err = run(capsys, "--dir", str(net), "--as", "bank", "keys", "rotate", "node/tls",
                       "--hsm", "--module", token, "--token", "alliance")
    assert code == 2 and "BoringSSL" in err and "keys rotate node --hsm" in err
    assert (net / "orgs" / "bank" / "users" / "node" / "tls" / "client.crt").read_bytes() == before

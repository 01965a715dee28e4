"""Private keys at rest: encrypted PKCS#8 for people and daemons, plain PKCS#8 for Fabric."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from alliance.errors import KeystoreError, PassphraseError
from alliance.keystore import (
    PASSPHRASE_ENV,
    get_passphrase,
    key_is_encrypted,
    load_private_key,
    write_private_key,
)


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_encrypted_key_round_trips(tmp_path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path = tmp_path / "key.pem"
    write_private_key(path, key, b"secret")
    assert key_is_encrypted(path)
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    loaded = load_private_key(path, b"secret")
    assert loaded.private_numbers() == key.private_numbers()


def test_key_file_is_private(tmp_path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path = tmp_path / "key.pem"
    write_private_key(path, key, b"secret")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_unencrypted_key_is_plain_pkcs8(tmp_path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path = tmp_path / "priv_sk"
    write_private_key(path, key, None)
    assert not key_is_encrypted(path)
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert load_private_key(path, None).private_numbers() == key.private_numbers()


def test_wrong_passphrase_is_a_passphrase_error(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey
) -> None:
    path = tmp_path / "key.pem"
    write_private_key(path, key, b"secret")
    with pytest.raises(PassphraseError, match="wrong passphrase"):
        load_private_key(path, b"not-the-secret")


def test_missing_passphrase_for_encrypted_key(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey
) -> None:
    path = tmp_path / "key.pem"
    write_private_key(path, key, b"secret")
    with pytest.raises(PassphraseError, match="ALLIANCE_PASSPHRASE"):
        load_private_key(path, None)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError, match="no private key"):
        load_private_key(tmp_path / "absent.pem", b"x")


def test_malformed_key_file(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KeystoreError):
        load_private_key(path, None)


def test_empty_passphrase_refused(tmp_path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(PassphraseError):
        write_private_key(tmp_path / "key.pem", key, b"")


def test_passphrase_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "from-env")
    assert get_passphrase() == b"from-env"


def test_no_passphrase_without_terminal_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    with pytest.raises(PassphraseError, match="ALLIANCE_PASSPHRASE"):
        get_passphrase(prompt=False)


def test_keys_are_written_with_scrypt_and_openssl_reads_them(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey
) -> None:
    import shutil
    import subprocess

    from alliance.keystore import key_kdf

    path = tmp_path / "key.pem"
    write_private_key(path, key, b"secret")
    assert key_kdf(path) == "scrypt"
    if shutil.which("openssl") is None:
        pytest.skip("openssl (the oracle) is not installed")
    done = subprocess.run(["openssl", "pkey", "-in", str(path), "-passin", "pass:secret"],
                          capture_output=True, check=True, timeout=60)
    assert load_private_key_from(done.stdout).private_numbers() == key.private_numbers()


def test_an_older_pbkdf2_key_file_stays_readable(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey
) -> None:
    import shutil
    import subprocess

    from cryptography.hazmat.primitives import serialization

    from alliance.keystore import key_kdf

    if shutil.which("openssl") is None:
        pytest.skip("openssl (which writes the older format) is not installed")
    plain = tmp_path / "plain.pem"
    plain.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
    old = tmp_path / "old.pem"
    subprocess.run(["openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA256",
                    "-iter", "100000", "-in", str(plain), "-out", str(old),
                    "-passout", "pass:secret"], check=True, capture_output=True, timeout=60)
    assert key_kdf(old) == "pbkdf2"
    assert load_private_key(old, b"secret").private_numbers() == key.private_numbers()


def load_private_key_from(pem: bytes) -> ec.EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives import serialization

    loaded = serialization.load_pem_private_key(pem, None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    return loaded

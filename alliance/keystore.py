"""Private keys at rest: PKCS#8 PEM files, encrypted with a passphrase unless Fabric loads them.

Admin, client and node-daemon keys are written as `ENCRYPTED PRIVATE KEY` (PKCS#8 PBES2,
RFC 8018): the key-encryption key comes from scrypt (RFC 7914, N = 2^14, r = 8, p = 1: 16 MiB of
memory per guess, which is what makes guessing on GPUs expensive) and encrypts with AES-256-CBC.
OpenSSL and `cryptography` both read these files. Files written before (PBKDF2-HMAC-SHA256, 100 000
rounds, AES-256-CBC) stay readable, and `alliance keys change-passphrase` rewrites them with scrypt.
CBC rather than GCM because PKCS#8 readers (OpenSSL, `cryptography`) take CBC; a wrong passphrase
or a damaged file fails the padding and DER checks. Keys that Fabric's own peer and orderer load
stay unencrypted PKCS#8, as Fabric expects. `cryptography` cannot choose the KDF of PKCS#8 it
writes, hence the small DER writer below.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from alliance.errors import KeystoreError, PassphraseError

PASSPHRASE_ENV = "ALLIANCE_PASSPHRASE"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
"""scrypt's cost: 16 MiB and tens of milliseconds to unlock one key; OpenSSL's own default
(`openssl pkcs8 -scrypt`), and the most its PKCS#8 reader accepts within its 32 MiB limit."""
KDF_NAME = "scrypt (N=2^14, r=8, p=1) + AES-256-CBC, PKCS#8 PBES2"

_OID_PBES2 = "1.2.840.113549.1.5.13"
_OID_PBKDF2 = "1.2.840.113549.1.5.12"
_OID_SCRYPT = "1.3.6.1.4.1.11591.4.11"
_OID_AES256_CBC = "2.16.840.1.101.3.4.1.42"


def get_passphrase(*, prompt: bool = True) -> bytes:
    """The key passphrase: `$ALLIANCE_PASSPHRASE`, else a prompt when a person is at a terminal."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value.encode()
    if prompt and sys.stdin is not None and sys.stdin.isatty():
        entered = getpass.getpass("Passphrase for the alliance keys: ")
        if entered:
            return entered.encode()
    raise PassphraseError(
        "no passphrase for the encrypted private keys: set ALLIANCE_PASSPHRASE "
        "(or run the command from a terminal to be prompted)"
    )


def write_private_key(
    path: Path, key: ec.EllipticCurvePrivateKey, passphrase: bytes | None
) -> None:
    """Write `key` as PKCS#8 PEM with mode 0600; encrypted unless `passphrase` is None."""
    if passphrase is None:
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    else:
        if not passphrase:
            raise PassphraseError("refusing to encrypt a key with an empty passphrase")
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        pem = _pem("ENCRYPTED PRIVATE KEY", _encrypt_pkcs8(der, passphrase))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.chmod(path, 0o600)


def key_is_encrypted(path: Path) -> bool:
    """True when the PEM file at `path` holds an encrypted private key."""
    data = _read(path)
    return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data or b"Proc-Type: 4,ENCRYPTED" in data


def load_private_key(path: Path, passphrase: bytes | None) -> ec.EllipticCurvePrivateKey:
    """Load an EC private key from a PEM file, decrypting it with `passphrase` when encrypted."""
    data = _read(path)
    encrypted = b"ENCRYPTED" in data
    if encrypted and not passphrase:
        raise PassphraseError(
            f"{path} is encrypted and no passphrase was given: set ALLIANCE_PASSPHRASE"
        )
    try:
        key = serialization.load_pem_private_key(data, passphrase if encrypted else None)
    except ValueError as exc:
        if encrypted:
            raise PassphraseError(
                f"wrong passphrase for {path}: check ALLIANCE_PASSPHRASE "
                "(it must be the one given to `alliance network init`)"
            ) from exc
        raise KeystoreError(f"{path} is not a PEM private key: {exc}") from exc
    except (TypeError, serialization.UnsupportedAlgorithm) as exc:
        raise KeystoreError(f"{path} cannot be loaded: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeystoreError(f"{path} holds a {type(key).__name__}, expected an EC P-256 key")
    return key


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM, for handing a decrypted key to gRPC in memory."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise KeystoreError(
            f"no private key at {path}; was the network created with `alliance network init`?"
        ) from exc
    except OSError as exc:
        raise KeystoreError(f"cannot read private key {path}: {exc}") from exc


# --- PKCS#8 PBES2 writer (RFC 8018), just what is needed -------------------------------------


def key_kdf(path: Path) -> str:
    """`scrypt`, `pbkdf2` (an older file), `none` (unencrypted) or `other`."""
    import base64

    data = _read(path)
    if b"ENCRYPTED PRIVATE KEY" not in data:
        return "none"
    body = b"".join(line for line in data.splitlines() if line and not line.startswith(b"-----"))
    der = base64.b64decode(body)
    if _oid(_OID_SCRYPT) in der:
        return "scrypt"
    if _oid(_OID_PBKDF2) in der:
        return "pbkdf2"
    return "other"


def _encrypt_pkcs8(der: bytes, passphrase: bytes) -> bytes:
    salt, iv = os.urandom(16), os.urandom(16)
    kek = Scrypt(salt, 32, SCRYPT_N, SCRYPT_R, SCRYPT_P).derive(passphrase)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(der) + padder.finalize()
    encryptor = Cipher(algorithms.AES(kek), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(plain) + encryptor.finalize()
    params = _seq(
        _octets(salt), _integer(SCRYPT_N), _integer(SCRYPT_R), _integer(SCRYPT_P), _integer(32)
    )
    kdf = _seq(_oid(_OID_SCRYPT), params)
    scheme = _seq(_oid(_OID_AES256_CBC), _octets(iv))
    algorithm = _seq(_oid(_OID_PBES2), _seq(kdf, scheme))
    return _seq(algorithm, _octets(ciphertext))


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + body


def _seq(*items: bytes) -> bytes:
    return _tlv(0x30, b"".join(items))


def _octets(data: bytes) -> bytes:
    return _tlv(0x04, data)


def _integer(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body.extend(reversed(chunk))
    return _tlv(0x06, bytes(body))


def _pem(label: str, der: bytes) -> bytes:
    import base64

    b64 = base64.encodebytes(der).replace(b"\n", b"")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return (
        f"-----BEGIN {label}-----\n".encode()
        + b"\n".join(lines)
        + f"\n-----END {label}-----\n".encode()
    )

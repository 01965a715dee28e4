"""Signing keys in a PKCS#11 token (an HSM, or SoftHSM2 in tests), through `python-pkcs11`.

An identity whose keystore holds `pkcs11.json` instead of `key.pem` signs in the token:

    {"module": "/usr/lib/softhsm/libsofthsm2.so", "token": "alliance",
     "key_label": "bank-admin", "pin_env": "ALLIANCE_HSM_PIN"}

The PIN is never stored: it comes from the environment variable the file names. Tokens such as
SoftHSM 2.6 offer plain `CKM_ECDSA` (sign a given hash) but not `CKM_ECDSA_SHA256`, so the signer
hands the token the SHA-256 digest the caller already computed, takes the raw r||s it returns,
DER-encodes it and normalises it to low-S, as Fabric requires.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from alliance.errors import KeystoreError
from alliance.signing import to_low_s

CONFIG_FILE = "pkcs11.json"
P256_OID_DER = bytes.fromhex("06082a8648ce3d030107")
"""The DER OID of prime256v1, the EC parameters of a P-256 key in PKCS#11."""


def key_location(key: Path) -> Path:
    """`key`, or the PKCS#11 reference beside it (`pkcs11.json`) when the key lives in a token."""
    token_ref = key.with_name(CONFIG_FILE)
    return token_ref if token_ref.is_file() and not key.is_file() else key


@dataclass(frozen=True)
class TokenKey:
    module: str
    token: str
    key_label: str
    pin_env: str

    @classmethod
    def load(cls, path: Path) -> TokenKey:
        try:
            data = json.loads(Path(path).read_text())
            return cls(str(data["module"]), str(data["token"]), str(data["key_label"]),
                       str(data.get("pin_env", "ALLIANCE_HSM_PIN")))
        except (OSError, ValueError, KeyError) as exc:
            raise KeystoreError(
                f"{path} is not a PKCS#11 key reference (module, token, key_label, pin_env): "
                f"{exc}"
            ) from exc

    def save(self, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.__dict__, indent=1, sort_keys=True) + "\n")

    def pin(self) -> str:
        value = os.environ.get(self.pin_env)
        if not value:
            raise KeystoreError(
                f"the key {self.key_label!r} is in the PKCS#11 token {self.token!r}: set "
                f"{self.pin_env} to the token's user PIN"
            )
        return value


def _lib(module: str) -> Any:
    try:
        import pkcs11
    except ImportError as exc:
        raise KeystoreError(
            "a PKCS#11 key needs python-pkcs11: pip install 'alliance[hsm]'"
        ) from exc
    try:
        return pkcs11.lib(module)
    except Exception as exc:
        raise KeystoreError(f"cannot load the PKCS#11 module {module}: {exc}") from exc


def _open(ref: TokenKey) -> Any:
    from pkcs11.exceptions import UserAlreadyLoggedIn

    lib = _lib(ref.module)
    try:
        token = lib.get_token(token_label=ref.token)
        try:
            return token.open(rw=True, user_pin=ref.pin())
        except UserAlreadyLoggedIn:
            # PKCS#11 logs in per application: another session of this process (a signer in
            # use) already did, and every new session shares that login
            return token.open(rw=True)
    except KeystoreError:
        raise
    except Exception as exc:
        raise KeystoreError(
            f"cannot open PKCS#11 token {ref.token!r} of {ref.module}: {type(exc).__name__} {exc}"
        ) from exc


def generate_key(ref: TokenKey) -> ec.EllipticCurvePublicKey:
    """A new P-256 key pair made inside the token; its private key is stored there sensitive and
    non-extractable (the token never hands it out, not even wrapped). Its public key."""
    from pkcs11 import Attribute, KeyType

    with _open(ref) as session:
        params = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: P256_OID_DER}, local=True
        )
        public, _ = params.generate_keypair(
            store=True, label=ref.key_label,
            private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False,
                              Attribute.PRIVATE: True, Attribute.TOKEN: True},
        )
        return _public_key(public)


def key_attributes(ref: TokenKey) -> dict[str, bool]:
    """What the token says of the private key: sensitive, extractable, never extractable,
    generated in the token (`local`)."""
    from pkcs11 import Attribute, KeyType, ObjectClass

    with _open(ref) as session:
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC,
                              label=ref.key_label)
        return {name: bool(key[attr]) for name, attr in (
            ("sensitive", Attribute.SENSITIVE), ("extractable", Attribute.EXTRACTABLE),
            ("never_extractable", Attribute.NEVER_EXTRACTABLE), ("local", Attribute.LOCAL))}


def destroy_key(ref: TokenKey) -> None:
    """Remove the key pair labelled `ref.key_label` from the token (a rotation the ledger
    refused)."""
    from pkcs11 import Attribute, KeyType, ObjectClass

    with _open(ref) as session:
        for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
            for key in session.get_objects({Attribute.CLASS: cls, Attribute.KEY_TYPE: KeyType.EC,
                                            Attribute.LABEL: ref.key_label}):
                key.destroy()


def _public_key(public: Any) -> ec.EllipticCurvePublicKey:
    """The token's EC_POINT (a DER OCTET STRING around the uncompressed point, or the bare point
    from some tokens) as a `cryptography` key."""
    from pkcs11 import Attribute

    point = bytes(public[Attribute.EC_POINT])
    if len(point) == 67 and point[:2] == b"\x04\x41":
        point = point[2:]
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)


class Pkcs11Signer:
    """Signs SHA-256 digests with a private key that stays in the token."""

    def __init__(self, ref: TokenKey) -> None:
        from pkcs11 import KeyType, ObjectClass

        self.ref = ref
        self._session = _open(ref)
        try:
            self._key = self._session.get_key(
                object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC, label=ref.key_label
            )
            public = self._session.get_key(
                object_class=ObjectClass.PUBLIC_KEY, key_type=KeyType.EC, label=ref.key_label
            )
        except Exception as exc:
            self._session.close()
            raise KeystoreError(
                f"no EC key labelled {ref.key_label!r} in token {ref.token!r}: {exc}"
            ) from exc
        self.public_key = _public_key(public)

    def sign(self, digest: bytes) -> bytes:
        from pkcs11 import Mechanism

        if len(digest) != 32:
            raise KeystoreError(f"sign() takes a 32-byte SHA-256 digest, got {len(digest)}")
        raw = self._key.sign(digest, mechanism=Mechanism.ECDSA)  # r || s, 32 bytes each
        r = int.from_bytes(raw[: len(raw) // 2], "big")
        s = int.from_bytes(raw[len(raw) // 2 :], "big")
        return to_low_s(encode_dss_signature(r, s))

    def sign_message(self, message: bytes) -> bytes:
        import hashlib

        return self.sign(hashlib.sha256(message).digest())

    def close(self) -> None:
        self._session.close()

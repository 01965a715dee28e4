"""Signing apart from identity, as Fabric's gateway clients do: `sign(digest) -> signature`.

Signatures are DER ECDSA P-256 over SHA-256 with S normalised to the lower half of the curve
order: Fabric rejects high-S signatures, so do we.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from alliance.errors import SignatureError

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P256_HALF_ORDER = P256_ORDER >> 1


class Signer(Protocol):
    """Anything that signs a SHA-256 digest (a key in memory, an HSM, a remote signer)."""

    def sign(self, digest: bytes) -> bytes: ...


def to_low_s(signature: bytes) -> bytes:
    """Return the low-S form of a DER ECDSA P-256 signature."""
    r, s = decode_dss_signature(signature)
    if s > P256_HALF_ORDER:
        s = P256_ORDER - s
    return encode_dss_signature(r, s)


def is_low_s(signature: bytes) -> bool:
    try:
        _, s = decode_dss_signature(signature)
    except ValueError:
        return False
    return s <= P256_HALF_ORDER


class EcdsaSigner:
    """Signs digests with an in-memory P-256 private key, always producing low-S signatures."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise SignatureError(f"expected a P-256 key, got {private_key.curve.name}")
        self._key = private_key

    def sign(self, digest: bytes) -> bytes:
        if len(digest) != 32:
            raise SignatureError(f"sign() takes a 32-byte SHA-256 digest, got {len(digest)} bytes")
        return to_low_s(self._key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))

    def sign_message(self, message: bytes) -> bytes:
        return self.sign(hashlib.sha256(message).digest())

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()


def verify(public_key: ec.EllipticCurvePublicKey, message: bytes, signature: bytes) -> None:
    """Verify a low-S ECDSA-SHA256 signature over `message`; raise SignatureError otherwise."""
    if not is_low_s(signature):
        raise SignatureError(
            "signature is malformed or uses a high S value (Fabric requires low-S)"
        )
    try:
        public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise SignatureError("signature does not verify against the signer's certificate") from exc

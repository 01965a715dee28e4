"""Signatures are low-S; a high-S twin of a valid signature is refused, as Fabric does."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from alliance.errors import SignatureError
from alliance.signing import P256_HALF_ORDER, P256_ORDER, is_low_s, verify
from alliance.wallet import load_user


def test_every_signature_is_low_s(network_dir: Path, passphrase: bytes) -> None:
    _, signer = load_user(network_dir, "bank", "client", passphrase)
    for i in range(200):
        digest = hashlib.sha256(f"message {i}".encode()).digest()
        _, s = decode_dss_signature(signer.sign(digest))
        assert s <= P256_HALF_ORDER


def test_signature_verifies_against_the_certificate(network_dir: Path, passphrase: bytes) -> None:
    identity, signer = load_user(network_dir, "bank", "admin", passphrase)
    message = b"proposal bytes"
    verify(identity.public_key, message, signer.sign_message(message))


def test_high_s_twin_is_rejected(network_dir: Path, passphrase: bytes) -> None:
    identity, signer = load_user(network_dir, "bank", "admin", passphrase)
    message = b"transaction bytes"
    r, s = decode_dss_signature(signer.sign_message(message))
    high = encode_dss_signature(r, P256_ORDER - s)
    assert not is_low_s(high)
    with pytest.raises(SignatureError, match="high S"):
        verify(identity.public_key, message, high)


def test_signature_of_another_member_is_rejected(network_dir: Path, passphrase: bytes) -> None:
    bank, _ = load_user(network_dir, "bank", "admin", passphrase)
    _, telecom_signer = load_user(network_dir, "telecom", "admin", passphrase)
    message = b"transaction bytes"
    with pytest.raises(SignatureError, match="does not verify"):
        verify(bank.public_key, message, telecom_signer.sign_message(message))

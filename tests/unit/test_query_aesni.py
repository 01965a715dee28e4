"""AES inside compiled tree walks (aesni.py) against `cryptography`, and the walks with it against
the walks without it (one `cryptography` call per level: what hosts without AES-NI run)."""

from __future__ import annotations

import os

import numba
import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from node.query import aesni, dpf, fss

needs_aes = pytest.mark.skipif(not aesni.HARDWARE, reason="this host has no AES-NI")
_ENCRYPT = aesni.encrypt_intrinsic()


@numba.njit
def _encrypt_all(keys: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    out = np.empty_like(blocks)
    for i in range(blocks.shape[0]):
        out[i, 0], out[i, 1] = _ENCRYPT(keys, blocks[i, 0], blocks[i, 1])
    return out


def _ecb(key: bytes, blocks: np.ndarray) -> np.ndarray:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    raw = enc.update(np.ascontiguousarray(blocks).tobytes()) + enc.finalize()
    return np.frombuffer(raw, dtype="<u8").astype(np.uint64).reshape(-1, 2)


def test_round_keys_are_the_fips_197_expansion() -> None:
    """FIPS-197 appendix A.1: key 2b7e1516 28aed2a6 abf71588 09cf4f3c, last round key
    d014f9a8 c9ee2589 e13f0cc8 b6630ca6."""
    keys = aesni.round_keys(bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c"))
    assert keys[20:].astype("<u8").tobytes().hex() == "d014f9a8c9ee2589e13f0cc8b6630ca6"


def test_round_keys_need_16_bytes() -> None:
    with pytest.raises(ValueError, match="16-byte"):
        aesni.round_keys(bytes(15))


@needs_aes
def test_compiled_aes_equals_cryptography() -> None:
    key = os.urandom(16)
    blocks = np.frombuffer(os.urandom(16 * 257), dtype=np.uint64).reshape(-1, 2).copy()
    assert np.array_equal(_encrypt_all(aesni.round_keys(key), blocks), _ecb(key, blocks))


@needs_aes
@pytest.mark.parametrize("domain_bits", [7, 8, 14, 20])
def test_dpf_keys_are_the_same_with_and_without_aes_ni(
        domain_bits: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = os.urandom(32 * 5)
    alphas = [int(a) for a in np.random.default_rng(domain_bits).integers(0, 1 << domain_bits, 5)]
    compiled = dpf.generate_packed(alphas, domain_bits, rng)
    monkeypatch.setattr(aesni, "HARDWARE", False)
    assert dpf.generate_packed(alphas, domain_bits, rng) == compiled


@needs_aes
def test_fss_keys_and_evaluations_are_the_same_with_and_without_aes_ni(
        monkeypatch: pytest.MonkeyPatch) -> None:
    gen = np.random.default_rng(3)
    alphas = gen.integers(0, 1 << 32, 9, dtype=np.uint64)
    betas = gen.integers(0, 1 << 63, (9, 5), dtype=np.uint64)
    points = alphas.copy()
    points[::2] ^= np.uint64(1) << gen.integers(0, 32, 5).astype(np.uint64)  # some miss
    rng = os.urandom(32 * 9)
    compiled = fss.generate(alphas, betas, rng)
    shares = [fss.evaluate(fss.KeyBatch.parse(k, 5), points) for k in compiled]
    monkeypatch.setattr(aesni, "HARDWARE", False)
    assert fss.generate(alphas, betas, rng) == compiled
    for key, share in zip(compiled, shares, strict=True):
        assert np.array_equal(fss.evaluate(fss.KeyBatch.parse(key, 5), points), share)


@needs_aes
@pytest.mark.parametrize("domain_bits", [7, 8, 14, 20])
def test_dpf_full_domain_evaluations_are_the_same_with_and_without_aes_ni(
        domain_bits: int, monkeypatch: pytest.MonkeyPatch) -> None:
    alphas = [int(a) for a in np.random.default_rng(domain_bits).integers(0, 1 << domain_bits, 5)]
    keys = [dpf.KeyBatch.parse(k, domain_bits) for k in dpf.generate_packed(alphas, domain_bits)]
    compiled = [dpf.evaluate_full(k) for k in keys]
    monkeypatch.setattr(aesni, "HARDWARE", False)
    for key, words in zip(keys, compiled, strict=True):
        assert np.array_equal(dpf.evaluate_full(key), words)

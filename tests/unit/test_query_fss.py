"""The FSS point function with a vector payload: the two parties' shares add up (mod 2^64) to beta
at alpha and to zeros everywhere else; one party's key and share carry nothing of alpha or beta;
malformed keys are refused with a reason."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from node.query import fss
from node.query.errors import ProtocolError

TOP = (1 << 32) - 1


def _case(n: int, payload: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random alphas and betas; a third of the payload words within 1000 of 2^64 (carries)."""
    rng = np.random.default_rng(seed)
    alphas = rng.integers(0, 1 << 32, n, dtype=np.uint64)
    betas = rng.integers(0, 1 << 64, (n, payload), dtype=np.uint64, endpoint=False)
    near_top = rng.random((n, payload)) < 1 / 3
    betas[near_top] = np.uint64(2**64 - 1) - rng.integers(0, 1000, near_top.sum(), dtype=np.uint64)
    return alphas, betas


def _batches(alphas: np.ndarray, betas: np.ndarray) -> tuple[fss.KeyBatch, fss.KeyBatch]:
    k0, k1 = fss.generate(alphas, betas)
    payload = betas.shape[1]
    return fss.KeyBatch.parse(k0, payload), fss.KeyBatch.parse(k1, payload)


def _sum(batches: tuple[fss.KeyBatch, fss.KeyBatch], points: np.ndarray) -> np.ndarray:
    """The plaintext the two servers' shares reconstruct (the oracle compares against it)."""
    return fss.evaluate(batches[0], points) + fss.evaluate(batches[1], points)


@pytest.mark.parametrize("payload", [1, 2, 103])
def test_shares_add_up_to_beta_at_alpha(payload: int) -> None:
    alphas, betas = _case(300, payload, payload)
    assert np.array_equal(_sum(_batches(alphas, betas), alphas), betas)


def test_shares_add_up_to_zero_next_to_alpha_in_every_bit() -> None:
    alphas, betas = _case(200, 5, 7)
    batches = _batches(alphas, betas)
    for bit in range(fss.DOMAIN_BITS):
        neighbours = alphas ^ np.uint64(1 << bit)
        assert not _sum(batches, neighbours).any(), f"non-zero with bit {bit} of alpha flipped"


def test_shares_add_up_to_zero_at_random_points() -> None:
    alphas, betas = _case(500, 103, 11)
    points = np.random.default_rng(12).integers(0, 1 << 32, 500, dtype=np.uint64)
    assert not np.any(points == alphas)
    assert not _sum(_batches(alphas, betas), points).any()


def test_every_key_of_a_batch_has_its_own_point() -> None:
    """Keys of one batch at mixed points: half evaluated at their alpha, half elsewhere."""
    alphas, betas = _case(400, 3, 13)
    points = alphas.copy()
    points[::2] ^= np.uint64(1 << 31)
    expected = betas.copy()
    expected[::2] = 0
    assert np.array_equal(_sum(_batches(alphas, betas), points), expected)


@pytest.mark.parametrize("alpha", [0, TOP])
def test_the_ends_of_the_domain_work_as_alpha(alpha: int) -> None:
    points = np.array([alpha, alpha ^ 1, alpha ^ TOP, alpha ^ (1 << 31)], dtype=np.uint64)
    n = len(points)
    betas = np.tile(np.array([[1, 2**64 - 1, 12345]], dtype=np.uint64), (n, 1))
    batches = _batches(np.full(n, alpha, dtype=np.uint64), betas)
    expected = np.zeros_like(betas)
    expected[0] = betas[0]
    assert np.array_equal(_sum(batches, points), expected)


def test_signed_betas_are_taken_mod_2_64() -> None:
    alphas = np.array([9, 10], dtype=np.uint32)
    betas = np.array([[-1, 5], [-(2**63), 0]], dtype=np.int64)
    assert np.array_equal(_sum(_batches(alphas, betas), alphas),
                          betas.astype(np.uint64))


def test_one_share_at_alpha_is_neither_beta_nor_zero() -> None:
    """A server's own share alone does not show the payload."""
    alphas, betas = _case(100, 8, 17)
    for batch in _batches(alphas, betas):
        share = fss.evaluate(batch, alphas)
        assert not np.any(share == betas)
        assert np.all(share != 0)


def test_keys_from_the_same_rng_are_the_same() -> None:
    alphas, betas = _case(20, 4, 19)
    rng = os.urandom(32 * 20)
    assert fss.generate(alphas, betas, rng) == fss.generate(alphas, betas, rng)


def test_keys_without_rng_have_fresh_root_seeds_every_call() -> None:
    alphas, betas = _case(20, 4, 23)
    first = fss.KeyBatch.parse(fss.generate(alphas, betas)[0], 4)
    second = fss.KeyBatch.parse(fss.generate(alphas, betas)[0], 4)
    assert not np.any(np.all(first.roots == second.roots, axis=1))
    assert not np.any(np.all(first.cw_out == second.cw_out, axis=1))


def test_rng_gives_party_0_then_party_1_root_seeds() -> None:
    rng = bytes(range(32))
    k0, k1 = fss.generate(np.array([5]), np.array([[1]], dtype=np.uint64), rng)
    expected0 = bytes([0]) + rng[1:16]  # the control-bit position of a seed is cleared
    assert k0[2:18] == expected0 and k1[2:18] == rng[16:32]


def test_rng_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ProtocolError, match="32 bytes per key"):
        fss.generate(np.array([1, 2]), np.ones((2, 3), dtype=np.uint64), os.urandom(32))


def test_key_size_is_the_same_whatever_alpha_and_beta() -> None:
    for payload in (1, 7, 103):
        sizes = set()
        for alpha, beta in ((0, 0), (TOP, 2**64 - 1), (123456789, 42)):
            for keys in fss.generate(np.array([alpha]),
                                     np.full((1, payload), beta, dtype=np.uint64)):
                sizes.add(len(keys))
        assert sizes == {fss.key_size(payload)} == {538 + 8 * payload}


def test_one_partys_key_bits_look_uniform_whatever_alpha_and_beta() -> None:
    """Bit frequencies of party 0's keys for two far-apart alphas with two betas: every bit that
    the format does not fix (version, party, control-bit positions of seeds: the same for both)
    is about 1/2; a key leaking alpha or beta would skew some position for one of them."""
    samples = 2000
    rng = np.random.default_rng(29)  # reproducible; thresholds are > 6 standard deviations
    means = []
    for alpha, beta in ((0, 0), (TOP, 2**64 - 1)):
        keys = fss.generate(np.full(samples, alpha, dtype=np.uint64),
                            np.full((samples, 4), beta, dtype=np.uint64), rng.bytes(32 * samples))
        rows = np.frombuffer(keys[0], dtype=np.uint8).reshape(samples, -1)
        means.append(np.unpackbits(rows, axis=1).mean(axis=0))
    fixed = [(m == 0) | (m == 1) for m in means]
    assert np.array_equal(fixed[0], fixed[1])
    assert fixed[0].sum() == 16 + 33  # header bytes and one control-bit position per seed
    for m, f in zip(means, fixed, strict=True):
        assert np.all(np.abs(m[~f] - 0.5) < 0.07)


def test_parse_round_trips_the_serialized_keys() -> None:
    alphas, betas = _case(30, 6, 31)
    for party, keys in enumerate(fss.generate(alphas, betas)):
        batch = fss.KeyBatch.parse(keys, 6)
        assert len(batch) == 30 and batch.payload == 6
        assert np.all(batch.party == party)
        assert batch.to_bytes() == keys


def _one_key(payload: int = 3) -> bytes:
    """Party 0's key for alpha 77 (fixed randomness: the cases below are built at collection)."""
    return fss.generate(np.array([77]), np.ones((1, payload), dtype=np.uint64),
                        bytes(range(32)))[0]


def _flip(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + bytes([value]) + data[at + 1:]


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty"),
    (_one_key() + b"\x00", "not a whole number of keys"),
    (_one_key()[:-8], "not a whole number of keys"),
    (_one_key(4), "not a whole number of keys"),  # keys for another payload
    (_one_key() + _flip(_one_key(), 0, 2), "version 2 is unknown"),
    (_flip(_one_key(), 1, 2), "party 2"),
    (_one_key() + _flip(_one_key(), 1, 1), "both parties"),
    (_flip(_one_key(), 2, _one_key()[2] | 1), "control-bit position"),  # root seed
    (_flip(_one_key(), 18 + 16 * 31, _one_key()[18 + 16 * 31] | 1), "control-bit position"),
])
def test_malformed_keys_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        fss.KeyBatch.parse(data, 3)


@pytest.mark.parametrize(("points", "reason"), [
    (np.array([1, 2], dtype=np.uint64), "shape"),
    (np.array([1, 2, 3, 4], dtype=np.uint64), "shape"),
    (np.array([1, 1 << 32, 3], dtype=np.uint64), r"\[0, 2\^32\)"),
    (np.array([1, -1, 3], dtype=np.int64), r"\[0, 2\^32\)"),
    (np.array([1.0, 2.0, 3.0]), "integers"),
])
def test_bad_points_are_refused_with_a_reason(points: np.ndarray, reason: str) -> None:
    keys = fss.KeyBatch.parse(fss.generate(np.arange(3), np.ones((3, 2), np.uint64))[0], 2)
    with pytest.raises(ProtocolError, match=reason):
        fss.evaluate(keys, points)


def test_alphas_outside_the_domain_are_refused() -> None:
    with pytest.raises(ProtocolError, match=r"alphas must lie in \[0, 2\^32\)"):
        fss.generate(np.array([1 << 32]), np.ones((1, 1), dtype=np.uint64))


def test_evaluation_from_many_threads_equals_one_thread() -> None:
    """The servers evaluate in several threads; a shared AES context would fail or mix streams."""
    alphas, betas = _case(300, 103, 37)
    batch = _batches(alphas, betas)[1]
    points = alphas.copy()
    points[::3] ^= np.uint64(1)
    expected = fss.evaluate(batch, points)
    results: list[bool] = []
    start = threading.Barrier(6)

    def run() -> None:
        start.wait()
        results.append(all(np.array_equal(fss.evaluate(batch, points), expected)
                           for _ in range(10)))

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 6

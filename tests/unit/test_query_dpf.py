"""The DPF: shares XOR to the point function everywhere; keys carry nothing about the point."""

from __future__ import annotations

import os

import numpy as np
import pytest

from node.query import dpf
from node.query.errors import ProtocolError


def _bits(words: np.ndarray) -> np.ndarray:
    return np.unpackbits(words.view(np.uint8), bitorder="little")


@pytest.mark.parametrize("bits", [7, 8, 11, 14])
def test_shares_xor_to_the_point_function_at_every_position(bits: int) -> None:
    rng = np.random.default_rng(bits)
    for position in rng.integers(0, 1 << bits, 40):
        k0, k1 = dpf.generate(dpf.point_for_position(int(position), bits), bits)
        out = _bits(dpf.evaluate_full([k0])[0] ^ dpf.evaluate_full([k1])[0])
        expected = np.zeros(1 << bits, dtype=np.uint8)
        expected[position] = 1
        assert np.array_equal(out, expected)


def test_batched_evaluation_equals_one_by_one_and_survives_serialization() -> None:
    keys = [pair[i % 2] for i, pair in enumerate(dpf.generate_many(list(range(0, 4096, 517)), 12))]
    parsed = [dpf.DpfKey.from_bytes(k.to_bytes(), 12) for k in keys]
    batched = dpf.evaluate_full(parsed)
    for i, key in enumerate(keys):
        assert np.array_equal(batched[i], dpf.evaluate_full([key])[0])


@pytest.mark.parametrize("hardware", [True, False])
@pytest.mark.parametrize("positions", [1, 128, 129, 1000, 2560, 4095, 4096])
def test_evaluating_the_first_positions_gives_the_first_leaves_of_the_whole_domain(
        positions: int, hardware: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole leaves of 128 positions: a batch of keys (their nodes interleaved) evaluated up
    to a leaf equals the whole domain's evaluation cut there, with AES-NI (only the nodes
    above the wanted leaves computed) and without it."""
    from node.query import aesni
    if hardware and not aesni.HARDWARE:
        pytest.skip("this host has no AES-NI")
    monkeypatch.setattr(aesni, "HARDWARE", hardware)
    keys = [pair[i % 2] for i, pair in enumerate(dpf.generate_many(list(range(0, 4096, 517)), 12))]
    whole = dpf.evaluate_full(keys)
    words = 2 * -(-positions // dpf.LEAF_POINTS)
    assert np.array_equal(dpf.evaluate_full(keys, positions), whole[:, :words])


@pytest.mark.parametrize("positions", [0, -1, 4097])
def test_positions_outside_the_domain_are_refused(positions: int) -> None:
    keys = [dpf.generate(0, 12)[0]]
    with pytest.raises(ProtocolError, match="not within a domain of 2\\^12"):
        dpf.evaluate_full(keys, positions)


def test_packed_keys_are_the_serialized_keys_and_xor_to_the_points() -> None:
    points = [dpf.point_for_position(p, 13) for p in (0, 5, 4095, 8191)]
    rng = os.urandom(32 * len(points))
    pairs = dpf.generate_many(points, 13, rng)
    packed = dpf.generate_packed(points, 13, rng)
    for party in (0, 1):
        assert packed[party] == b"".join(pair[party].to_bytes() for pair in pairs)
    shares = [dpf.evaluate_full(dpf.KeyBatch.parse(packed[party], 13)) for party in (0, 1)]
    for i, position in enumerate((0, 5, 4095, 8191)):
        assert np.flatnonzero(_bits(shares[0][i] ^ shares[1][i])).tolist() == [position]


def test_keys_of_different_points_have_the_same_size_and_format() -> None:
    a0, a1 = dpf.generate(0, 16)
    b0, b1 = dpf.generate((1 << 16) - 1, 16)
    sizes = {len(k.to_bytes()) for k in (a0, a1, b0, b1)}
    assert sizes == {dpf.key_size(16)}
    assert a0.to_bytes()[:3] == b0.to_bytes()[:3]


def test_one_key_looks_uniform_whatever_the_point() -> None:
    """Bit frequencies of party 0's keys for two far-apart points: every bit that is not fixed by
    the format (header, cleared control-bit positions, padding: constant for both points) is ~1/2;
    a key that leaked its point would skew some position for one point only."""
    bits, samples = 12, 600
    rng = np.random.default_rng(5)  # reproducible; thresholds are 6 standard deviations
    means = []
    for alpha in (0, (1 << bits) - 1):
        pairs = dpf.generate_many([alpha] * samples, bits, rng.bytes(32 * samples))
        keys = np.stack([np.frombuffer(p[0].to_bytes(), np.uint8) for p in pairs])
        means.append(np.unpackbits(keys, axis=1).mean(axis=0))
    fixed = [(m == 0) | (m == 1) for m in means]
    assert np.array_equal(fixed[0], fixed[1])
    for m, f in zip(means, fixed, strict=True):
        assert np.all(np.abs(m[~f] - 0.5) < 0.13)
    assert (~fixed[0]).sum() > 8 * (dpf.key_size(bits) - 8) * 0.9
    assert np.abs(means[0] - means[1]).max() < 0.18


def test_leaf_conversion_does_not_reveal_the_point_in_one_share() -> None:
    """One party's output alone is balanced (about half ones) for any point."""
    for alpha in (0, 5, 1 << 15):
        share = _bits(dpf.evaluate_full([dpf.generate(alpha, 16)[1]])[0])
        assert abs(share.mean() - 0.5) < 0.02


def test_malformed_keys_are_refused_with_a_reason() -> None:
    key = dpf.generate(3, 10)[0].to_bytes()
    with pytest.raises(ProtocolError, match="must be"):
        dpf.DpfKey.from_bytes(key[:-1])
    with pytest.raises(ProtocolError, match="expected 2\\^12"):
        dpf.DpfKey.from_bytes(key, 12)
    with pytest.raises(ProtocolError, match="version"):
        dpf.DpfKey.from_bytes(b"\x09" + key[1:])
    with pytest.raises(ProtocolError, match="outside"):
        dpf.generate(1 << 10, 10)
    for bad, reason in ((key + key[:-1], "bytes each"), (b"", "bytes each"),
                        (key + b"\x09" + key[1:], "version"),
                        (key[:1] + b"\x0c" + key[2:], "2\\^10"),
                        (key[:2] + b"\x02" + key[3:], "party")):
        with pytest.raises(ProtocolError, match=reason):
            dpf.KeyBatch.parse(bad, 10)


def test_keys_from_the_same_randomness_differ_only_in_root_seed() -> None:
    k0, k1 = dpf.generate(77, 10, os.urandom(32))
    assert k0.cw_leaf == k1.cw_leaf and np.array_equal(k0.cw_seeds, k1.cw_seeds)
    assert k0.seed != k1.seed


def test_the_prg_can_be_used_by_many_threads_at_once() -> None:
    """The servers evaluate keys in several threads; a shared AES context would fail or mix
    streams ("Already borrowed")."""
    from concurrent.futures import ThreadPoolExecutor

    blocks = np.random.default_rng(2).integers(0, 256, (1 << 14, 16), dtype=np.uint8)
    expected = dpf._LEFT.mmo(blocks)

    def run(_: int) -> bool:
        return all(np.array_equal(dpf._LEFT.mmo(blocks), expected) for _ in range(40))

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(run, range(8)))

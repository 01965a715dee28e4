"""Additive sharing over Z_2^64 with seed-expanded shares."""

from __future__ import annotations

import numpy as np

from node.mpc import sharing


def test_shares_reconstruct_the_secret() -> None:
    secret = np.random.default_rng(1).integers(0, 2**64, 1000, dtype=np.uint64)
    own = secret.copy()
    seeds = sharing.share_in_place(own, 2)
    shares = [own, *(sharing.expand(seed, len(secret)) for seed in seeds)]
    assert np.array_equal(sharing.reconstruct(shares), secret)


def test_the_own_share_differs_from_the_secret() -> None:
    secret = np.arange(1000, dtype=np.uint64)
    own = secret.copy()
    sharing.share_in_place(own, 1)
    assert np.count_nonzero(own == secret) < 5


def test_expansion_is_deterministic_per_seed_and_differs_across_seeds() -> None:
    seed = bytes(range(32))
    assert np.array_equal(sharing.expand(seed, 300_000), sharing.expand(seed, 300_000))
    assert not np.array_equal(sharing.expand(seed, 100), sharing.expand(bytes(32), 100))


def test_add_expansion_matches_expand_across_chunks() -> None:
    seed = sharing.new_seed()
    words = 300_001  # more than two internal chunks, not a multiple of one
    acc = np.zeros(words, dtype=np.uint64)
    sharing.add_expansion(acc, seed)
    assert np.array_equal(acc, sharing.expand(seed, words))
    sharing.add_expansion(acc, seed, subtract=True)
    assert not acc.any()


def test_seeds_are_fresh() -> None:
    assert sharing.new_seed() != sharing.new_seed()
    assert len(sharing.new_seed()) == sharing.SEED_BYTES

"""The dealer-assisted private-matrix x private-vector product, in both rings it runs in."""

from __future__ import annotations

import numpy as np
import pytest

from node.mpc.modelling import crossprod, prg


@pytest.mark.parametrize("dtype", [np.uint64, np.uint32])
def test_the_shares_add_up_to_the_product_on_every_batch(dtype: type) -> None:
    rng = np.random.default_rng(6)
    m, n, batch = 5, 1000, 128
    x = rng.integers(-50, 50, size=(m, n)).astype(np.int64).astype(dtype)  # two's complement
    u_seed, v_seed, c_seed = prg.new_seed(), prg.new_seed(), prg.new_seed()
    u = crossprod.expand(u_seed, m, n, dtype)
    e = x - u  # the owner's one message to the holder
    for t, start in enumerate(range(0, n, batch)):
        cols = slice(start, start + batch)
        s = rng.integers(-1000, 1000, size=min(batch, n - start)).astype(np.int64).astype(dtype)
        v = prg.words(v_seed, t * batch, len(s)).astype(dtype)
        c_owner = prg.words(c_seed, t * m, m).astype(dtype)
        c_holder = crossprod.dealer_share(u[:, cols], v, c_owner)
        holder = crossprod.holder_share(e[:, cols], s, c_holder)
        owner = crossprod.owner_share(u[:, cols], s - v, c_owner)
        signed = np.int64 if dtype is np.uint64 else np.int32
        expected = x[:, cols].view(signed).astype(np.int64) @ s.view(signed).astype(np.int64)
        assert ((owner + holder).view(signed).astype(np.int64) == expected).all()


def test_the_stream_is_seekable() -> None:
    seed = prg.new_seed()
    whole = prg.words(seed, 0, 3_000_001)
    assert (prg.words(seed, 7, 1000) == whole[7:1007]).all()
    assert (prg.words(seed, 2_999_990, 11) == whole[-11:]).all()
    assert (prg.matrix(seed, 3, 4).ravel() == whole[:12]).all()
    assert (prg.words32(seed, 6) == whole[:3].view(np.uint32)).all()

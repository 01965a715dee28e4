"""Secure histograms (node.mpc.modelling.gbdt.selection) against plaintext per-bin sums."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from node.errors import InputValueError, ProtocolAborted, ProtocolError
from node.mpc.memory_transport import MemoryNetwork, MemoryTransport
from node.mpc.modelling.gbdt import selection
from node.mpc.modelling.gbdt.selection import (
    ActiveSelector,
    PassiveSelector,
    setup_active,
    setup_passive,
)

A, P = "bank", "telecom"


def plain(bins: np.ndarray, values: np.ndarray, rows: np.ndarray, n_bins: int) -> np.ndarray:
    """The oracle: per (feature, bin) sums of values[rows] mod 2^64, by a Python loop."""
    out = np.zeros((bins.shape[1], n_bins, values.shape[1]), dtype=np.uint64)
    for r in rows:
        for f in range(bins.shape[1]):
            out[f, bins[r, f]] += values[r]
    return out


async def pair(bins: np.ndarray, n_bins: int, cache_bytes: int = 1 << 30,
               net: MemoryNetwork | None = None, leaf_bytes: int = 1 << 30,
               ) -> tuple[ActiveSelector, PassiveSelector]:
    net = net or MemoryNetwork([A, P])
    return await asyncio.gather(
        setup_active(net.transport(A), P, bins.shape[0], bins.shape[1], n_bins, "hist",
                     cache_bytes=cache_bytes, leaf_bytes=leaf_bytes),
        setup_passive(net.transport(P), A, bins, n_bins, "hist", cache_bytes=cache_bytes,
                      leaf_bytes=leaf_bytes))


def spy_arrays(transport: MemoryTransport) -> list[tuple[str, str, np.ndarray]]:
    """Record every array `transport` sends, as (step, tag, copy)."""
    sent: list[tuple[str, str, np.ndarray]] = []
    real = transport.send_array

    async def send_array(to: str, step: str, tag: str, array: np.ndarray) -> None:
        sent.append((step, tag, np.array(array, copy=True)))
        await real(to, step, tag, array)

    transport.send_array = send_array  # type: ignore[method-assign]
    return sent


def masked_values(sent: list[tuple[str, str, np.ndarray]], tree: int) -> np.ndarray:
    parts = [a for step, tag, a in sent if step == f"hist/tree{tree}" and tag.startswith("c")]
    return np.concatenate(parts)


@pytest.mark.parametrize(("n_bins", "m", "leaf_bytes"), [
    (2, 1, 1 << 30), (2, 2, 0), (16, 1, 0), (16, 2, 1 << 30), (16, 2, 0), (5, 3, 1 << 30),
    (256, 2, 0)])
async def test_node_sums_equal_the_plaintext_histograms(n_bins: int, m: int,
                                                        leaf_bytes: int) -> None:
    """leaf_bytes 0: the trees are re-expanded from the roots / co-paths every tree."""
    rng = np.random.default_rng(n_bins * 10 + m)
    n, f = 150, 3
    bins = rng.integers(0, n_bins, (n, f), dtype=np.uint8)
    active, passive = await pair(bins, n_bins, leaf_bytes=leaf_bytes)
    for tree in range(2):
        values = rng.integers(0, 2**64, (n, m), dtype=np.uint64)
        sa, sp = await asyncio.gather(active.share_tree(tree, values),
                                      passive.share_tree(tree, m))
        nodes = [np.arange(n), np.sort(rng.choice(n, 61, replace=False)), np.array([7]),
                 np.array([], dtype=np.int64)]
        for rows in nodes:
            got = sa.node_sums(rows) + sp.node_sums(rows)
            assert got.shape == (f, n_bins, m) and got.dtype == np.uint64
            assert np.array_equal(got, plain(bins, values, rows, n_bins))


async def test_an_empty_node_sums_to_zero() -> None:
    bins = np.zeros((70, 2), dtype=np.uint8)
    active, passive = await pair(bins, 4)
    values = np.arange(140, dtype=np.uint64).reshape(70, 2)
    sa, sp = await asyncio.gather(active.share_tree(0, values), passive.share_tree(0, 2))
    empty = np.array([], dtype=np.int64)
    assert not (sa.node_sums(empty) + sp.node_sums(empty)).any()


async def test_all_rows_in_one_bin_fill_only_that_bin() -> None:
    n = 90
    bins = np.full((n, 2), 11, dtype=np.uint8)
    active, passive = await pair(bins, 16)
    values = np.ones((n, 1), dtype=np.uint64)
    sa, sp = await asyncio.gather(active.share_tree(0, values), passive.share_tree(0, 1))
    got = sa.node_sums(np.arange(n)) + sp.node_sums(np.arange(n))
    want = np.zeros((2, 16, 1), dtype=np.uint64)
    want[:, 11, 0] = n
    assert np.array_equal(got, want)


@pytest.mark.parametrize("leaf_bytes", [0, 1 << 20])
@pytest.mark.parametrize("cache_bytes", [0, 40 * 2 * 16 * 2 * 8])
async def test_rows_beyond_the_memory_budget_are_re_expanded_with_the_same_sums(
        cache_bytes: int, leaf_bytes: int) -> None:
    rng = np.random.default_rng(3)
    n = 100  # the second budget keeps the share vectors of 40 rows, re-expands the other 60
    bins = rng.integers(0, 16, (n, 2), dtype=np.uint8)
    active, passive = await pair(bins, 16, cache_bytes=cache_bytes, leaf_bytes=leaf_bytes)
    values = rng.integers(0, 2**64, (n, 2), dtype=np.uint64)
    sa, sp = await asyncio.gather(active.share_tree(5, values), passive.share_tree(5, 2))
    rows = np.array([0, 39, 40, 41, 99, 3, 77])
    assert np.array_equal(sa.node_sums(rows) + sp.node_sums(rows), plain(bins, values, rows, 16))


@pytest.mark.parametrize("leaf_bytes", [0, 1 << 20])
@pytest.mark.parametrize("cache_bytes", [1 << 20, 40 * 2 * 16 * 1 * 8])
async def test_both_trees_of_a_pair_sum_right_in_any_order(cache_bytes: int,
                                                           leaf_bytes: int) -> None:
    """Trees 2q and 2q+1 share one tweak per leaf: the odd tree after its even one uses the
    masks kept by it when every row fits the budget twice (the first budget), otherwise it
    derives them again (the second: 40 rows cached, the rest re-expanded); same sums."""
    rng = np.random.default_rng(8)
    n = 100
    bins = rng.integers(0, 16, (n, 2), dtype=np.uint8)
    active, passive = await pair(bins, 16, cache_bytes=cache_bytes, leaf_bytes=leaf_bytes)
    rows = np.array([0, 39, 40, 41, 99, 3, 77])
    for tree in (1, 0, 2, 3, 5, 4):
        values = rng.integers(0, 2**64, (n, 1), dtype=np.uint64)
        sa, sp = await asyncio.gather(active.share_tree(tree, values),
                                      passive.share_tree(tree, 1))
        for node in (np.arange(n), rows):
            assert np.array_equal(sa.node_sums(node) + sp.node_sums(node),
                                  plain(bins, values, node, 16)), tree


async def test_the_passive_party_receives_uniform_bits_whatever_the_values() -> None:
    """The masked values look uniform for all-zero values and for a constant: a protocol that
    sent values in the clear, or masked them with zero, fails both bit-frequency checks."""
    rng = np.random.default_rng(9)
    n, f = 640, 4
    bins = rng.integers(0, 16, (n, f), dtype=np.uint8)
    net = MemoryNetwork([A, P])
    sent = spy_arrays(net.transport(A))
    active, passive = await pair(bins, 16, net=net)
    zeros = np.zeros((n, 1), dtype=np.uint64)
    const = np.full((n, 1), 0x8000_0000_0000_0001, dtype=np.uint64)
    await asyncio.gather(active.share_tree(0, zeros), passive.share_tree(0, 1))
    await asyncio.gather(active.share_tree(1, const), passive.share_tree(1, 1))
    samples = n * f
    for tree in (0, 1):
        c = masked_values(sent, tree).reshape(-1)
        assert c.size == samples
        ones = np.unpackbits(c.view(np.uint8), bitorder="little").reshape(samples, 64).mean(0)
        # each bit is 1 with probability 1/2: 6 sigma of a mean of 2560 fair bits is 0.059
        assert np.all(np.abs(ones - 0.5) < 0.06), ones
    first, second = masked_values(sent, 0).reshape(-1), masked_values(sent, 1).reshape(-1)
    # same distribution for both value vectors: the top bytes' means agree
    assert abs(float((first >> np.uint64(56)).mean()) - float((second >> np.uint64(56)).mean())) < 8


async def test_the_setup_corrections_look_uniform_to_the_passive_party() -> None:
    rng = np.random.default_rng(4)
    bins = rng.integers(0, 16, (512, 2), dtype=np.uint8)
    net = MemoryNetwork([A, P])
    sent = spy_arrays(net.transport(A))
    await pair(bins, 16, net=net)
    e = np.concatenate([a.reshape(-1) for step, tag, a in sent if tag.startswith("e")])
    ones = np.unpackbits(e.view(np.uint8)).mean()
    assert abs(ones - 0.5) < 0.01


async def test_each_tree_masks_the_same_values_afresh() -> None:
    rng = np.random.default_rng(5)
    n = 128
    bins = rng.integers(0, 16, (n, 3), dtype=np.uint8)
    net = MemoryNetwork([A, P])
    sent = spy_arrays(net.transport(A))
    active, passive = await pair(bins, 16, net=net)
    values = rng.integers(0, 2**64, (n, 2), dtype=np.uint64)
    for tree in (0, 1):
        await asyncio.gather(active.share_tree(tree, values), passive.share_tree(tree, 2))
    first, second = masked_values(sent, 0), masked_values(sent, 1)
    assert first.shape == second.shape
    assert np.mean(first == second) < 0.01


async def test_a_tree_number_is_shared_once() -> None:
    bins = np.zeros((64, 1), dtype=np.uint8)
    active, passive = await pair(bins, 2)
    values = np.ones((64, 1), dtype=np.uint64)
    await asyncio.gather(active.share_tree(0, values), passive.share_tree(0, 1))
    with pytest.raises(ProtocolError, match="tree 0 was already shared"):
        await asyncio.gather(active.share_tree(0, values), passive.share_tree(0, 1))


@pytest.mark.parametrize("tree", [-1, 2**63, 1.0, True])
async def test_a_tree_number_must_be_a_small_non_negative_integer(tree: object) -> None:
    bins = np.zeros((64, 1), dtype=np.uint8)
    active, _passive = await pair(bins, 2)
    with pytest.raises(ProtocolError, match=r"tree must be an integer in \[0, 2\^63\)"):
        await active.share_tree(tree, np.ones((64, 1), dtype=np.uint64))  # type: ignore[arg-type]


async def test_shares_of_an_earlier_tree_are_refused_after_the_next_tree() -> None:
    bins = np.zeros((64, 1), dtype=np.uint8)
    active, passive = await pair(bins, 2)
    values = np.ones((64, 1), dtype=np.uint64)
    old, _ = await asyncio.gather(active.share_tree(0, values), passive.share_tree(0, 1))
    await asyncio.gather(active.share_tree(1, values), passive.share_tree(1, 1))
    with pytest.raises(ProtocolError, match="replaced by a later tree"):
        old.node_sums(np.arange(3))


async def test_bins_out_of_range_are_refused_with_the_row_and_the_peer_aborts() -> None:
    bins = np.zeros((20, 3), dtype=np.uint8)
    bins[12, 2] = 16
    net = MemoryNetwork([A, P])
    active, passive = await asyncio.gather(
        setup_active(net.transport(A), P, 20, 3, 16, "hist"),
        setup_passive(net.transport(P), A, bins, 16, "hist"), return_exceptions=True)
    assert isinstance(passive, InputValueError)
    assert passive.row == 13 and "feature 2" in str(passive)
    assert isinstance(active, ProtocolAborted) and active.party == P


@pytest.mark.parametrize(("bins", "n_bins", "message"), [
    (np.zeros(10, dtype=np.uint8), 16, "must be a .n_rows, n_features. array"),
    (np.zeros((10, 2), dtype=np.float64), 16, "must be integers"),
    (np.zeros((10, 2), dtype=np.uint8), 1, "2 <= n_bins <= 256"),
    (np.zeros((10, 2), dtype=np.uint16), 257, "2 <= n_bins <= 256"),
])
async def test_malformed_bins_or_bin_counts_are_clear_errors(
        bins: np.ndarray, n_bins: int, message: str) -> None:
    net = MemoryNetwork([A, P])
    with pytest.raises(ProtocolError, match=message):
        await setup_passive(net.transport(P), A, bins, n_bins, "hist")


async def test_parties_that_disagree_on_the_rows_both_fail() -> None:
    net = MemoryNetwork([A, P])
    bins = np.zeros((30, 2), dtype=np.uint8)
    active, passive = await asyncio.gather(
        setup_active(net.transport(A), P, 31, 2, 16, "hist"),
        setup_passive(net.transport(P), A, bins, 16, "hist"), return_exceptions=True)
    assert isinstance(active, ProtocolError) and isinstance(passive, ProtocolError)
    assert "same aligned rows" in str(active) or "same aligned rows" in str(passive)


async def test_values_of_the_wrong_shape_are_refused_and_the_peer_aborts() -> None:
    bins = np.zeros((64, 2), dtype=np.uint8)
    active, passive = await pair(bins, 16)
    bad = np.ones((63, 2), dtype=np.uint64)
    got_a, got_p = await asyncio.gather(active.share_tree(0, bad), passive.share_tree(0, 2),
                                        return_exceptions=True)
    assert isinstance(got_a, ProtocolError) and "(64, m) uint64" in str(got_a)
    assert isinstance(got_p, ProtocolAborted)


async def test_node_rows_out_of_range_are_refused() -> None:
    bins = np.zeros((64, 1), dtype=np.uint8)
    active, passive = await pair(bins, 2)
    sa, _ = await asyncio.gather(active.share_tree(0, np.ones((64, 1), dtype=np.uint64)),
                                 passive.share_tree(0, 1))
    with pytest.raises(ProtocolError, match=r"row indices must lie in \[0, 64\)"):
        sa.node_sums(np.array([3, 64]))


@pytest.mark.parametrize("nth", [1, 3])
async def test_an_abort_during_setup_ends_both_sides(nth: int) -> None:
    """The passive party aborts just before its nth OT-extension message (1: the first)."""
    from tests.unit.psi_helpers import abort_on_array_send

    net = MemoryNetwork([A, P])
    counter = abort_on_array_send(net.transport(P), nth)
    bins = np.random.default_rng(1).integers(0, 16, (20000, 2), dtype=np.uint8)  # 3 chunks
    active, passive = await asyncio.gather(
        setup_active(net.transport(A), P, 20000, 2, 16, "hist"),
        setup_passive(net.transport(P), A, bins, 16, "hist"), return_exceptions=True)
    assert counter[0] == nth
    assert isinstance(active, ProtocolAborted) and isinstance(passive, ProtocolAborted)


async def test_an_abort_while_sharing_a_tree_ends_both_sides(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.psi_helpers import abort_on_array_send

    monkeypatch.setattr(selection, "_SEND_BYTES", 1)  # one message per block of 64 rows
    monkeypatch.setattr(selection, "_BLOCK_BYTES", 64 * 2 * 16 * 16)
    rng = np.random.default_rng(2)
    n = 1000
    net = MemoryNetwork([A, P])
    bins = rng.integers(0, 16, (n, 2), dtype=np.uint8)
    active, passive = await pair(bins, 16, net=net)
    counter = abort_on_array_send(net.transport(A), 2)  # the second masked-value chunk
    got = await asyncio.gather(active.share_tree(0, np.ones((n, 2), dtype=np.uint64)),
                               passive.share_tree(0, 2), return_exceptions=True)
    assert counter[0] == 2
    assert all(isinstance(x, ProtocolAborted) for x in got)

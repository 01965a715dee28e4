"""Partitioned bulk PSI: padded digest-prefix partitions give exactly the plaintext intersection."""

from __future__ import annotations

import asyncio
import json
import math

import numpy as np
import pytest
from psi_helpers import (
    COL_A,
    COL_B,
    A,
    B,
    abort_on_array_send,
    column,
    id_sets,
    plain_intersection,
    psi_job,
    run_psi,
)

from node.errors import ProtocolAborted
from node.mpc.memory_transport import MemoryNetwork
from node.mpc.psi import PsiProtocol, engine
from node.mpc.psi.digest import digest_ids
from node.mpc.psi.normalize import Normalization
from node.mpc.psi.partition import bucket_range, pad, partition_bound, partition_count
from node.mpc.psi.prepare import (
    BUCKETS,
    PreparedIds,
    StreamedIds,
    bucket_of,
    group_rows,
)


def forced(parts_of: int = 100, stream: bool = False) -> PsiProtocol:
    """Partitioned above 0 ids, `parts_of` ids per partition; streamed preparation if asked."""
    return PsiProtocol(single_max=0, partition_max=parts_of, stream_rows=0 if stream else 10**9)


def bucket_ids(n: int, buckets: range, seed: int = 1) -> list[str]:
    """n distinct ids whose digests all fall in `buckets`."""
    rng = np.random.default_rng(seed)
    found: list[str] = []
    while len(found) < n:
        cand = [f"c-{v:x}" for v in rng.integers(0, 2**62, 4096)]
        b = bucket_of(digest_ids(np.asarray([c.encode() for c in cand], dtype="S")))
        found += [c for c, k in zip(cand, b, strict=True) if int(k) in buckets]
    return sorted(set(found))[:n]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("packed", [False, True])
async def test_several_partitions_match_plaintext_and_the_single_run(
    stream: bool, packed: bool
) -> None:
    a, b = id_sets(1200, 900, 400, seed=11)
    job = psi_job({"intersection": (A, B)}, engine="kkrt")
    results, _ = await run_psi(job, a, b, protocol=forced(150, stream), packed=packed)
    single, _ = await run_psi(job, a, b)
    assert results[A].summary["partitions"] == 8
    assert single[A].summary["partitions"] == 1
    assert results[A].outputs["intersection"] == plain_intersection(a, b)
    assert results[A].outputs == results[B].outputs == single[A].outputs


async def test_one_side_streamed_the_other_in_memory() -> None:
    a, b = id_sets(700, 1100, 250, seed=5)
    results, _ = await run_psi(psi_job(engine="kkrt"), a, b, protocol=forced(200, True),
                               protocol_b=forced(200, False), packed=True)
    assert results[A].outputs["intersection"] == plain_intersection(a, b)
    assert json.loads(results[B].outputs["cardinality"]) == {"cardinality": 250}


async def test_empty_partitions_and_an_empty_set() -> None:
    a, b = id_sets(12, 9, 4, seed=2)  # 16 partitions: most hold nothing on either side
    results, _ = await run_psi(psi_job(engine="kkrt"), a, b, protocol=forced(1))
    assert results[A].summary["partitions"] == 16
    assert results[A].outputs["intersection"] == plain_intersection(a, b)
    results, _ = await run_psi(psi_job(engine="kkrt"), [], b, protocol=forced(1))
    assert results[A].outputs["intersection"] == b"id\n"
    assert json.loads(results[B].outputs["cardinality"]) == {"cardinality": 0}


async def test_all_ids_in_one_partition() -> None:
    ids = bucket_ids(14, range(0, 16))  # partition 0 of 16
    a, b = ids[:10], ids[4:]
    results, _ = await run_psi(psi_job({"intersection": (A, B)}, engine="kkrt"), a, b,
                               protocol=forced(1, stream=True), packed=True)
    assert results[A].summary["partitions"] == 16
    assert results[A].outputs["intersection"] == plain_intersection(a, b)
    assert results[B].outputs == results[A].outputs


async def test_a_partition_over_its_public_bound_aborts_with_a_reason() -> None:
    crowded = bucket_ids(300, range(0, 16))  # bound for 300 ids in 16 partitions is < 300
    assert partition_bound(300, 16) < 300
    with pytest.raises(ProtocolAborted, match="over its public bound"):
        await run_psi(psi_job(engine="kkrt"), crowded, crowded, protocol=forced(20))


async def test_duplicates_empties_and_case_in_packed_streamed_columns() -> None:
    a = [" Alice", "alice", "ALICE ", "", "  ", "bob", "Bob", "carol"] * 3
    b = ["alice", "BOB", "dave", ""]
    results, _ = await run_psi(psi_job(engine="kkrt", normalize="trim,lower"), a, b,
                               protocol=forced(1, stream=True), packed=True)
    assert results[A].outputs["intersection"] == b"id\nalice\nbob\n"
    assert results[A].summary["ids"] == 3
    assert results[A].summary["peer_ids"] == 3


def test_streamed_preparation_equals_the_in_memory_one() -> None:
    a, _ = id_sets(5000, 0, 0, seed=9)
    col = column(a + a[:700] + ["", " "], packed=True)
    norm = Normalization.parse("trim")
    mem, streamed = PreparedIds(col, norm), StreamedIds(col, norm)
    assert len(mem) == len(streamed) == 5000
    for b0, b1 in [(0, BUCKETS), (0, 1), (17, 90), (255, 256)]:
        dm, rm = mem.slice(b0, b1)
        ds, rs = streamed.slice(b0, b1)
        assert sorted(map(tuple, dm.tolist())) == sorted(map(tuple, ds.tolist()))
        assert sorted(mem.ids_at(rm).tolist()) == sorted(streamed.ids_at(rs).tolist())
        assert (bucket_of(ds) >= b0).all() and (bucket_of(ds) < b1).all()


def test_streamed_preparation_holds_no_python_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_str(*_: object) -> str:
        raise AssertionError("an ASCII id went through the per-row str path")

    monkeypatch.setattr(Normalization, "apply_str", no_str)
    col = column([f" Id{i} " for i in range(3000)], packed=True)
    prepared = StreamedIds(col, Normalization.parse("trim,nfc,lower"))
    assert len(prepared) == 3000
    assert prepared.column.dtype.kind == "S"
    assert prepared.order.dtype == np.int32
    assert prepared.ids_at(prepared.order[:5]).dtype.kind == "S"


def test_group_rows_is_a_stable_bucket_sort(monkeypatch: pytest.MonkeyPatch) -> None:
    from node.mpc.psi import prepare
    monkeypatch.setattr(prepare, "SORT_CHUNK", 1000)  # several chunks
    rng = np.random.default_rng(4)
    bucket = rng.integers(0, BUCKETS + 1, 5555).astype(np.uint16)  # BUCKETS = skipped row
    order, starts = group_rows(bucket)
    expected = np.argsort(bucket, kind="stable")
    expected = expected[bucket[expected] < BUCKETS]
    assert order.tolist() == expected.tolist()
    assert starts.tolist() == np.searchsorted(bucket[expected], np.arange(BUCKETS + 1)).tolist()


def test_group_rows_never_holds_8_bytes_per_row(monkeypatch: pytest.MonkeyPatch) -> None:
    import tracemalloc

    from node.mpc.psi import prepare
    monkeypatch.setattr(prepare, "SORT_CHUNK", 1 << 14)
    n = 1 << 21
    bucket = np.random.default_rng(5).integers(0, BUCKETS, n).astype(np.uint16)
    tracemalloc.start()
    try:
        group_rows(bucket)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 6 * n  # the int32 result (4 B per row) and one chunk's work, no int64 copy


def test_padding_never_matches_a_real_id_or_the_other_sides_padding() -> None:
    parts = 8
    real = digest_ids(np.asarray([b"id%d" % i for i in range(4000)], dtype="S"))
    for p in range(parts):
        b0, b1 = bucket_range(p, parts)
        mine = real[(bucket_of(real) >= b0) & (bucket_of(real) < b1)]
        r = pad(mine, mine.shape[0] + 500, b1 % BUCKETS, 0)
        s = pad(mine, mine.shape[0] + 500, b1 % BUCKETS, 1)
        dummies_r, dummies_s = r[mine.shape[0]:], s[mine.shape[0]:]
        assert ((bucket_of(dummies_r) < b0) | (bucket_of(dummies_r) >= b1)).all()
        assert (dummies_r[:, 0] & 1 == 0).all() and (dummies_s[:, 0] & 1 == 1).all()
        rows = {tuple(x) for x in r.tolist()}
        assert rows.isdisjoint(tuple(x) for x in dummies_s.tolist())
        assert {tuple(x) for x in real.tolist()}.isdisjoint(tuple(x) for x in dummies_r.tolist())


def test_partition_count_depends_only_on_public_sizes() -> None:
    assert partition_count(10**7, 10**7) == 1
    assert partition_count(10**8, 10**8) == 32
    assert partition_count(10**8, 10**3) == partition_count(10**3, 10**8) == 32
    assert partition_count(10**10, 1) == 256


@pytest.mark.parametrize("n", [10**3, 10**6, 10**8])
def test_bound_overflow_is_below_2_to_minus_40(n: int) -> None:
    parts = 32
    bound = partition_bound(n, parts)
    mu, t = n / parts, bound - n / parts
    if bound < n:  # Bernstein: P[X >= mu + t] <= exp(-t^2 / (2 (mu + t/3))), union over parts
        assert parts * math.exp(-t * t / (2 * (mu + t / 3))) <= 2**-40


@pytest.mark.parametrize("n", [10**6, 10**8, 10**9])
def test_false_positives_stay_below_2_to_minus_40_over_all_partitions(n: int) -> None:
    parts = partition_count(n, n)
    bound = partition_bound(n, parts)
    sigma = 40 + math.log2(parts)
    for stash in (0, 5):
        bits = 63 + engine.suffix_dtype(bound, bound, stash, sigma).itemsize * 8
        assert parts * 2.0 ** (math.log2((3 + stash) * bound * bound) - bits) <= 2**-40


async def test_abort_between_partitions_leaves_no_output() -> None:
    a, b = id_sets(3000, 3000, 100, seed=8)
    job = psi_job(engine="kkrt")
    net = MemoryNetwork((A, B), job_id=job.job_id)
    proto = forced(200, stream=True)
    sent = abort_on_array_send(net.transport(B), 12)  # a few partitions in
    task_a = asyncio.ensure_future(proto.run(job, {COL_A: column(a, True)}, net.transport(A)))
    task_b = asyncio.ensure_future(proto.run(job, {COL_B: column(b, True)}, net.transport(B)))
    outcomes = await asyncio.gather(task_a, task_b, return_exceptions=True)
    assert sent[0] >= 12
    assert all(isinstance(o, ProtocolAborted) for o in outcomes), outcomes


def test_output_is_sorted_and_joined_chunk_by_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    from node.mpc.psi import output
    monkeypatch.setattr(output, "_CHUNK", 7)
    rng = np.random.default_rng(3)
    fixed = np.asarray([b"cust%012d" % v for v in rng.permutation(100)], dtype="S16")
    mixed = np.asarray([b"z", b"alpha", "Ålesund".encode(), b"m" * 20, b"b"] * 1, dtype="S")
    for ids in (fixed, mixed):
        expected = b"\n".join(sorted(ids.tolist()))
        assert output.join_lines(output.sort_ids(ids)) == expected
        copy = ids.copy()
        assert output.sort_ids_inplace(copy) is copy
        assert output.join_lines_buffer(copy).tobytes() == expected


def test_streamed_ids_at_handles_ids_that_grow_when_normalised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from node.mpc.psi import prepare
    monkeypatch.setattr(prepare, "CHUNK", 3)
    ids = ["a1", "b2", "c3", "d4", "\u01f0", "e5", "f6", "g7"]  # upper: 2 UTF-8 bytes -> 3
    col = column(ids, packed=True)
    norm = Normalization.parse("upper")
    assert len(norm.apply_str("\u01f0").encode()) > col.dtype.itemsize
    got = StreamedIds(col, norm).ids_at(np.arange(len(ids))[::-1].copy())
    assert got.tolist() == [norm.apply_str(x).encode() for x in ids]


@pytest.mark.parametrize("streamed", [False, True])
def test_kept_rows_live_in_the_spent_row_index(streamed: bool) -> None:
    a, _ = id_sets(3000, 0, 0, seed=3)
    col = column(a, packed=True)
    norm = Normalization.parse("trim")
    source = StreamedIds(col, norm) if streamed else PreparedIds(col, norm)
    rng = np.random.default_rng(8)
    expected: list[int] = []
    for b0, b1 in [(0, 64), (64, 65), (65, 200), (200, BUCKETS)]:
        _, rows = source.slice(b0, b1)
        positions = np.sort(rng.choice(rows.size, rows.size // 3, replace=False))
        expected += rows[positions].tolist()
        source.keep(b0, positions)
    kept = source.kept_rows()
    assert kept.tolist() == sorted(expected)
    index = source.order if isinstance(source, StreamedIds) else source._grouped[0]
    assert np.shares_memory(kept, index)


def test_take_ids_gathers_into_the_columns_own_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    from node.mpc.psi import prepare
    monkeypatch.setattr(prepare, "CHUNK", 3)  # several chunks, each overwriting earlier rows
    ids = [f" Id{i:03d} " for i in range(40)]
    rows = np.array([1, 2, 5, 6, 7, 11, 20, 21, 30, 39], dtype=np.int32)
    norm = Normalization.parse("trim,lower")
    expected = StreamedIds(column(ids, packed=True), norm).ids_at(rows).tolist()
    col = column(ids, packed=True)
    got = StreamedIds(col, norm).take_ids(rows)
    assert got.tolist() == expected == [f"id{r:03d}".encode() for r in rows]
    assert np.shares_memory(got, col)  # no second buffer of the ids' size


def test_take_ids_widened_mid_way_or_read_only_gives_the_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from node.mpc.psi import prepare
    monkeypatch.setattr(prepare, "CHUNK", 3)
    ids = ["a1", "b2", "c3", "d4", "\u01f0", "e5", "f6", "g7"]  # upper: 2 UTF-8 bytes -> 3
    norm = Normalization.parse("upper")
    rows = np.arange(len(ids), dtype=np.int32)
    expected = [norm.apply_str(x).encode() for x in ids]
    assert StreamedIds(column(ids, packed=True), norm).take_ids(rows).tolist() == expected
    frozen = column(ids, packed=True)
    frozen.flags.writeable = False
    assert StreamedIds(frozen, norm).take_ids(rows).tolist() == expected
    assert frozen.tolist() == [x.encode() for x in ids]


async def test_parties_with_different_partition_settings_abort() -> None:
    a, b = id_sets(50, 50, 10)
    with pytest.raises(ProtocolAborted, match="disagrees on partitioning"):
        await run_psi(psi_job(engine="kkrt"), a, b, protocol=forced(10),
                      protocol_b=PsiProtocol())

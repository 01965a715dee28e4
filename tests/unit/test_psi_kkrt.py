"""Bulk KKRT engine: correctness against the plaintext intersection, roles, stash, streaming."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from psi_helpers import (
    COL_A,
    COL_B,
    A,
    B,
    abort_on_array_send,
    id_sets,
    plain_intersection,
    psi_job,
    run_psi,
)

from node.errors import ProtocolAborted
from node.mpc.memory_transport import MemoryNetwork
from node.mpc.psi import PsiProtocol, cuckoo, engine
from node.mpc.psi.roles import PsiRoles


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many chunks and batches even for small sets, so the streaming paths run."""
    monkeypatch.setattr(engine, "CHUNK_BINS", 128)
    monkeypatch.setattr(engine, "BATCH", 100)


@pytest.mark.parametrize(("n_a", "n_b", "common"), [
    (0, 0, 0), (0, 40, 0), (40, 0, 0), (500, 500, 0), (400, 400, 400), (3000, 2000, 1200),
    (2, 5000, 1), (6000, 3, 3),
])
async def test_intersection_matches_plaintext(n_a: int, n_b: int, common: int) -> None:
    a, b = id_sets(n_a, n_b, common)
    results, _ = await run_psi(psi_job(engine="kkrt"), a, b)
    assert results[A].outputs["intersection"] == plain_intersection(a, b)
    assert results[B].outputs == {"cardinality": b'{"cardinality":%d}' % common}
    assert results[A].summary["engine"] == "kkrt"


async def test_streams_in_many_chunks_and_batches(small_chunks: None) -> None:
    a, b = id_sets(1000, 700, 321)
    results, _ = await run_psi(psi_job({"intersection": (A, B)}, engine="kkrt"), a, b)
    assert results[A].outputs["intersection"] == plain_intersection(a, b)
    assert results[B].outputs == results[A].outputs


@pytest.mark.parametrize("recipients", [(A,), (B,), (A, B)])
async def test_intersection_only_to_named_recipients(recipients: tuple[str, ...]) -> None:
    a, b = id_sets(800, 900, 300)
    results, _ = await run_psi(psi_job({"intersection": recipients}, engine="kkrt"), a, b)
    for party in (A, B):
        if party in recipients:
            assert results[party].outputs == {"intersection": plain_intersection(a, b)}
        else:
            assert results[party].outputs == {}
            assert "cardinality" not in results[party].summary


@pytest.mark.parametrize("recipients", [(A,), (B,), (A, B)])
async def test_cardinality_only(recipients: tuple[str, ...]) -> None:
    a, b = id_sets(700, 500, 123)
    results, _ = await run_psi(psi_job({"cardinality": recipients}, engine="kkrt"), a, b)
    for party in (A, B):
        expected = {"cardinality": b'{"cardinality":123}'} if party in recipients else {}
        assert results[party].outputs == expected


async def test_duplicates_and_unicode_ids() -> None:
    a = ["Alice", " alice ", "ALICE", "Émile", "E\u0301mile", "张伟", "😀", "x", "x", ""]
    b = ["alice", "émile", "张伟", "😀😀", "y"]
    results, _ = await run_psi(psi_job(engine="kkrt", normalize="trim,lower"), a, b)
    assert results[A].outputs["intersection"] == "id\nalice\némile\n张伟\n".encode()
    assert json.loads(results[B].outputs["cardinality"]) == {"cardinality": 3}


async def test_a_non_empty_stash_is_handled_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    stashes: list[int] = []
    real_insert = cuckoo.insert

    def with_stash(*args: object, **kwargs: object) -> cuckoo.CuckooTable:
        """Insert normally, then move three placed ids (two of them shared) to the stash."""
        table = real_insert(*args, **kwargs)  # type: ignore[arg-type]
        moved = np.flatnonzero(table.table >= 0)[:3]
        stash = np.sort(np.concatenate([table.stash, table.table[moved]]))
        table.table[moved] = -1
        stashes.append(int(stash.size))
        return cuckoo.CuckooTable(table.table, table.choice, stash)

    monkeypatch.setattr(cuckoo, "insert", with_stash)
    a, b = id_sets(1500, 1500, 1500, seed=3)
    results, _ = await run_psi(psi_job({"intersection": (A, B)}, engine="kkrt"), a, b)
    assert stashes == [3]
    assert results[A].outputs["intersection"] == plain_intersection(a, b)
    assert results[B].outputs == results[A].outputs


async def test_auto_engine_picks_kkrt_for_large_sets() -> None:
    a, b = id_sets(300, 300, 10)
    results, _ = await run_psi(psi_job(), a, b, protocol=PsiProtocol(ecdh_max=100))
    assert results[A].summary["engine"] == "kkrt"
    assert results[A].outputs["intersection"] == plain_intersection(a, b)


async def test_abort_mid_protocol_leaves_no_output(small_chunks: None) -> None:
    a, b = id_sets(5000, 5000, 100)
    job = psi_job(engine="kkrt")
    net = MemoryNetwork((A, B), job_id=job.job_id)
    sender = net.transport(A)
    sent = abort_on_array_send(sender, 4)
    proto = PsiProtocol()
    task_a = asyncio.ensure_future(proto.run(job, {COL_A: np.asarray(a)}, sender))
    task_b = asyncio.ensure_future(proto.run(job, {COL_B: np.asarray(b)}, net.transport(B)))
    outcomes = await asyncio.gather(task_a, task_b, return_exceptions=True)
    assert sent[0] >= 4
    assert all(isinstance(o, ProtocolAborted) for o in outcomes), outcomes


def test_receiver_role_is_agreed_by_both_sides() -> None:
    def roles(me: str, peer: str, n_me: int, n_peer: int, mine: bool, theirs: bool) -> PsiRoles:
        return PsiRoles(me, peer, n_me, n_peer, gets_intersection=mine,
                        peer_gets_intersection=theirs)

    for mine, theirs in [(True, False), (False, True), (True, True), (False, False)]:
        for n_a, n_b in [(5, 9), (9, 5), (7, 7)]:
            ra = engine.receiver_is_me(roles(A, B, n_a, n_b, mine, theirs))
            rb = engine.receiver_is_me(roles(B, A, n_b, n_a, theirs, mine))
            assert ra != rb
            if mine != theirs:
                assert ra == mine


@pytest.mark.parametrize("n", [10**3, 10**6, 10**7, 10**8])
def test_comparison_width_keeps_false_positives_below_2_to_minus_40(n: int) -> None:
    for stash in (0, 4):
        bits = 63 + engine.suffix_dtype(n, n, stash).itemsize * 8
        assert bits >= 40 + np.log2((3 + stash) * n * n)

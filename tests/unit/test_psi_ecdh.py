"""ECDH-PSI: correctness against the plaintext intersection, outputs only to named recipients."""

from __future__ import annotations

import json

import numpy as np
import pytest
from psi_helpers import A, B, id_sets, plain_intersection, psi_job, run_psi

from node.errors import ProtocolAborted
from node.mpc.psi.digest import digest_ids
from node.mpc.psi.ecdh import Blinder, double_length, edwards_points, hash_to_curve


@pytest.mark.parametrize(("n_a", "n_b", "common"), [
    (0, 0, 0), (0, 5, 0), (7, 0, 0), (50, 50, 0), (40, 40, 40), (300, 200, 120), (3, 5000, 2),
])
async def test_intersection_matches_plaintext(n_a: int, n_b: int, common: int) -> None:
    a, b = id_sets(n_a, n_b, common)
    results, _ = await run_psi(psi_job(engine="ecdh"), a, b)
    assert results[A].outputs["intersection"] == plain_intersection(a, b)
    expected = json.dumps({"cardinality": common}, separators=(",", ":")).encode()
    assert results[A].outputs["cardinality"] == expected
    assert results[B].outputs == {"cardinality": expected}


async def test_duplicates_and_normalisation_count_once() -> None:
    a = ["Alice ", "alice", " ALICE", "bob", "Émile", "E\u0301mile", "", "  "]
    b = ["alice", "émile", "carol", "carol"]
    job = psi_job(engine="ecdh", normalize="trim,lower,nfc")
    results, _ = await run_psi(job, a, b)
    assert results[A].outputs["intersection"] == "id\nalice\némile\n".encode()
    assert json.loads(results[B].outputs["cardinality"]) == {"cardinality": 2}
    assert results[A].summary["ids"] == 3  # alice, bob, émile


async def test_unicode_ids() -> None:
    a = ["张伟", "محمد", "Ωmega", "😀", "plain"]
    b = ["😀", "张伟", "other", "Ωmega"]
    results, _ = await run_psi(psi_job(engine="ecdh"), a, b)
    assert results[A].outputs["intersection"] == plain_intersection(a, b)


async def test_only_named_recipients_get_outputs() -> None:
    a, b = id_sets(30, 30, 10)
    job = psi_job({"intersection": (B,)}, engine="ecdh")
    results, _ = await run_psi(job, a, b)
    assert results[A].outputs == {}
    assert "cardinality" not in results[A].summary
    assert results[B].outputs["intersection"] == plain_intersection(a, b)


async def test_cardinality_only_recipient_gets_no_ids() -> None:
    a, b = id_sets(30, 40, 12)
    job = psi_job({"cardinality": (A,)}, engine="ecdh")
    results, _ = await run_psi(job, a, b)
    assert results[A].outputs == {"cardinality": b'{"cardinality":12}'}
    assert results[B].outputs == {}


async def test_both_get_the_intersection_with_equal_bytes() -> None:
    a, b = id_sets(60, 80, 25)
    job = psi_job({"intersection": (A, B)}, engine="ecdh")
    results, _ = await run_psi(job, a, b)
    assert results[A].outputs == results[B].outputs
    assert results[A].outputs["intersection"] == plain_intersection(a, b)


async def test_abort_mid_protocol_leaves_no_output() -> None:
    import asyncio

    from psi_helpers import COL_A, COL_B, abort_on_array_send

    from node.mpc.memory_transport import MemoryNetwork
    from node.mpc.psi import PsiProtocol

    a, b = id_sets(9000, 9000, 100)  # 3 chunks of singles per side
    job = psi_job(engine="ecdh")
    net = MemoryNetwork((A, B), job_id=job.job_id)
    stopper = net.transport(B)
    sent = abort_on_array_send(stopper, 2)  # B aborts between its 1st and 2nd chunk
    proto = PsiProtocol()
    task_a = asyncio.ensure_future(proto.run(job, {COL_A: np.asarray(a)}, net.transport(A)))
    task_b = asyncio.ensure_future(proto.run(job, {COL_B: np.asarray(b)}, stopper))
    outcomes = await asyncio.gather(task_a, task_b, return_exceptions=True)
    assert sent[0] >= 2
    assert all(isinstance(o, ProtocolAborted) for o in outcomes), outcomes


def test_blinding_commutes() -> None:
    points = hash_to_curve(digest_ids(np.array([b"x", b"y", b"z"])))
    alice, bob = Blinder(), Blinder()
    ab = bob.blind_rows(alice.blind(points))
    ba = alice.blind_rows(bob.blind(points))
    assert (ab == ba).all()
    assert len({bytes(r) for r in ab}) == 3


def test_hash_to_curve_lands_in_the_prime_order_subgroup() -> None:
    from nacl.bindings import (
        crypto_core_ed25519_is_valid_point,
        crypto_sign_ed25519_pk_to_curve25519,
    )

    digests = digest_ids(np.array([b"a", b"b", b"c", b"d"]))
    edwards = edwards_points(digests)
    assert all(crypto_core_ed25519_is_valid_point(e) for e in edwards)  # main subgroup, not small
    # the batched Edwards -> Montgomery map agrees with libsodium's own (validating) conversion
    assert hash_to_curve(digests) == [crypto_sign_ed25519_pk_to_curve25519(e) for e in edwards]


def test_double_length_keeps_false_positives_below_2_to_minus_40() -> None:
    for n_a, n_b in [(1, 1), (10**6, 10**6), (10**8, 10**8), (10**10, 10**10)]:
        length = double_length(n_a, n_b)
        assert 8 * length >= 40 + np.log2(n_a) + np.log2(n_b)

"""The psi job protocol: parameters and job shape are checked before any id leaves a node."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io

import numpy as np
import pytest
from psi_helpers import COL_A, COL_B, A, B, id_sets, plain_csv, psi_job, run_psi

from node.errors import ProtocolAborted
from node.mpc.memory_transport import MemoryNetwork
from node.mpc.protocol import InputRef, JobContext, write_output
from node.mpc.psi import PsiProtocol, choose_engine
from node.mpc.psi.output import intersection_csv
from node.mpc.psi.protocol import encode_cardinality, encode_intersection


@pytest.mark.parametrize(("outputs", "parameters", "reason"), [
    ({"intersection": (A, "regulator")}, {}, "not parties"),
    ({"everything": (A,)}, {}, "no output named"),
    ({}, {}, "names no recipient"),
    ({"cardinality": (A,)}, {"engine": "fastest"}, "engine="),
    ({"cardinality": (A,)}, {"normalize": "trim,shout"}, "unknown normalisation"),
])
async def test_a_malformed_job_is_refused_by_both_sides(
    outputs: dict[str, tuple[str, ...]], parameters: dict[str, str], reason: str
) -> None:
    a, b = id_sets(10, 10, 5)
    with pytest.raises(ProtocolAborted, match=reason):
        await run_psi(psi_job(outputs, **parameters), a, b)


async def test_parties_that_disagree_on_normalisation_abort() -> None:
    net = MemoryNetwork((A, B), job_id="job-psi")
    proto = PsiProtocol()
    run_a = proto.run(psi_job(normalize="trim"), {COL_A: np.array(["x"])}, net.transport(A))
    run_b = proto.run(psi_job(normalize="trim,lower"), {COL_B: np.array(["x"])}, net.transport(B))
    outcomes = await asyncio.gather(run_a, run_b, return_exceptions=True)
    assert all(isinstance(o, ProtocolAborted) for o in outcomes)
    assert "disagrees on normalize" in str(outcomes[0]) + str(outcomes[1])


async def test_a_party_without_its_input_column_aborts() -> None:
    net = MemoryNetwork((A, B), job_id="job-psi")
    proto = PsiProtocol()
    job = psi_job()
    outcomes = await asyncio.gather(
        proto.run(job, {"bank/other:id": np.array(["x"])}, net.transport(A)),
        proto.run(job, {COL_B: np.array(["x"])}, net.transport(B)),
        return_exceptions=True,
    )
    assert all(isinstance(o, ProtocolAborted) for o in outcomes)
    assert "not among this node's local inputs" in str(outcomes[0])


async def test_three_parties_are_refused() -> None:
    parties = (A, B, "platform")
    job = JobContext(
        job_id="j3", protocol="psi", parameters={}, participants=parties,
        inputs=(InputRef.parse(COL_A), InputRef.parse(COL_B)),
        outputs={"cardinality": (A,)},
    )
    net = MemoryNetwork(parties, job_id="j3")
    with pytest.raises(ProtocolAborted, match="exactly two parties"):
        await PsiProtocol().run(job, {COL_A: np.array(["x"])}, net.transport(A))


def test_engine_choice_by_size() -> None:
    assert choose_engine("auto", 10, 99_999) == "ecdh"
    assert choose_engine("auto", 100_000, 3) == "kkrt"
    assert choose_engine("ecdh", 10**9, 10**9) == "ecdh"


def test_output_encodings_are_canonical() -> None:
    ids = np.array([b"zeta", "Ålesund".encode(), b"alpha"])
    assert encode_intersection(ids) == "id\nalpha\nzeta\nÅlesund\n".encode()
    assert encode_intersection(np.array([], dtype="S1")) == b"id\n"
    assert encode_cardinality(42) == b'{"cardinality":42}'


async def test_numbers_and_bytes_columns_are_ids_too() -> None:
    results, _ = await run_psi(
        psi_job(engine="ecdh"), np.array([1, 2, 3], dtype=object), np.array(["3", "2 ", "7"])
    )
    assert results[A].outputs["intersection"] == b"id\n2\n3\n"


async def test_the_intersection_file_is_csv_that_a_csv_reader_reads_back() -> None:
    awkward = ["plain", "with,comma", 'say "hi"', '"quoted"', "ünï,cødé"]
    results, _ = await run_psi(psi_job(engine="ecdh", normalize="nfc"), [*awkward, "a-only"],
                               [*awkward, "b-only"])
    data = results[A].outputs["intersection"]
    assert data == plain_csv(sorted(x.encode() for x in awkward))
    rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert rows[0] == ["id"] and sorted(r[0] for r in rows[1:]) == sorted(awkward)


def test_the_intersection_streams_in_chunks_with_the_digest_of_the_whole() -> None:
    ids = np.array([f"id-{i:05d}".encode() for i in range(1000)])
    streamed = intersection_csv(ids, chunk=64)
    chunks = list(streamed.chunks())
    assert len(chunks) == 1 + 16 and streamed.suffix == "csv"
    sink = io.BytesIO()
    digest, size = write_output(streamed, sink)
    assert sink.getvalue() == encode_intersection(ids[::-1]) and size == len(sink.getvalue())
    assert digest == "sha256:" + hashlib.sha256(sink.getvalue()).hexdigest()

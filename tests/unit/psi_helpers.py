"""Run the psi protocol between two parties in one event loop, and the plaintext reference."""

from __future__ import annotations

import asyncio
import csv
import io

import numpy as np

from node.mpc.memory_transport import MemoryNetwork, MemoryTransport
from node.mpc.protocol import InputRef, JobContext, ProtocolResult, output_bytes
from node.mpc.psi import PsiProtocol
from node.mpc.psi.normalize import Normalization

A, B = "bank", "telecom"
COL_A, COL_B = f"{A}/customers:id", f"{B}/subscribers:id"


def psi_job(
    outputs: dict[str, tuple[str, ...]] | None = None, **parameters: str
) -> JobContext:
    if outputs is None:
        outputs = {"intersection": (A,), "cardinality": (A, B)}
    return JobContext(
        job_id="job-psi", protocol="psi", parameters=dict(parameters),
        inputs=(InputRef.parse(COL_A), InputRef.parse(COL_B)), outputs=outputs,
        participants=(A, B),
    )


async def run_psi(
    job: JobContext, ids_a: np.ndarray | list[str], ids_b: np.ndarray | list[str],
    protocol: PsiProtocol | None = None, packed: bool = False,
    protocol_b: PsiProtocol | None = None,
) -> tuple[dict[str, ProtocolResult], MemoryNetwork]:
    """Both parties in one loop; `packed` hands them 'S' (UTF-8 bytes) columns instead of
    object arrays of str; `protocol_b` gives B its own protocol settings. Streamed outputs are
    read into bytes (as the node's output file would hold them)."""
    net = MemoryNetwork((A, B), job_id=job.job_id, step_timeout=60.0)
    proto = protocol or PsiProtocol()
    results = await asyncio.gather(
        proto.run(job, {COL_A: column(ids_a, packed)}, net.transport(A)),
        (protocol_b or proto).run(job, {COL_B: column(ids_b, packed)}, net.transport(B)),
    )
    for result in results:
        result.outputs = {name: output_bytes(value) for name, value in result.outputs.items()}
    return dict(zip((A, B), results, strict=True)), net


def column(ids: np.ndarray | list[str], packed: bool = False) -> np.ndarray:
    if not packed:
        return np.asarray(ids, dtype=object)
    return np.asarray([x.encode() for x in ids] if len(ids) else [], dtype="S")


def plain_intersection(ids_a: list[str], ids_b: list[str], normalize: str | None = None) -> bytes:
    norm = Normalization.parse(normalize)
    sa = {norm.apply_str(x) for x in ids_a} - {""}
    sb = {norm.apply_str(x) for x in ids_b} - {""}
    return plain_csv(sorted(x.encode() for x in sa & sb))


def plain_csv(ids: list[bytes]) -> bytes:
    """The intersection file as Python's csv module writes it: header `id`, one id a line."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["id"])
    writer.writerows([x.decode()] for x in ids)
    return text.getvalue().encode()


def id_sets(n_a: int, n_b: int, common: int, seed: int = 7) -> tuple[list[str], list[str]]:
    """Two id lists with exactly `common` shared ids, shuffled."""
    rng = np.random.default_rng(seed)
    pool = [f"id-{v:x}" for v in rng.choice(10**12, n_a + n_b - common, replace=False)]
    a = pool[:n_a]
    b = pool[:common] + pool[n_a:]
    rng.shuffle(a)
    rng.shuffle(b)
    return a, b


def abort_on_array_send(transport: MemoryTransport, nth: int) -> list[int]:
    """Make `transport` abort the job just before its `nth` array send: mid-protocol on any machine.

    Returns a one-element counter of array sends so a test can check the abort point was reached.
    """
    real_send_array = transport.send_array
    sent = [0]

    async def send_array(to: str, step: str, tag: str, array: np.ndarray) -> None:
        sent[0] += 1
        if sent[0] == nth:
            await transport.abort("operator stopped the job")
        await real_send_array(to, step, tag, array)

    transport.send_array = send_array  # type: ignore[method-assign]
    return sent

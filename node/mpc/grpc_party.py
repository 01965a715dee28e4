"""One party of a job in its own process over the gRPC transport: harness for tests and benchmarks.

Not the node daemon (which reads jobs from the ledger and gates them); this runs a given
`JobContext` with given inputs, so that the transport and protocols can be exercised across real
processes. `run_parties(specs)` spawns one process per party, each starting an `MpcServer` on a
free loopback port; once every port is known it sends all of them the peers' addresses (the "go"),
and collects each party's outcome: outputs, bytes sent, transcript digest, time and peak RSS.

The parties' servers trust the alliance's TLS CAs (`alliance.wallet.user_tls(net, org, "node")`);
each dialer trusts only the TLS CA of the peer it dials; the servers authorize clients with
`participant_authorizer`: the certificate's organisation (O) must be a participant of the job and
the certificate must be issued by that organisation's TLS CA.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from alliance.canonical import sha256_digest
from node.errors import TransportError
from node.mpc.grpc_transport import ClientTls, MpcServer, PeerEndpoint, ServerTls
from node.mpc.protocol import (
    JobContext,
    LocalInputs,
    MpcProtocol,
    OutputValue,
    output_bytes,
    write_output,
)
from node.mpc.registry import execute, get_protocol


def tls_ca_pem(net_dir: Path, org: str) -> bytes:
    """The org's TLS CA certificate, as `alliance network init` writes it."""
    return (Path(net_dir) / "orgs" / org / "tlsca" / "tlsca.pem").read_bytes()


def participant_authorizer(
    tls_cas: dict[str, bytes], participants: dict[str, tuple[str, ...]]
) -> Callable[[str, bytes], str]:
    """An `authorize_peer` over a fixed table: job id -> participants, org -> TLS CA PEM."""
    cas = {org: x509.load_pem_x509_certificate(pem) for org, pem in tls_cas.items()}

    def authorize(job_id: str, cert_pem: bytes) -> str:
        cert = x509.load_pem_x509_certificate(cert_pem)
        names = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        org = str(names[0].value) if names else ""
        if job_id not in participants:
            raise TransportError(f"job {job_id} is unknown here")
        if org not in participants[job_id]:
            raise TransportError(f"{org or 'a certificate without O'} is not a participant")
        ca = cas.get(org)
        try:
            if ca is None:
                raise ValueError("no TLS CA known")
            cert.verify_directly_issued_by(ca)
        except Exception as exc:
            raise TransportError(f"the certificate is not issued by {org}'s TLS CA: {exc}") from exc
        return org

    return authorize


@dataclass
class PartySpec:
    """Everything one party process needs (picklable: sent to a spawned process)."""

    net_dir: str
    org: str
    passphrase: bytes
    job: JobContext
    make_inputs: Callable[[], LocalInputs]
    protocol: str | MpcProtocol = "stats"
    step_timeout: float = 60.0
    connect_timeout: float = 30.0
    output_dir: str | None = None
    """Write outputs to files there (the outcome holds their paths) instead of inline."""


async def _party_main(spec: PartySpec, conn: Connection) -> None:
    from alliance.wallet import user_tls

    tls = user_tls(Path(spec.net_dir), spec.org, "node", spec.passphrase)
    parties = spec.job.participants
    authorize = participant_authorizer(
        {org: tls_ca_pem(Path(spec.net_dir), org) for org in parties},
        {spec.job.job_id: parties},
    )
    inputs = spec.make_inputs()
    server = MpcServer("127.0.0.1", 0, ServerTls(tls.cert_chain, tls.private_key, tls.root_certs),
                       authorize)
    await server.start()
    try:
        conn.send(("port", server.port))
        addresses: dict[str, str] = await asyncio.to_thread(conn.recv)
        started = time.perf_counter()
        peers = {org: PeerEndpoint(addresses[org], tls_ca_pem(Path(spec.net_dir), org))
                 for org in parties if org != spec.org}
        protocol = (get_protocol(spec.protocol) if isinstance(spec.protocol, str)
                    else spec.protocol)
        transport = server.transport(
            spec.job.job_id, spec.org, parties, peers, ClientTls(tls.cert_chain, tls.private_key),
            step_timeout=spec.step_timeout, connect_timeout=spec.connect_timeout,
        )
        outcome: dict[str, Any] = {"org": spec.org}
        try:
            async with transport:
                result = await execute(protocol, spec.job, inputs, transport)
            del inputs  # as the node does: the input columns go before the outputs are written
            # (streamed ones chunk by chunk) and digested
            digests, delivered = await asyncio.to_thread(_deliver, spec, result.outputs)
            outcome["seconds"] = time.perf_counter() - started
            outcome.update(ok=True, summary=result.summary, output_digests=digests,
                           outputs=delivered)
        except Exception as exc:
            outcome.update(ok=False, error=type(exc).__name__, reason=str(exc),
                           aborted_by=getattr(exc, "party", None))
        outcome.setdefault("seconds", time.perf_counter() - started)
        outcome.update(
            bytes_sent=transport.bytes_sent,
            transcript=transport.transcript_digest,
            peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        )
        conn.send(("done", outcome))
    finally:
        await server.stop(0)


def _deliver(spec: PartySpec, outputs: dict[str, OutputValue]
             ) -> tuple[dict[str, str], dict[str, bytes | str]]:
    """(digests, outputs): outputs inline, or (with `output_dir`) written to files, by path
    (big ones pickle slowly; streamed ones are never held whole)."""
    digests: dict[str, str] = {}
    delivered: dict[str, bytes | str] = {}
    for name, value in outputs.items():
        if not spec.output_dir:
            data = output_bytes(value)
            digests[name], delivered[name] = sha256_digest(data), data
            continue
        path = Path(spec.output_dir) / f"{spec.org}-{name}.out"
        with open(path, "wb") as sink:
            digests[name], _size = write_output(value, sink)
        delivered[name] = str(path)
    return digests, delivered


def _party_process(spec: PartySpec, conn: Connection) -> None:
    try:
        asyncio.run(_party_main(spec, conn))
    except BaseException as exc:
        with contextlib.suppress(OSError):
            conn.send(("done", {"org": spec.org, "ok": False, "error": type(exc).__name__,
                                "reason": str(exc)}))
    conn.close()


def run_parties(specs: list[PartySpec], timeout: float = 120.0) -> dict[str, dict[str, Any]]:
    """Run each spec in its own spawned process; return each org's outcome.

    A process that dies without reporting gets {"ok": False, "error": "died", "exitcode": …}.
    Outcomes also carry "wall_seconds": time from the go to the last report, the same for all.
    """
    context = multiprocessing.get_context("spawn")
    procs: dict[str, Any] = {}
    conns: dict[str, Connection] = {}
    try:
        for spec in specs:
            parent, child = context.Pipe()
            proc = context.Process(target=_party_process, args=(spec, child), daemon=True)
            proc.start()
            child.close()
            procs[spec.org], conns[spec.org] = proc, parent
        addresses: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        for org, conn in conns.items():
            if not conn.poll(max(0.0, deadline - time.monotonic())):
                raise TransportError(f"party {org} did not start its MPC server in time")
            kind, port = conn.recv()
            if kind != "port":
                raise TransportError(f"party {org} failed to start: {port}")
            addresses[org] = f"127.0.0.1:{port}"
        go = time.perf_counter()
        for conn in conns.values():
            conn.send(addresses)
        outcomes: dict[str, dict[str, Any]] = {}
        for org, conn in conns.items():
            try:
                if conn.poll(max(0.0, deadline - time.monotonic())):
                    _, outcome = conn.recv()
                else:
                    outcome = {"org": org, "ok": False, "error": "no report in time"}
            except (EOFError, OSError):
                procs[org].join(5)
                outcome = {"org": org, "ok": False, "error": "died",
                           "exitcode": procs[org].exitcode}
            outcomes[org] = outcome
        wall = time.perf_counter() - go
        for outcome in outcomes.values():
            outcome["wall_seconds"] = wall
        return outcomes
    finally:
        for proc in procs.values():
            proc.join(10)
            if proc.is_alive():
                os.kill(proc.pid, 9)
                proc.join(5)

"""The gRPC transport with mutual TLS on loopback, all parties as tasks in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import grpc.aio
import numpy as np
import pytest

from alliance.canonical import loads
from alliance.wallet import user_tls
from node.errors import PeerUnreachable, ProtocolAborted, ProtocolTimeout
from node.mpc import (
    ClientTls,
    GrpcTransport,
    InputRef,
    JobContext,
    MpcServer,
    PeerEndpoint,
    ProtocolResult,
    ServerTls,
    StatsProtocol,
    execute,
)
from node.mpc.grpc_party import participant_authorizer, tls_ca_pem
from node.mpc.grpc_transport import MD_FROM, MD_JOB, MD_RUN, MD_TO, METHOD_PATH

PARTIES = ("bank", "platform", "telecom")
ALL_ORGS = (*PARTIES, "regulator")


class Cluster:
    """One MpcServer per org, authorizing from a fixed job table."""

    def __init__(self, net_dir: Path, passphrase: bytes, jobs: dict[str, tuple[str, ...]]) -> None:
        self.net_dir = net_dir
        self.tls = {org: user_tls(net_dir, org, "node", passphrase) for org in ALL_ORGS}
        cas = {org: tls_ca_pem(net_dir, org) for org in ALL_ORGS}
        self.authorize = participant_authorizer(cas, jobs)
        self.servers: dict[str, MpcServer] = {}

    async def start(self) -> None:
        for org in ALL_ORGS:
            tls = self.tls[org]
            server = MpcServer("127.0.0.1", 0,
                               ServerTls(tls.cert_chain, tls.private_key, tls.root_certs),
                               self.authorize)
            await server.start()
            self.servers[org] = server

    async def stop(self) -> None:
        for server in self.servers.values():
            await server.stop(0)

    def transport(self, job_id: str, org: str, parties: tuple[str, ...], **kwargs: float
                  ) -> GrpcTransport:
        peers = {p: PeerEndpoint(self.servers[p].address, tls_ca_pem(self.net_dir, p))
                 for p in parties if p != org}
        tls = self.tls[org]
        return self.servers[org].transport(job_id, org, parties, peers,
                                           ClientTls(tls.cert_chain, tls.private_key), **kwargs)


@pytest.fixture
async def cluster(network_dir: Path, passphrase: bytes) -> AsyncIterator[Cluster]:
    jobs = {"job-1": PARTIES, "job-2": ("bank", "telecom")}
    cluster = Cluster(network_dir, passphrase, jobs)
    await cluster.start()
    yield cluster
    await cluster.stop()


def stats_job(op: str, parties: tuple[str, ...] = PARTIES, job_id: str = "job-1") -> JobContext:
    return JobContext(job_id, "stats", {"op": op},
                      tuple(InputRef(p, "d", "x") for p in parties), {"result": ("bank",)}, parties)


async def run_stats(cluster: Cluster, job: JobContext, data: dict[str, np.ndarray]
                    ) -> dict[str, ProtocolResult]:
    async def one(org: str) -> ProtocolResult:
        async with cluster.transport(job.job_id, org, job.participants) as transport:
            return await execute(StatsProtocol(), job, {f"{org}/d:x": data[org]}, transport)

    results = await asyncio.gather(*(one(org) for org in job.participants))
    return dict(zip(job.participants, results, strict=True))


async def test_three_parties_compute_a_sum_over_mutual_tls(cluster: Cluster) -> None:
    rng = np.random.default_rng(3)
    data = {p: np.round(rng.normal(10, 5, 1000), 2) for p in PARTIES}
    results = await run_stats(cluster, stats_job("sum"), data)
    value = float(loads(results["bank"].outputs["result"])["value"])
    assert abs(value - sum(c.sum() for c in data.values())) < 1e-3
    assert results["platform"].outputs == {} and results["telecom"].outputs == {}


async def test_large_arrays_stream_in_chunks(cluster: Cluster) -> None:
    data = {p: np.arange(600_000, dtype=np.float64) * (i + 1) for i, p in enumerate(PARTIES)}
    results = await run_stats(cluster, stats_job("elementwise_sum"), data)
    vector = np.load(io.BytesIO(results["bank"].outputs["result"]))
    assert np.array_equal(vector, np.arange(600_000) * 6.0)


async def test_abort_reaches_every_party_with_its_reason(cluster: Cluster) -> None:
    async def party(org: str) -> None:
        async with cluster.transport("job-1", org, PARTIES) as transport:
            if org == "telecom":
                await transport.send("bank", "s", "t", b"hello")
                await transport.abort("telecom found a problem")
            await transport.recv("telecom" if org != "telecom" else "bank", "never", "sent")

    outcomes = await asyncio.gather(*(party(org) for org in PARTIES), return_exceptions=True)
    for outcome in outcomes:
        assert isinstance(outcome, ProtocolAborted)
        assert (outcome.reason, outcome.party) == ("telecom found a problem", "telecom")


async def test_an_abort_after_a_party_finished_its_protocol_still_fails_its_run(
    cluster: Cluster,
) -> None:
    async def party(org: str) -> str:
        async with cluster.transport("job-1", org, PARTIES) as transport:
            if org == "telecom":
                await transport.abort("telecom died after the others' last step")
            else:
                await transport.wait_aborted()  # the protocol is done; the abort comes in
            return "finished"  # ... before the goodbye, which would have caught it

    outcomes = await asyncio.gather(*(party(org) for org in PARTIES), return_exceptions=True)
    for outcome in outcomes:
        assert isinstance(outcome, ProtocolAborted), outcome
        assert outcome.party == "telecom"


async def test_a_non_participant_certificate_is_refused(cluster: Cluster) -> None:
    # The regulator pretends job-2 is (regulator, telecom) and dials telecom's server.
    server_side = cluster.transport("job-2", "telecom", ("bank", "telecom"))
    intruder = cluster.transport("job-2", "regulator", ("regulator", "telecom"),
                                 connect_timeout=10.0)
    with pytest.raises(ProtocolAborted) as info:
        async with server_side, intruder:
            await intruder.send("telecom", "s", "t", b"let me in")
    assert "PERMISSION_DENIED" in info.value.reason
    assert "not a participant" in info.value.reason


async def test_a_certificate_claiming_another_party_is_refused(
    cluster: Cluster, network_dir: Path
) -> None:
    # bank's certificate, claiming in the stream metadata to be platform.
    tls = cluster.tls["bank"]
    server = cluster.transport("job-1", "telecom", PARTIES)
    with pytest.raises(ProtocolAborted, match="test over"):  # a run that aborted fails
        async with server:
            credentials = grpc.ssl_channel_credentials(
                tls_ca_pem(network_dir, "telecom"), tls.private_key, tls.cert_chain
            )
            async with grpc.aio.secure_channel(cluster.servers["telecom"].address,
                                               credentials) as channel:
                call = channel.stream_stream(METHOD_PATH)(metadata=(
                    (MD_JOB, "job-1"), (MD_RUN, "1"), (MD_FROM, "platform"), (MD_TO, "telecom"),
                ))
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await call.read()
                assert await call.code() == grpc.StatusCode.PERMISSION_DENIED
                assert "belongs to 'bank'" in await call.details()
            await server.abort("test over")


async def test_a_job_not_open_at_the_peer_fails_at_the_connect_deadline(cluster: Cluster) -> None:
    transport = cluster.transport("job-2", "bank", ("bank", "telecom"), connect_timeout=0.5)
    with pytest.raises((ProtocolAborted, ProtocolTimeout)) as info:
        async with transport:
            await transport.send("telecom", "s", "t", b"anyone?")
    assert "NOT_FOUND" in str(info.value) or "could not connect" in str(info.value)
    assert isinstance(info.value, PeerUnreachable) and info.value.peer == "telecom"


async def test_a_receive_past_its_deadline_aborts_the_others(cluster: Cluster) -> None:
    telecom_open = asyncio.Event()  # bank's clock starts once telecom's side is open, so the
    # abort reaches it however slowly the machine runs

    async def party(org: str) -> None:
        if org == "bank":
            await telecom_open.wait()
        async with cluster.transport("job-2", org, ("bank", "telecom"),
                                     step_timeout=0.5 if org == "bank" else 60) as transport:
            if org == "telecom":
                telecom_open.set()
            await transport.recv("telecom" if org == "bank" else "bank", "s", "t")

    bank, telecom = await asyncio.gather(party("bank"), party("telecom"), return_exceptions=True)
    assert isinstance(bank, ProtocolTimeout)
    assert isinstance(telecom, ProtocolAborted) and telecom.party == "bank"


async def test_an_abort_ends_a_wait_for_a_peer_that_never_connects(cluster: Cluster) -> None:
    # telecom never opens job-1; bank waits to reach it while platform aborts. bank must learn of
    # the abort at once, not at its (very long) connect deadline.
    async def bank() -> None:
        async with cluster.transport("job-1", "bank", PARTIES, connect_timeout=600) as transport:
            await transport.send("platform", "s", "t", b"hello")
            await transport.send("telecom", "s", "t", b"anyone?")

    async def platform() -> None:
        async with cluster.transport("job-1", "platform", PARTIES, connect_timeout=600) as t:
            await t.recv("bank", "s", "t")
            await t.abort("platform gives up")

    waiting, _ = await asyncio.wait_for(
        asyncio.gather(bank(), platform(), return_exceptions=True), timeout=60
    )
    assert isinstance(waiting, ProtocolAborted), waiting
    assert (waiting.party, waiting.reason) == ("platform", "platform gives up")


@pytest.mark.parametrize(
    ("sender", "frame"),
    [
        ("bank", b"\x00\x00\x00\x05{{{{{"),  # the dialer sends garbage
        ("telecom", b"\x00\x00\x00\x05{{{{{"),  # the server side sends garbage
        ("bank", b"\x00\x00\x00\xa0" + (
            b'{"job":"job-2","run":1,"from":"bank","to":"telecom","step":"s","tag":"t",'
            b'"seq":0,"kind":"array","nbytes":8,"chunk":0,"chunks":1,"dtype":"<i8",'
            b'"shape":[-1]}'
        ).ljust(0xa0)),  # a well-formed header with a negative dimension
    ],
)
async def test_a_malformed_frame_aborts_the_job_naming_the_peer(
    cluster: Cluster, sender: str, frame: bytes,
) -> None:
    victim = "telecom" if sender == "bank" else "bank"

    async def bad(transport: GrpcTransport) -> None:
        await transport.send(victim, "s", "hello", b"hi")  # the link is up
        link = transport._links[victim]
        assert link.write is not None
        await link.write(frame)
        await transport.recv(victim, "s", "never")

    async def good(transport: GrpcTransport) -> None:
        await transport.recv(sender, "s", "hello")
        await transport.recv(sender, "s", "t")

    async def party(org: str) -> None:
        # Long step deadline: only the abort, not a timeout, can end the victim's wait.
        async with cluster.transport("job-2", org, ("bank", "telecom"),
                                     step_timeout=600) as transport:
            await (bad(transport) if org == sender else good(transport))

    outcomes = await asyncio.wait_for(
        asyncio.gather(party("bank"), party("telecom"), return_exceptions=True), timeout=60
    )
    got = dict(zip(("bank", "telecom"), outcomes, strict=True))[victim]
    assert isinstance(got, ProtocolAborted), got
    assert got.party == victim
    assert f"{sender} sent a frame {victim} cannot take" in got.reason


async def _dial_telecom_as_its_node(server: MpcServer, cluster: Cluster, network_dir: Path,
                                    connect_timeout: float) -> GrpcTransport:
    tls = cluster.tls["bank"]
    peers = {"telecom": PeerEndpoint(server.address, tls_ca_pem(network_dir, "telecom"),
                                     server_name="node.telecom")}
    return cluster.servers["bank"].transport("job-2", "bank", ("bank", "telecom"), peers,
                                             ClientTls(tls.cert_chain, tls.private_key),
                                             connect_timeout=connect_timeout)


async def test_a_dialer_naming_the_node_reaches_the_peers_node(
    cluster: Cluster, network_dir: Path,
) -> None:
    async def bank() -> None:
        async with await _dial_telecom_as_its_node(cluster.servers["telecom"], cluster,
                                                   network_dir, connect_timeout=30.0) as dialer:
            await dialer.send("telecom", "s", "t", b"hello")

    async def telecom() -> bytes:
        async with cluster.transport("job-2", "telecom", ("bank", "telecom")) as answer:
            return await answer.recv("bank", "s", "t")

    _, got = await asyncio.gather(bank(), telecom())
    assert got == b"hello"


async def test_a_server_holding_the_orgs_peer0_certificate_is_not_its_node(
    cluster: Cluster, network_dir: Path,
) -> None:
    # Whoever holds telecom's peer0 TLS key (stored unencrypted) poses as telecom's node.
    peer_tls = network_dir / "orgs" / "telecom" / "peers" / "peer0" / "tls"
    impostor = MpcServer("127.0.0.1", 0, ServerTls((peer_tls / "server.crt").read_bytes(),
                                                   (peer_tls / "server.key").read_bytes(),
                                                   tls_ca_pem(network_dir, "bank")),
                         lambda job_id, cert: "bank")
    await impostor.start()
    posing = impostor.transport(
        "job-2", "telecom", ("bank", "telecom"),
        {"bank": PeerEndpoint(cluster.servers["bank"].address, tls_ca_pem(network_dir, "bank"))},
        ClientTls((peer_tls / "server.crt").read_bytes(), (peer_tls / "server.key").read_bytes()),
    )
    try:
        with pytest.raises(ProtocolAborted, match="test over"):
            async with posing:  # the job is open at the impostor: only TLS can keep bank away
                # refused (the dialer retries until then): short, as no wait can make it succeed
                dialer = await _dial_telecom_as_its_node(impostor, cluster, network_dir,
                                                         connect_timeout=1.0)
                with pytest.raises((ProtocolAborted, ProtocolTimeout)) as info:
                    async with dialer:
                        await dialer.send("telecom", "s", "t", b"secret share")
                await posing.abort("test over")
        assert "could not" in str(info.value) and "NOT_FOUND" not in str(info.value)
    finally:
        await impostor.stop(0)

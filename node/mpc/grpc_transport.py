"""The MPC transport between member nodes: gRPC (grpc.aio) bidirectional streams with mutual TLS.

One `MpcServer` per node hosts the links of many jobs. A job's `GrpcTransport` (made by
`MpcServer.transport`) holds one bidirectional stream per peer, carrying `Framer` frames both ways:

- Who dials: of two parties, the one earlier in the job's sorted order dials the later one's server
  (so each pair has exactly one stream); the later one waits for it. The dialer retries while the
  peer's node is not up or has not opened the job yet (UNAVAILABLE, NOT_FOUND), until the connect
  deadline.
- Who is who: TLS is mutual. The dialer trusts, for each peer, only that peer org's TLS CA
  (`PeerEndpoint.root_certs`), so the server it reaches must hold that org's certificate. The
  server takes the client's certificate from the gRPC auth context and asks the node's
  `authorize_peer(job_id, cert_pem) -> org` (which checks the ledger's participants and raises to
  refuse); the org must also be the party the stream claims to come from. Refusals end the stream
  with a status saying why (UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND for a job this node has
  not opened) and are logged.
- Deadlines: every receive waits at most `step_timeout`; connecting at most `connect_timeout`.
- Preparing: the node opens a run's links *before* it reads its inputs, then each party says
  `ready` (`ready()`) once its inputs are read; the wait for the peers' `ready` is bounded by the
  run's deadline, since a live link (keepalive) shows that a slow peer is still there.
- Abort: `abort(reason)` sends an abort frame on every link; a party receiving one relays it once
  to its other peers, so it reaches everybody even if a link is gone. A stream that breaks
  mid-protocol (the peer died) aborts the job on this side with "lost connection to P" and is
  relayed the same way; HTTP/2 keepalive pings catch a peer that hangs without closing.
  After the transport closes, the server keeps a short memory of the job's end so that a peer
  dialing late learns the abort reason (status ABORTED) instead of waiting.
- Malformed frames: a frame this side cannot take (bad header, sizes that do not add up, a
  message over framing's MAX_MESSAGE_BYTES) aborts the job with a reason naming the peer and
  drops that link; the reader never dies silently.
- Close: each side sends a close frame when its protocol is done and waits (bounded by the step
  deadline) for the peers' close frames before tearing the streams down, so nothing in flight is
  lost. A run has succeeded only when every party said goodbye: an abort or a lost peer during
  the goodbye, or after this party's protocol returned and before its goodbye, makes the
  `async with` exit raise ProtocolAborted, so every party of a failed run reports failure,
  recipients and non-recipients alike.

Large arrays go out as memoryview slices of the caller's buffer (one chunk copied at a time into
the gRPC message) and are received into one preallocated array.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import grpc
import grpc.aio
import numpy as np

from node.errors import (
    DeadlineExceeded,
    PeerUnreachable,
    ProtocolAborted,
    ProtocolTimeout,
    TransportError,
)
from node.mpc.framing import (
    DEFAULT_CHUNK_BYTES,
    KIND_ABORT,
    KIND_CLOSE,
    Framer,
    Mailbox,
    Message,
    expect_array,
    expect_bytes,
)

log = logging.getLogger("node.mpc.grpc")

SERVICE = "alliance.mpc.v1.Mpc"
METHOD = "Link"
METHOD_PATH = f"/{SERVICE}/{METHOD}"
MD_JOB = "x-alliance-job"
MD_RUN = "x-alliance-run"
MD_FROM = "x-alliance-from"
MD_TO = "x-alliance-to"
MD_PARTY = "x-alliance-party"

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
DEFAULT_STEP_TIMEOUT = 60.0
DEFAULT_CONNECT_TIMEOUT = 30.0
_FINISHED_MEMORY = 4096
STEP_READY = "node.ready"
"""The step of the messages that say "my inputs are read" (`ready`), before any protocol step."""
KEEPALIVE_MS = 2_000
KEEPALIVE_TIMEOUT_MS = 3_000
"""HTTP/2 pings every 2 s on both ends of a link, answered within 3 s (keepalive and ping
timeout: gRPC's ping timeout defaults to 60 s otherwise): a peer that stops answering without
closing its socket (process frozen, host gone) is noticed within ~5 s (measured: 4 s); one that
is killed (its socket closed by the kernel) at once."""

_CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", KEEPALIVE_MS),
    ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
    ("grpc.http2.ping_timeout_ms", KEEPALIVE_TIMEOUT_MS),  # else a ping waits 60 s for its ack
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.use_local_subchannel_pool", 1),
]
_SERVER_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", KEEPALIVE_MS),
    ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
    ("grpc.http2.ping_timeout_ms", KEEPALIVE_TIMEOUT_MS),  # else a ping waits 60 s for its ack
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", KEEPALIVE_MS // 2),
    ("grpc.http2.max_pings_without_data", 0),  # keep pinging while a run waits, sending nothing
    ("grpc.http2.max_ping_strikes", 0),
]

AuthorizePeer = Callable[[str, bytes], "str | Awaitable[str]"]
"""`authorize_peer(job_id, cert_pem) -> org`: the org the certificate belongs to, if that org is a
participant of the job on the ledger; raises (any exception, its message is logged and returned to
the caller) to refuse."""


@dataclass(frozen=True)
class ServerTls:
    """The node's TLS certificate chain and key, and the CAs its clients' certificates chain to."""

    cert_chain: bytes
    private_key: bytes
    client_root_certs: bytes
    current_client_roots: Callable[[], bytes] | None = None
    """Read at each handshake when given: the client roots now (an org renewed its TLS CA),
    so a running server takes the new roots and drops retired ones without a restart."""


@dataclass(frozen=True)
class ClientTls:
    """The certificate chain and key this node presents when it dials a peer (clientAuth)."""

    cert_chain: bytes
    private_key: bytes


@dataclass(frozen=True)
class PeerEndpoint:
    """Where a peer's MpcServer listens, and the TLS CA(s) its server certificate must chain to."""

    address: str
    root_certs: bytes
    server_name: str | None = None


JobKey = tuple[str, int, str]
"""(job id, run, local party)."""


class _Link:
    """One bidirectional stream to one peer."""

    def __init__(self, peer: str, dials: bool) -> None:
        self.peer = peer
        self.dials = dials
        self.ready = asyncio.Event()
        self.ended = asyncio.Event()
        self.peer_closed = asyncio.Event()
        self.lock = asyncio.Lock()
        self.write: Callable[[bytes], Awaitable[None]] | None = None
        self.broken = False
        self.unreachable = False
        """The dial gave up: the peer's node was not up, or had not opened the job, in time."""

    async def send_frames(self, frames: Iterator[bytes], counter: list[int]) -> None:
        assert self.write is not None
        async with self.lock:
            for frame in frames:
                await self.write(frame)
                counter[0] += len(frame)


class GrpcTransport:
    """One party's end of a job over gRPC; made by `MpcServer.transport`, used as `async with`."""

    def __init__(
        self, server: MpcServer, job_id: str, party: str, parties: tuple[str, ...],
        peers: Mapping[str, PeerEndpoint], tls: ClientTls, run: int,
        step_timeout: float, connect_timeout: float, chunk_bytes: int,
    ) -> None:
        names = tuple(sorted(parties))
        if party not in names or len(set(names)) != len(names) or len(names) < 2:
            raise TransportError(
                f"party {party!r} and parties {list(parties)} do not form a job of at least two "
                "distinct parties that includes this party"
            )
        missing = [p for p in names if p != party and p not in peers]
        if missing:
            raise TransportError(f"no endpoint known for {', '.join(missing)}; check the profile")
        if not 0 < chunk_bytes <= MAX_MESSAGE_BYTES // 2:
            raise TransportError(f"chunk_bytes must be in 1..{MAX_MESSAGE_BYTES // 2}")
        self._server = server
        self.job_id = job_id
        self.run = run
        self._party = party
        self._parties = names
        self._peers = dict(peers)
        self._tls = tls
        self.step_timeout = step_timeout
        self.connect_timeout = connect_timeout
        self._framer = Framer(job_id, run, party, chunk_bytes)
        self._mailbox = Mailbox(self._framer, step_timeout)
        self._links = {p: _Link(p, dials=party < p) for p in names if p != party}
        self._tasks: set[asyncio.Task[None]] = set()
        self._channels: list[grpc.aio.Channel] = []
        self._calls: list[grpc.aio.StreamStreamCall] = []
        self._closing = False
        self._tearing_down = False
        self._started = False
        self._sent = [0]
        self.bytes_received = 0

    # ---- Transport interface -------------------------------------------------------------------

    @property
    def party(self) -> str:
        return self._party

    @property
    def parties(self) -> tuple[str, ...]:
        return self._parties

    @property
    def transcript_digest(self) -> str:
        return self._framer.transcript_digest

    @property
    def bytes_sent(self) -> int:
        return self._sent[0]

    async def send(self, to: str, step: str, tag: str, payload: bytes) -> None:
        self._mailbox.check()
        link = self._link(to)
        await self._send_frames(link, self._framer.bytes_frames(to, step, tag, bytes(payload)))

    async def send_array(self, to: str, step: str, tag: str, array: np.ndarray) -> None:
        self._mailbox.check()
        link = self._link(to)
        await self._send_frames(link, self._framer.array_frames(to, step, tag, np.asarray(array)))

    async def recv(self, frm: str, step: str, tag: str) -> bytes:
        return expect_bytes(await self._take(frm, step, tag))

    async def recv_array(self, frm: str, step: str, tag: str) -> np.ndarray:
        return expect_array(await self._take(frm, step, tag))

    async def abort(self, reason: str) -> None:
        """Abort the job for every party with `reason` (no-op if it already aborted)."""
        await self._fail(reason, self._party)

    # ---- before the protocol: preparing, then ready ------------------------------------------

    async def wait_aborted(self) -> ProtocolAborted:
        """Wait until the run aborts (a peer failed, died or froze); its ProtocolAborted."""
        await self._mailbox.aborted_event.wait()
        assert self._mailbox.aborted is not None
        return self._mailbox.aborted

    async def ready(self, timeout: float) -> None:
        """Tell every peer this party has prepared (read its inputs) and wait, at most `timeout`
        seconds, until each peer said the same.

        The links are open while the parties prepare: a peer that reads a large input for
        minutes is known to be alive by its link (HTTP/2 keepalive), so the wait is bounded by
        the run's deadline, not by a step deadline; a peer that dies or freezes meanwhile ends
        the wait at once (lost connection) or within the keepalive timeout."""
        for peer in self._links:
            await self.send(peer, STEP_READY, "ready", b"")
        for peer in self._links:
            try:
                expect_bytes(await self._mailbox.take(peer, STEP_READY, "ready", timeout))
            except ProtocolTimeout:
                reason = (f"{self._party} waited {timeout:.0f} s for {peer} to prepare its inputs "
                          f"(the run's deadline); {peer}'s node is alive but did not finish")
                await self._fail(reason, self._party)
                raise DeadlineExceeded(reason) from None

    # ---- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> GrpcTransport:
        """Open the job on the local server and start dialing the later-sorted peers."""
        if self._started:
            return self
        self._started = True
        self._server._open(self)
        for link in self._links.values():
            if link.dials:
                self._spawn(self._dial(link))
        return self

    async def close(self) -> None:
        """Say goodbye to every peer, wait (bounded) for theirs, and release the streams."""
        if self._closing:
            return
        self._closing = True
        try:
            if self._mailbox.aborted is None:
                await self._goodbye()
            else:
                await self._linger_for_abort()
        finally:
            self._tearing_down = True
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for call in self._calls:
                call.cancel()
            for channel in self._channels:
                await channel.close()
            for link in self._links.values():
                link.ended.set()
            aborted = self._mailbox.aborted
            self._server._close(self, aborted.reason if aborted else None)

    async def __aenter__(self) -> GrpcTransport:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
        if exc is None:
            # the protocol returned, but an abort came in before the goodbye began (a peer died
            # after this party's last send): the run failed, here as at every other party
            self._mailbox.check()

    async def _goodbye(self) -> None:
        """Send close frames and wait for the peers' own: the run ends only when every party has
        finished. An abort arriving meanwhile (a peer failed or died) is raised here."""
        ready = [link for link in self._links.values() if link.ready.is_set() and not link.broken]
        for link in ready:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._send_control(link, KIND_CLOSE), self.step_timeout)
        all_closed = asyncio.ensure_future(
            asyncio.gather(*(link.peer_closed.wait() for link in ready))
        )
        aborted = asyncio.ensure_future(self._mailbox.aborted_event.wait())
        try:
            await asyncio.wait({all_closed, aborted}, timeout=self.step_timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (all_closed, aborted):
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
        if not all_closed.done() and self._mailbox.aborted is None:
            log.warning("job %s: %s closed without every peer's goodbye within %.0f s",
                        self.job_id, self._party, self.step_timeout)
        self._mailbox.check()

    async def _linger_for_abort(self) -> None:
        """Give dials still in progress a moment to carry the abort to late peers."""
        if self._server.going_away:
            return
        pending = [link.ready.wait() for link in self._links.values()
                   if link.dials and not link.ready.is_set() and not link.broken]
        if pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*pending), min(5.0, self.connect_timeout))
            await asyncio.sleep(0)

    # ---- internals -----------------------------------------------------------------------------

    def _link(self, peer: str) -> _Link:
        link = self._links.get(peer)
        if link is None:
            raise TransportError(
                f"{peer!r} is not another party of job {self.job_id} "
                f"(parties: {', '.join(self._parties)})"
            )
        if not self._started:
            raise TransportError("the transport is not started; use `async with transport:`")
        return link

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _wait_ready(self, link: _Link) -> None:
        if link.ready.is_set():
            return
        waits = {
            asyncio.ensure_future(link.ready.wait()),
            asyncio.ensure_future(link.ended.wait()),
            asyncio.ensure_future(self._mailbox.aborted_event.wait()),  # another peer died
        }
        try:
            await asyncio.wait(waits, timeout=self.connect_timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()
        aborted = self._mailbox.aborted
        if link.unreachable and aborted is not None and aborted.party == self._party:
            raise PeerUnreachable(aborted.reason, link.peer)  # our dial found no one there
        self._mailbox.check()
        if not link.ready.is_set():
            reason = (f"{self._party} could not connect with {link.peer} within "
                      f"{self.connect_timeout:.0f} s; is its node running and has it opened job "
                      f"{self.job_id}?")
            await self._fail(reason, self._party)
            raise PeerUnreachable(reason, link.peer)

    async def _send_frames(self, link: _Link, frames: Iterator[bytes]) -> None:
        await self._wait_ready(link)
        try:
            await link.send_frames(frames, self._sent)
        except Exception as exc:  # grpc raises RpcError, InvalidStateError, AbortError…
            self._mailbox.check()
            reason = f"lost connection to {link.peer} while sending: {_describe(exc)}"
            await self._fail(reason, link.peer)
            raise ProtocolAborted(reason, link.peer) from exc
        self._mailbox.check()

    async def _send_control(self, link: _Link, kind: str, reason: str = "",
                            origin: str = "") -> None:
        if link.write is None or link.broken:
            return
        frame = self._framer.control_frame(link.peer, kind, reason, origin)
        async with link.lock:
            await link.write(frame)
            self._sent[0] += len(frame)

    async def _take(self, frm: str, step: str, tag: str) -> Message:
        self._link(frm)
        try:
            return await self._mailbox.take(frm, step, tag)
        except ProtocolTimeout as exc:
            await self._fail(str(exc), self._party)
            raise

    async def _fail(self, reason: str, origin: str | None) -> None:
        """Enter the aborted state and tell every peer (once)."""
        if not self._mailbox.fail(reason, origin):
            return
        log.warning("job %s run %s aborted at %s (by %s): %s", self.job_id, self.run,
                    self._party, origin, reason)
        sends = [self._send_abort(link, reason, origin or self._party)
                 for link in self._links.values() if link.peer != origin]
        await asyncio.gather(*sends)

    async def _send_abort(self, link: _Link, reason: str, origin: str) -> None:
        if not link.ready.is_set():
            return  # the dial (or the peer's dial to us, answered by the server) carries it
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._send_control(link, KIND_ABORT, reason, origin), 5.0)

    def _on_frame(self, link: _Link, frame: bytes) -> None:
        self.bytes_received += len(frame)
        message = self._framer.accept(frame)
        if message is None:
            return
        header = message.header
        if header.frm != link.peer:
            raise TransportError(f"{link.peer} sent a frame claiming to come from {header.frm}")
        if header.kind == KIND_ABORT:
            origin = header.tag or header.frm
            self._spawn(self._fail(header.reason, origin))
        elif header.kind == KIND_CLOSE:
            link.peer_closed.set()
        else:
            self._mailbox.deliver(message)

    def _on_link_lost(self, link: _Link, detail: str) -> None:
        link.broken = True
        link.ended.set()
        if self._tearing_down or link.peer_closed.is_set() or self._mailbox.aborted is not None:
            return
        reason = f"lost connection to {link.peer}: {detail}"
        self._spawn(self._fail(reason, link.peer))

    async def _read_loop(self, link: _Link, read: Callable[[], Awaitable[Any]]) -> None:
        try:
            while True:
                frame = await read()
                if frame is grpc.aio.EOF:
                    self._on_link_lost(link, "the stream ended")
                    return
                self._on_frame(link, frame)
        except asyncio.CancelledError:
            self._on_link_lost(link, "the stream was cancelled")
            raise
        except grpc.RpcError as exc:
            self._on_link_lost(link, _describe(exc))
        except Exception as exc:  # a malformed frame, or a bug: the link is unusable either way
            await self._on_bad_frame(link, exc)

    async def _on_bad_frame(self, link: _Link, exc: Exception) -> None:
        """A frame this party cannot take: abort the job naming the peer, then drop the link."""
        detail = str(exc) if isinstance(exc, TransportError) else _describe(exc)
        log.warning("job %s: %s received a bad frame from %s: %s", self.job_id, self._party,
                    link.peer, detail)
        if not self._tearing_down:
            await self._fail(f"{link.peer} sent a frame {self._party} cannot take ({detail}); "
                             "the parties run different or broken software", self._party)
        link.broken = True
        link.ended.set()

    async def _attach(self, link: _Link, write: Callable[[bytes], Awaitable[None]]) -> None:
        link.write = write
        link.ready.set()
        aborted = self._mailbox.aborted
        if aborted is not None:
            await self._send_abort(link, aborted.reason, aborted.party or self._party)

    async def _dial(self, link: _Link) -> None:
        peer = self._peers[link.peer]
        options = list(_CHANNEL_OPTIONS)
        if peer.server_name:
            options.append(("grpc.ssl_target_name_override", peer.server_name))
        credentials = grpc.ssl_channel_credentials(
            root_certificates=peer.root_certs, private_key=self._tls.private_key,
            certificate_chain=self._tls.cert_chain,
        )
        metadata = ((MD_JOB, self.job_id), (MD_RUN, str(self.run)), (MD_FROM, self._party),
                    (MD_TO, link.peer))
        deadline = time.monotonic() + self.connect_timeout
        delay = 0.05
        while True:
            channel = grpc.aio.secure_channel(peer.address, credentials, options=options)
            self._channels.append(channel)
            call = channel.stream_stream(METHOD_PATH)(metadata=metadata)
            self._calls.append(call)
            initial = await call.initial_metadata()
            if call.done() and dict(initial or ()).get(MD_PARTY) is None:
                code = await call.code()
                details = await call.details()
            else:
                code, details = grpc.StatusCode.OK, ""
            if code == grpc.StatusCode.OK:
                got = dict(initial or ()).get(MD_PARTY)
                if got != link.peer:
                    await self._fail(f"{peer.address} answered as {got!r}, not {link.peer}",
                                     self._party)
                    return
                break
            retry = code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND)
            if code == grpc.StatusCode.ABORTED:
                await self._fail(details, link.peer)
                link.broken = True
                link.ended.set()
                return
            if not retry or time.monotonic() + delay > deadline:
                reason = (f"{self._party} could not open a link to {link.peer} at {peer.address}: "
                          f"{code.name}: {details}")
                log.warning("job %s: %s", self.job_id, reason)
                link.unreachable = retry
                link.broken = True
                link.ended.set()
                await self._fail(reason, self._party)
                return
            await channel.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

        async def write(frame: bytes) -> None:
            await call.write(frame)

        await self._attach(link, write)
        await self._read_loop(link, call.read)

    async def _serve(self, link: _Link, context: grpc.aio.ServicerContext) -> None:
        """The server half of a link: runs inside the RPC handler until the link ends."""
        await context.send_initial_metadata(((MD_PARTY, self._party),))
        await self._attach(link, context.write)
        reader = asyncio.ensure_future(self._read_loop(link, context.read))
        try:
            await link.ended.wait()
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"


def _server_credentials(tls: ServerTls) -> grpc.ServerCredentials:
    """Mutual TLS; with `current_client_roots`, gRPC asks before each handshake whether the
    trusted client roots changed (a fetcher that answers None keeps the current ones)."""
    keys = [(tls.private_key, tls.cert_chain)]
    if tls.current_client_roots is None:
        return grpc.ssl_server_credentials(keys, root_certificates=tls.client_root_certs,
                                           require_client_auth=True)
    current = {"roots": tls.client_root_certs}
    fetch_roots = tls.current_client_roots

    def fetch() -> grpc.ServerCertificateConfiguration | None:
        try:
            roots = fetch_roots()
        except Exception:  # keep the roots in use; the authorizer checks every link anyway
            return None
        if roots == current["roots"]:
            return None
        current["roots"] = roots
        return grpc.ssl_server_certificate_configuration(keys, root_certificates=roots)

    return grpc.dynamic_ssl_server_credentials(
        grpc.ssl_server_certificate_configuration(keys, root_certificates=tls.client_root_certs),
        fetch, require_client_authentication=True)


class MpcServer:
    """A node's MPC endpoint: one gRPC server (mutual TLS) hosting the links of many jobs."""

    def __init__(self, host: str, port: int, tls: ServerTls, authorize_peer: AuthorizePeer) -> None:
        self.host = host
        self.port = port
        self._tls = tls
        self._authorize = authorize_peer
        self._server: grpc.aio.Server | None = None
        self._jobs: dict[JobKey, GrpcTransport] = {}
        self._finished: OrderedDict[JobKey, str | None] = OrderedDict()
        self.going_away = False

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        """Bind and serve; with port 0 the chosen port is in `self.port` afterwards."""
        server = grpc.aio.server(options=_SERVER_OPTIONS)
        handler = grpc.method_handlers_generic_handler(
            SERVICE, {METHOD: grpc.stream_stream_rpc_method_handler(self._handle)}
        )
        server.add_generic_rpc_handlers((handler,))
        credentials = _server_credentials(self._tls)
        port = server.add_secure_port(f"{self.host}:{self.port}", credentials)
        if port == 0:
            raise TransportError(f"cannot listen on {self.host}:{self.port}; is the port taken?")
        self.port = port
        await server.start()
        self._server = server

    async def abort_all(self, reason: str) -> int:
        """The node is going away: abort every job run open on this server with `reason`; the
        number aborted. Their protocols wake with ProtocolAborted and their connected peers learn
        why; the transports close without lingering for dials still in progress."""
        self.going_away = True
        transports = list(self._jobs.values())
        await asyncio.gather(*(t.abort(reason) for t in transports), return_exceptions=True)
        return len(transports)

    async def stop(self, grace: float | None = 1.0) -> None:
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None

    async def __aenter__(self) -> MpcServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def transport(
        self, job_id: str, party: str, parties: tuple[str, ...] | list[str],
        peers: Mapping[str, PeerEndpoint], tls: ClientTls, *, run: int = 1,
        step_timeout: float = DEFAULT_STEP_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> GrpcTransport:
        """A transport for `party` in job run (job_id, run); `async with` it to open the links."""
        return GrpcTransport(self, job_id, party, tuple(parties), peers, tls, run, step_timeout,
                             connect_timeout, chunk_bytes)

    def _open(self, transport: GrpcTransport) -> None:
        key = (transport.job_id, transport.run, transport.party)
        if key in self._jobs or key in self._finished:
            raise TransportError(
                f"job {transport.job_id} run {transport.run} for {transport.party} was already "
                "opened on this node; a run executes once"
            )
        self._jobs[key] = transport

    def _close(self, transport: GrpcTransport, abort_reason: str | None) -> None:
        key = (transport.job_id, transport.run, transport.party)
        self._jobs.pop(key, None)
        self._finished[key] = abort_reason
        while len(self._finished) > _FINISHED_MEMORY:
            self._finished.popitem(last=False)

    async def _refuse(self, context: grpc.aio.ServicerContext, code: grpc.StatusCode,
                      message: str) -> None:
        log.warning("refused MPC link from %s: %s", context.peer(), message)
        await context.abort(code, message)

    async def _handle(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> None:
        metadata = {k: v for k, v in context.invocation_metadata() or ()
                    if isinstance(v, str)}
        job_id = metadata.get(MD_JOB, "")
        frm = metadata.get(MD_FROM, "")
        to = metadata.get(MD_TO, "")
        try:
            run = int(metadata.get(MD_RUN, ""))
        except ValueError:
            run = -1
        if not job_id or not frm or not to or run < 0:
            await self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT,
                               "an MPC link needs job, run, from and to metadata")
            return
        certs = context.auth_context().get("x509_pem_cert") or []
        if not certs:
            await self._refuse(context, grpc.StatusCode.UNAUTHENTICATED,
                               f"job {job_id}: no client certificate; MPC links need mutual TLS")
            return
        try:
            org = self._authorize(job_id, certs[0])
            if inspect.isawaitable(org):
                org = await org
        except Exception as exc:
            await self._refuse(
                context, grpc.StatusCode.PERMISSION_DENIED,
                f"job {job_id}: the client certificate is not a participant's: {exc}",
            )
            return
        if org != frm:
            await self._refuse(
                context, grpc.StatusCode.PERMISSION_DENIED,
                f"job {job_id}: the client certificate belongs to {org!r} but the link claims "
                f"to come from {frm!r}",
            )
            return
        key = (job_id, run, to)
        transport = self._jobs.get(key)
        if transport is None:
            if key in self._finished:
                reason = self._finished[key]
                if reason is not None:
                    await context.abort(grpc.StatusCode.ABORTED, reason)
                    return
                await self._refuse(context, grpc.StatusCode.FAILED_PRECONDITION,
                                   f"job {job_id} run {run} already finished at {to}")
                return
            await self._refuse(
                context, grpc.StatusCode.NOT_FOUND,
                f"job {job_id} run {run} is not open for {to!r} on this node (not approved "
                "here, not started yet, or not hosted here); the dialer retries until its "
                "connect deadline",
            )
            return
        link = transport._links.get(frm)
        if link is None or link.dials:
            await self._refuse(
                context, grpc.StatusCode.PERMISSION_DENIED,
                f"job {job_id}: {frm!r} is not a party that dials {to!r} in this job "
                f"(parties: {', '.join(transport.parties)})",
            )
            return
        if link.ready.is_set():
            await self._refuse(context, grpc.StatusCode.ALREADY_EXISTS,
                               f"job {job_id}: {frm!r} already has a link to {to!r}")
            return
        await transport._serve(link, context)

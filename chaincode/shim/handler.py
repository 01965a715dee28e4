"""One peer connection: the chaincode side of the `protos.Chaincode/Connect` stream.

The protocol (fabric-chaincode-go `shim/handler.go`): the chaincode speaks first with REGISTER
(its package id); the peer answers REGISTERED, then READY; from then on the peer sends
TRANSACTION (or INIT) messages, any number at once, and the chaincode answers each with
COMPLETED (the marshalled Response and the chaincode event) or ERROR. While a transaction runs,
its stub calls (GET_STATE, PUT_STATE, ...) go to the peer and the peer's RESPONSE/ERROR comes
back with the same (channel id, txid). KEEPALIVE is echoed.

Concurrency: gRPC allows one writer per stream, so every outgoing message goes through ONE queue
(`outgoing()` is what the server streams back). Incoming messages are read by one thread and
never block on the contract: each transaction runs on a worker thread, and answers to stub calls
are handed to the waiting worker by (channel id, txid).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Executor

from fabric_protos.peer import chaincode_pb2, proposal_response_pb2

from chaincode.router import Response, Router
from chaincode.shim.errors import ShimError, StreamClosed
from chaincode.shim.proposal import parse_signed_proposal
from chaincode.shim.stub import Msg, PeerStub

log = logging.getLogger(__name__)

CALL_TIMEOUT = 60.0
"""Longest wait for the peer to answer one stub call (the peer's own execute timeout is 30 s)."""

_CLOSE = object()


class _Waiter:
    """The slot a blocked stub call waits on."""

    __slots__ = ("answer", "event")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.answer: Msg | None = None


class Handler:
    """The state machine and message routing of one peer stream."""

    def __init__(self, router: Router, chaincode_id: str, executor: Executor) -> None:
        self._router = router
        self._chaincode_id = chaincode_id
        self._executor = executor
        self._outbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._waiters: dict[tuple[str, str], _Waiter] = {}
        self._closed = False
        self.state = "created"
        self._send(
            Msg(
                type=Msg.REGISTER,
                payload=chaincode_pb2.ChaincodeID(name=chaincode_id).SerializeToString(),
            )
        )

    # -- the one writer -------------------------------------------------------------------------

    def _send(self, message: Msg) -> None:
        self._outbox.put(message)

    def outgoing(self) -> Iterator[Msg]:
        """Every message for the peer, in order; ends when the handler closes."""
        while True:
            item = self._outbox.get()
            if item is _CLOSE:
                return
            yield item  # type: ignore[misc]

    def close(self) -> None:
        """The stream is gone: wake every waiting stub call with StreamClosed, end `outgoing()`."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            waiters = list(self._waiters.values())
            self._waiters.clear()
        for waiter in waiters:
            waiter.event.set()
        self._outbox.put(_CLOSE)

    # -- incoming -------------------------------------------------------------------------------

    def handle(self, message: Msg) -> None:
        """Route one message from the peer; never blocks on the contract."""
        if message.type == Msg.KEEPALIVE:
            self._send(message)
            return
        if self.state == "created":
            self._expect(message, Msg.REGISTERED, "established")
        elif self.state == "established":
            self._expect(message, Msg.READY, "ready")
        elif message.type in (Msg.RESPONSE, Msg.ERROR):
            self._deliver(message)
        elif message.type in (Msg.TRANSACTION, Msg.INIT):
            self._executor.submit(self._run_transaction, message)
        else:
            self._refuse(message, f"cannot handle {Msg.Type.Name(message.type)} while ready")

    def _expect(self, message: Msg, kind: int, next_state: str) -> None:
        if message.type != kind:
            self._refuse(
                message,
                f"expected {Msg.Type.Name(kind)} in state {self.state}, "
                f"got {Msg.Type.Name(message.type)}",
            )
            return
        self.state = next_state
        log.info("peer stream %s", next_state)

    def _refuse(self, message: Msg, reason: str) -> None:
        log.warning("refusing message from the peer: %s", reason)
        self._send(
            Msg(
                type=Msg.ERROR,
                payload=reason.encode(),
                txid=message.txid,
                channel_id=message.channel_id,
            )
        )

    def _deliver(self, message: Msg) -> None:
        with self._lock:
            waiter = self._waiters.get((message.channel_id, message.txid))
        if waiter is None:
            log.warning("answer for unknown transaction %s/%s", message.channel_id, message.txid)
            return
        waiter.answer = message
        waiter.event.set()

    # -- stub calls -----------------------------------------------------------------------------

    def call(self, message: Msg) -> Msg:
        """Send a stub call for (channel, txid) and wait for the peer's answer."""
        key = (message.channel_id, message.txid)
        waiter = _Waiter()
        with self._lock:
            if self._closed:
                raise StreamClosed("the peer's stream is closed; the transaction cannot finish")
            if key in self._waiters:
                raise ShimError(f"transaction {message.txid} already waits for the peer")
            self._waiters[key] = waiter
        try:
            self._send(message)
            if not waiter.event.wait(CALL_TIMEOUT):
                raise ShimError(
                    f"the peer did not answer {Msg.Type.Name(message.type)} for transaction "
                    f"{message.txid} within {CALL_TIMEOUT:.0f} s"
                )
        finally:
            with self._lock:
                self._waiters.pop(key, None)
        if waiter.answer is None:
            raise StreamClosed("the peer's stream closed while a transaction waited for it")
        return waiter.answer

    # -- transactions ---------------------------------------------------------------------------

    def _run_transaction(self, message: Msg) -> None:
        try:
            reply = self._execute(message)
        except Exception as exc:  # the peer must always get an answer
            log.exception("transaction %s failed in the shim", message.txid)
            reply = Msg(
                type=Msg.ERROR,
                payload=f"{type(exc).__name__}: {exc}".encode(),
                txid=message.txid,
                channel_id=message.channel_id,
            )
        if not self._closed:
            self._send(reply)

    def _execute(self, message: Msg) -> Msg:
        chaincode_input = chaincode_pb2.ChaincodeInput.FromString(message.payload)
        proposal = (
            parse_signed_proposal(message.proposal) if message.HasField("proposal") else None
        )
        stub = PeerStub(
            self.call,
            channel_id=message.channel_id,
            tx_id=message.txid,
            args=list(chaincode_input.args),
            proposal=proposal,
        )
        try:
            response: Response = self._router.invoke(stub)
        finally:
            stub.finish()
        payload = proposal_response_pb2.Response(
            status=response.status, message=response.message, payload=response.payload
        ).SerializeToString()
        reply = Msg(
            type=Msg.COMPLETED,
            payload=payload,
            txid=message.txid,
            channel_id=message.channel_id,
        )
        if stub.event is not None and response.ok:
            reply.chaincode_event.CopyFrom(stub.event)
        return reply

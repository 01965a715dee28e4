"""The chaincode shim's message handling against a fake peer (no Fabric needed)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fabric_protos.common import common_pb2
from fabric_protos.ledger.queryresult import kv_query_result_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2, proposal_response_pb2
from fabric_protos.peer import chaincode_shim_pb2 as shim
from google.protobuf import timestamp_pb2

from chaincode.router import Response
from chaincode.shim import Handler, PeerError, parse_signed_proposal

Msg = shim.ChaincodeMessage
CHANNEL = "alliance"


class Contract:
    """A stand-in for the router: runs `body(stub)` and answers 200 with what it returns."""

    def __init__(self, body: Callable[[Any], bytes]) -> None:
        self.body = body

    def invoke(self, stub: Any) -> Response:
        return Response(200, "", self.body(stub))


class FakePeer:
    """Reads what the handler sends; answers stub calls with `answer(msg)`."""

    def __init__(self, handler: Handler, answer: Callable[[Msg], Msg | None] | None = None) -> None:
        self.handler = handler
        self.answer = answer
        self.sent: queue.Queue[Msg] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for message in self.handler.outgoing():
            if message.type in (Msg.COMPLETED, Msg.ERROR, Msg.REGISTER, Msg.KEEPALIVE):
                self.sent.put(message)
                continue
            reply = self.answer(message) if self.answer else None
            if reply is not None:
                self.handler.handle(reply)

    def next(self, timeout: float = 5.0) -> Msg:
        return self.sent.get(timeout=timeout)

    def make_ready(self) -> None:
        assert self.next().type == Msg.REGISTER
        self.handler.handle(Msg(type=Msg.REGISTERED))
        self.handler.handle(Msg(type=Msg.READY))


def reply(message: Msg, payload: bytes = b"", kind: int = Msg.RESPONSE) -> Msg:
    return Msg(type=kind, payload=payload, txid=message.txid, channel_id=message.channel_id)


def transaction(tx_id: str, *args: str, proposal: proposal_pb2.SignedProposal | None = None) -> Msg:
    message = Msg(
        type=Msg.TRANSACTION,
        txid=tx_id,
        channel_id=CHANNEL,
        payload=chaincode_pb2.ChaincodeInput(args=[a.encode() for a in args]).SerializeToString(),
    )
    if proposal is not None:
        message.proposal.CopyFrom(proposal)
    return message


def response_of(message: Msg) -> proposal_response_pb2.Response:
    assert message.type == Msg.COMPLETED, message.payload
    return proposal_response_pb2.Response.FromString(message.payload)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=64) as executor:
        yield executor


def ready_peer(body: Callable[[Any], bytes], pool: ThreadPoolExecutor, answer=None) -> FakePeer:
    peer = FakePeer(Handler(Contract(body), "alliance_1:abc", pool), answer)  # type: ignore[arg-type]
    peer.make_ready()
    return peer


# --- registration ------------------------------------------------------------------------------


def test_register_names_the_package_id_first(pool: ThreadPoolExecutor) -> None:
    peer = FakePeer(Handler(Contract(lambda s: b""), "alliance_1:abc", pool))  # type: ignore[arg-type]
    first = peer.next()
    assert first.type == Msg.REGISTER
    assert chaincode_pb2.ChaincodeID.FromString(first.payload).name == "alliance_1:abc"
    peer.handler.close()


def test_keepalive_is_echoed(pool: ThreadPoolExecutor) -> None:
    peer = ready_peer(lambda s: b"", pool)
    peer.handler.handle(Msg(type=Msg.KEEPALIVE))
    assert peer.next().type == Msg.KEEPALIVE
    peer.handler.close()


def test_transaction_before_ready_is_refused(pool: ThreadPoolExecutor) -> None:
    peer = FakePeer(Handler(Contract(lambda s: b"x"), "cc", pool))  # type: ignore[arg-type]
    peer.next()  # REGISTER
    peer.handler.handle(transaction("t1", "F"))
    refused = peer.next()
    assert refused.type == Msg.ERROR and b"REGISTERED" in refused.payload
    peer.handler.close()


# --- transactions ------------------------------------------------------------------------------


def test_transaction_reads_and_writes_through_the_peer(pool: ThreadPoolExecutor) -> None:
    calls: list[tuple[int, bytes]] = []

    def answer(message: Msg) -> Msg:
        calls.append((message.type, message.payload))
        if message.type == Msg.GET_STATE:
            return reply(message, b"old")
        return reply(message)

    def body(stub: Any) -> bytes:
        value = stub.get_state("k")
        stub.put_state("k", value + b"+new")
        stub.del_state("gone")
        return value

    peer = ready_peer(body, pool, answer)
    peer.handler.handle(transaction("t1", "Fn"))
    assert response_of(peer.next()).payload == b"old"
    kinds = [kind for kind, _ in calls]
    assert kinds == [Msg.GET_STATE, Msg.PUT_STATE, Msg.DEL_STATE]
    assert shim.PutState.FromString(calls[1][1]).value == b"old+new"
    assert shim.DelState.FromString(calls[2][1]).key == "gone"
    peer.handler.close()


def test_missing_key_reads_as_none(pool: ThreadPoolExecutor) -> None:
    peer = ready_peer(lambda s: repr(s.get_state("nope")).encode(), pool, lambda m: reply(m))
    peer.handler.handle(transaction("t1", "Fn"))
    assert response_of(peer.next()).payload == b"None"
    peer.handler.close()


def test_function_and_arguments_come_from_the_input(pool: ThreadPoolExecutor) -> None:
    def body(stub: Any) -> bytes:
        name, args = stub.get_function_and_parameters()
        return f"{name}|{'|'.join(args)}|{stub.get_tx_id()}|{stub.get_channel_id()}".encode()

    peer = ready_peer(body, pool)
    peer.handler.handle(transaction("tx9", "GetJob", "job-1", "x"))
    assert response_of(peer.next()).payload == b"GetJob|job-1|x|tx9|alliance"
    peer.handler.close()


def test_concurrent_transactions_get_their_own_answers(pool: ThreadPoolExecutor) -> None:
    """Answers arrive out of order; each goes to the transaction with its txid."""
    held: list[Msg] = []
    lock = threading.Lock()
    count = 40

    def answer(message: Msg) -> None:
        with lock:
            held.append(message)
            if len(held) < count:
                return None
            batch = list(reversed(held))
        for m in batch:
            key = shim.GetState.FromString(m.payload).key
            peer.handler.handle(reply(m, f"value-of-{key}".encode()))
        return None

    peer = ready_peer(lambda s: s.get_state(s.get_tx_id()), pool, answer)
    for i in range(count):
        peer.handler.handle(transaction(f"tx{i}", "Fn"))
    answers = {}
    for _ in range(count):
        message = peer.next()
        answers[message.txid] = response_of(message).payload
    assert answers == {f"tx{i}": f"value-of-tx{i}".encode() for i in range(count)}
    peer.handler.close()


def test_event_goes_with_completed(pool: ThreadPoolExecutor) -> None:
    def body(stub: Any) -> bytes:
        stub.set_event("JobApproved", b'{"id":"j"}')
        return b""

    peer = ready_peer(body, pool)
    peer.handler.handle(transaction("t1", "Fn"))
    completed = peer.next()
    assert completed.type == Msg.COMPLETED
    assert completed.chaincode_event.event_name == "JobApproved"
    assert completed.chaincode_event.payload == b'{"id":"j"}'
    assert completed.chaincode_event.tx_id == "t1"
    peer.handler.close()


def test_refusal_is_completed_with_its_status_and_no_event(pool: ThreadPoolExecutor) -> None:
    class Refusing:
        def invoke(self, stub: Any) -> Response:
            stub.set_event("Ignored", b"")
            return Response(403, "NotAuthorized: no")

    peer = FakePeer(Handler(Refusing(), "cc", pool))  # type: ignore[arg-type]
    peer.make_ready()
    peer.handler.handle(transaction("t1", "Fn"))
    completed = peer.next()
    response = response_of(completed)
    assert (response.status, response.message) == (403, "NotAuthorized: no")
    assert not completed.HasField("chaincode_event")
    peer.handler.close()


def test_peer_error_on_a_stub_call_surfaces_as_peer_error(pool: ThreadPoolExecutor) -> None:
    seen: list[Exception] = []

    def body(stub: Any) -> bytes:
        try:
            stub.get_state("k")
        except PeerError as exc:
            seen.append(exc)
            raise
        return b""

    peer = ready_peer(body, pool, lambda m: reply(m, b"no ledger", Msg.ERROR))
    peer.handler.handle(transaction("t1", "Fn"))
    failed = peer.next()
    assert failed.type == Msg.ERROR and b"no ledger" in failed.payload
    assert "no ledger" in str(seen[0])
    peer.handler.close()


# --- range and history -------------------------------------------------------------------------


def _page(results: list[bytes], has_more: bool, iterator: str) -> bytes:
    return shim.QueryResponse(
        results=[shim.QueryResultBytes(resultBytes=r) for r in results],
        has_more=has_more,
        id=iterator,
    ).SerializeToString()


def _kv(key: str, value: bytes) -> bytes:
    return kv_query_result_pb2.KV(namespace="alliance", key=key, value=value).SerializeToString()


def test_range_scan_fetches_every_page(pool: ThreadPoolExecutor) -> None:
    requests: list[Msg] = []

    def answer(message: Msg) -> Msg:
        requests.append(message)
        if message.type == Msg.GET_STATE_BY_RANGE:
            return reply(message, _page([_kv("a", b"1"), _kv("b", b"2")], True, "it1"))
        assert shim.QueryStateNext.FromString(message.payload).id == "it1"
        return reply(message, _page([_kv("c", b"3")], False, "it1"))

    peer = ready_peer(lambda s: repr(list(s.get_state_by_range("a", "z"))).encode(), pool, answer)
    peer.handler.handle(transaction("t1", "Fn"))
    assert (
        response_of(peer.next()).payload == repr([("a", b"1"), ("b", b"2"), ("c", b"3")]).encode()
    )
    scan = shim.GetStateByRange.FromString(requests[0].payload)
    assert (scan.startKey, scan.endKey) == ("a", "z")
    assert [r.type for r in requests] == [Msg.GET_STATE_BY_RANGE, Msg.QUERY_STATE_NEXT]
    peer.handler.close()


def test_range_scan_left_early_closes_the_iterator(pool: ThreadPoolExecutor) -> None:
    kinds: list[int] = []

    def answer(message: Msg) -> Msg:
        kinds.append(message.type)
        if message.type == Msg.GET_STATE_BY_RANGE:
            return reply(message, _page([_kv("a", b"1")], True, "it7"))
        return reply(message)

    def body(stub: Any) -> bytes:
        scan = stub.get_state_by_range("", "z")
        first = next(scan)
        scan.close()
        return first[0].encode()

    peer = ready_peer(body, pool, answer)
    peer.handler.handle(transaction("t1", "Fn"))
    assert response_of(peer.next()).payload == b"a"
    assert kinds == [Msg.GET_STATE_BY_RANGE, Msg.QUERY_STATE_CLOSE]
    peer.handler.close()


def test_history_maps_key_modifications(pool: ThreadPoolExecutor) -> None:
    modification = kv_query_result_pb2.KeyModification(
        tx_id="t0",
        value=b"v",
        timestamp=timestamp_pb2.Timestamp(seconds=1700000000),
        is_delete=False,
    ).SerializeToString()

    def answer(message: Msg) -> Msg:
        assert shim.GetHistoryForKey.FromString(message.payload).key == "k"
        return reply(message, _page([modification], False, "h"))

    peer = ready_peer(lambda s: repr(list(s.get_history_for_key("k"))).encode(), pool, answer)
    peer.handler.handle(transaction("t1", "Fn"))
    expected = [{"tx_id": "t0", "timestamp": 1700000000, "value": b"v", "is_delete": False}]
    assert response_of(peer.next()).payload == repr(expected).encode()
    peer.handler.close()


# --- the signed proposal -----------------------------------------------------------------------


def _signed_proposal(msp_id: str, cert: bytes, seconds: int) -> proposal_pb2.SignedProposal:
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.ENDORSER_TRANSACTION,
        channel_id=CHANNEL,
        tx_id="t1",
        timestamp=timestamp_pb2.Timestamp(seconds=seconds, nanos=5),
    )
    creator = identities_pb2.SerializedIdentity(mspid=msp_id, id_bytes=cert)
    signature_header = common_pb2.SignatureHeader(creator=creator.SerializeToString(), nonce=b"n")
    header = common_pb2.Header(
        channel_header=channel_header.SerializeToString(),
        signature_header=signature_header.SerializeToString(),
    )
    proposal = proposal_pb2.Proposal(header=header.SerializeToString())
    return proposal_pb2.SignedProposal(proposal_bytes=proposal.SerializeToString(), signature=b"s")


def test_creator_and_timestamp_come_from_the_signed_proposal(pool: ThreadPoolExecutor) -> None:
    def body(stub: Any) -> bytes:
        msp_id, cert = stub.get_creator()
        return f"{msp_id}|{cert.decode()}|{stub.get_tx_timestamp()}".encode()

    peer = ready_peer(body, pool)
    signed = _signed_proposal("BankMSP", b"-----BEGIN CERTIFICATE-----", 1_750_000_000)
    peer.handler.handle(transaction("t1", "Fn", proposal=signed))
    assert response_of(peer.next()).payload == b"BankMSP|-----BEGIN CERTIFICATE-----|1750000000"
    peer.handler.close()


def test_proposal_without_creator_is_refused() -> None:
    from chaincode.shim import ShimError

    with pytest.raises(ShimError, match="no creator"):
        parse_signed_proposal(_signed_proposal("", b"", 1))


def test_closing_the_stream_wakes_a_waiting_transaction(pool: ThreadPoolExecutor) -> None:
    outcome: list[str] = []

    def body(stub: Any) -> bytes:
        try:
            stub.get_state("k")
        except Exception as exc:
            outcome.append(type(exc).__name__)
            raise
        return b""

    peer = ready_peer(body, pool, lambda m: None)  # the peer never answers
    peer.handler.handle(transaction("t1", "Fn"))
    deadline = threading.Event()
    for _ in range(50):
        if peer.handler._waiters:  # the transaction is waiting for the peer
            break
        deadline.wait(0.02)
    peer.handler.close()
    for _ in range(100):
        if outcome:
            break
        deadline.wait(0.02)
    assert outcome == ["StreamClosed"]

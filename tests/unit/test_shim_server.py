"""The chaincode server over real gRPC on loopback, with a test client playing the peer."""

from __future__ import annotations

import queue
from collections.abc import Iterator

import grpc
import pytest
from fabric_protos.peer import chaincode_pb2, chaincode_shim_pb2_grpc, proposal_response_pb2
from fabric_protos.peer import chaincode_shim_pb2 as shim

from chaincode import default_router
from chaincode.shim import ChaincodeServer

Msg = shim.ChaincodeMessage


@pytest.fixture
def server() -> Iterator[ChaincodeServer]:
    srv = ChaincodeServer(default_router(), chaincode_id="alliance_1:abc", address="127.0.0.1:0")
    srv.start()
    yield srv
    srv.stop(0)


def _requests(outbox: queue.Queue[Msg | None]) -> Iterator[Msg]:
    while (message := outbox.get()) is not None:
        yield message


def test_peer_registers_and_gets_a_contract_answer(server: ChaincodeServer) -> None:
    outbox: queue.Queue[Msg | None] = queue.Queue()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stream = chaincode_shim_pb2_grpc.ChaincodeStub(channel).Connect(_requests(outbox))
        register = next(stream)
        assert register.type == Msg.REGISTER
        assert chaincode_pb2.ChaincodeID.FromString(register.payload).name == "alliance_1:abc"
        outbox.put(Msg(type=Msg.REGISTERED))
        outbox.put(Msg(type=Msg.READY))
        args = chaincode_pb2.ChaincodeInput(args=[b"GetCharter"])
        outbox.put(
            Msg(type=Msg.TRANSACTION, txid="t1", channel_id="c", payload=args.SerializeToString())
        )
        kinds = []
        while (message := next(stream)).type not in (Msg.COMPLETED, Msg.ERROR):
            kinds.append(message.type)  # stub calls: answer "no such key"
            assert (message.txid, message.channel_id) == ("t1", "c")
            outbox.put(Msg(type=Msg.RESPONSE, txid="t1", channel_id="c", payload=b""))
        completed = message
        outbox.put(None)
    assert completed.type == Msg.COMPLETED
    response = proposal_response_pb2.Response.FromString(completed.payload)
    # no signed proposal in this bare message: the contract cannot tell who calls
    assert response.status >= 400 and response.message


def test_a_busy_port_is_refused() -> None:
    first = ChaincodeServer(default_router(), chaincode_id="a", address="127.0.0.1:0")
    try:
        with pytest.raises((OSError, RuntimeError)):
            ChaincodeServer(default_router(), chaincode_id="b", address=f"127.0.0.1:{first.port}")
    finally:
        first.stop(0)

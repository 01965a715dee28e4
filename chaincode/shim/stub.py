"""The Stub the contract sees on a real peer: every ledger access is a message to the peer.

One `PeerStub` per transaction. Each call sends one ChaincodeMessage for this transaction's
(channel, txid) through the handler and blocks until the peer answers (RESPONSE or ERROR), as
fabric-chaincode-go's `ChaincodeStub` does. Range and history results arrive in pages
(QueryResponse with `has_more` and an iterator id): the rest is fetched with QUERY_STATE_NEXT, and
an iterator left early is closed with QUERY_STATE_CLOSE.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fabric_protos.ledger.queryresult import kv_query_result_pb2
from fabric_protos.peer import chaincode_event_pb2
from fabric_protos.peer import chaincode_shim_pb2 as shim

from chaincode.shim.errors import PeerError, ShimError
from chaincode.shim.proposal import ProposalInfo

Msg = shim.ChaincodeMessage
Call = Callable[[Msg], Msg]
"""Send one message for a transaction and return the peer's answer."""


class PeerStub:
    """Implements `chaincode.stub.Stub` by asking the peer over the chaincode stream."""

    def __init__(
        self,
        call: Call,
        *,
        channel_id: str,
        tx_id: str,
        args: list[bytes],
        proposal: ProposalInfo | None,
    ) -> None:
        self._call = call
        self._channel_id = channel_id
        self._tx_id = tx_id
        self._args = [a.decode("utf-8", errors="replace") for a in args]
        self._proposal = proposal
        self._finished = False
        self.event: chaincode_event_pb2.ChaincodeEvent | None = None

    # -- transaction facts ----------------------------------------------------------------------

    def get_function_and_parameters(self) -> tuple[str, list[str]]:
        if not self._args:
            return "", []
        return self._args[0], list(self._args[1:])

    def get_tx_id(self) -> str:
        return self._tx_id

    def get_channel_id(self) -> str:
        return self._channel_id

    def get_tx_timestamp(self) -> int:
        return self._require_proposal().timestamp

    def get_creator(self) -> tuple[str, bytes]:
        proposal = self._require_proposal()
        return proposal.msp_id, proposal.certificate

    def _require_proposal(self) -> ProposalInfo:
        if self._proposal is None:
            raise ShimError("the peer sent this transaction without a signed proposal")
        return self._proposal

    # -- state ----------------------------------------------------------------------------------

    def get_state(self, key: str) -> bytes | None:
        answer = self._ask(shim.ChaincodeMessage.GET_STATE, shim.GetState(key=key))
        return bytes(answer) or None

    def put_state(self, key: str, value: bytes) -> None:
        self._ask(shim.ChaincodeMessage.PUT_STATE, shim.PutState(key=key, value=value))

    def del_state(self, key: str) -> None:
        self._ask(shim.ChaincodeMessage.DEL_STATE, shim.DelState(key=key))

    def get_state_by_range(self, start_key: str, end_key: str) -> Iterator[tuple[str, bytes]]:
        request = shim.GetStateByRange(startKey=start_key or "\x01", endKey=end_key)
        for raw in self._pages(shim.ChaincodeMessage.GET_STATE_BY_RANGE, request):
            kv = kv_query_result_pb2.KV.FromString(raw)
            yield kv.key, bytes(kv.value)

    def get_history_for_key(self, key: str) -> Iterator[dict]:
        request = shim.GetHistoryForKey(key=key)
        for raw in self._pages(shim.ChaincodeMessage.GET_HISTORY_FOR_KEY, request):
            mod = kv_query_result_pb2.KeyModification.FromString(raw)
            yield {
                "tx_id": mod.tx_id,
                "timestamp": int(mod.timestamp.seconds),
                "value": bytes(mod.value),
                "is_delete": bool(mod.is_delete),
            }

    def set_event(self, name: str, payload: bytes) -> None:
        if not name:
            raise ShimError("a chaincode event needs a name")
        self.event = chaincode_event_pb2.ChaincodeEvent(
            event_name=name, payload=bytes(payload), tx_id=self._tx_id
        )

    # -- plumbing -------------------------------------------------------------------------------

    def finish(self) -> None:
        """The transaction is over: later calls (e.g. a late iterator close) are dropped."""
        self._finished = True

    def _ask(self, kind: int, request: object) -> bytes:
        if self._finished:
            raise ShimError(f"transaction {self._tx_id} is over; the ledger can no longer be read")
        message = Msg(
            type=kind,
            payload=request.SerializeToString(),  # type: ignore[attr-defined]
            txid=self._tx_id,
            channel_id=self._channel_id,
        )
        answer = self._call(message)
        if answer.type == Msg.RESPONSE:
            return bytes(answer.payload)
        name = Msg.Type.Name(kind)
        if answer.type == Msg.ERROR:
            reason = answer.payload.decode("utf-8", errors="replace")
            raise PeerError(f"the peer refused {name}: {reason}")
        raise PeerError(f"the peer answered {name} with {Msg.Type.Name(answer.type)}")

    def _pages(self, kind: int, request: object) -> Iterator[bytes]:
        page = shim.QueryResponse.FromString(self._ask(kind, request))
        exhausted = False
        try:
            while True:
                for result in page.results:
                    yield bytes(result.resultBytes)
                if not page.has_more:
                    exhausted = True
                    return
                request = shim.QueryStateNext(id=page.id)
                more = self._ask(shim.ChaincodeMessage.QUERY_STATE_NEXT, request)
                page = shim.QueryResponse.FromString(more)
        finally:
            if not exhausted and page.id and not self._finished:
                self._ask(shim.ChaincodeMessage.QUERY_STATE_CLOSE, shim.QueryStateClose(id=page.id))

"""Fabric's Deliver service from both sides: the signed seek request, the filtered block, and a
block reader that reads a channel's blocks from a Fabric peer or from devnet by one code path.

A seek request is an Envelope of type DELIVER_SEEK_INFO whose data is a `SeekInfo` (start, stop,
behaviour), signed by the reader: the peer answers with the blocks, then a `Status`
(`common_pb2.Status`, SUCCESS when the stop block was sent), as `common/deliver/deliver.go`
does. A filtered block keeps, per transaction, its id, type, validation code and chaincode
event names (no payloads, no read-write sets), as `core/peer/deliverevents.go` builds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import events_pb2, events_pb2_grpc, transaction_pb2

from network.errors import DeliverError
from network.protoutil import (
    ENDORSER_TRANSACTION,
    Sign,
    block_tx_filter,
    compute_tx_id,
    new_nonce,
    now_timestamp,
    sha256,
    unpack_transaction,
)

if TYPE_CHECKING:
    from network.gateway.gateway import Gateway

MAX_BLOCK = 2**64 - 1
"""A stop position no chain reaches: read until the caller closes the stream."""

Position = int | Literal["oldest", "newest", "next"]


def seek_position(position: Position) -> ab_pb2.SeekPosition:
    if position == "oldest":
        return ab_pb2.SeekPosition(oldest=ab_pb2.SeekOldest())
    if position == "newest":
        return ab_pb2.SeekPosition(newest=ab_pb2.SeekNewest())
    if position == "next":
        return ab_pb2.SeekPosition(next_commit=ab_pb2.SeekNextCommit())
    return ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=int(position)))


def seek_envelope(
    channel_id: str,
    creator: bytes,
    sign: Sign,
    start: Position,
    stop: Position = MAX_BLOCK,
    *,
    wait: bool = True,
) -> common_pb2.Envelope:
    """The signed DELIVER_SEEK_INFO envelope of Fabric's SDKs (`protoutil.CreateSignedEnvelope`).

    `wait`: BLOCK_UNTIL_READY (wait for blocks not yet committed) or FAIL_IF_NOT_READY."""
    nonce = new_nonce()
    seek = ab_pb2.SeekInfo(
        start=seek_position(start),
        stop=seek_position(stop),
        behavior=ab_pb2.SeekInfo.BLOCK_UNTIL_READY if wait else ab_pb2.SeekInfo.FAIL_IF_NOT_READY,
    )
    header = common_pb2.Header(
        channel_header=common_pb2.ChannelHeader(
            type=common_pb2.HeaderType.DELIVER_SEEK_INFO,
            channel_id=channel_id,
            tx_id=compute_tx_id(nonce, creator),
            timestamp=now_timestamp(),
        ).SerializeToString(),
        signature_header=common_pb2.SignatureHeader(
            creator=creator, nonce=nonce
        ).SerializeToString(),
    )
    payload = common_pb2.Payload(header=header, data=seek.SerializeToString()).SerializeToString()
    return common_pb2.Envelope(payload=payload, signature=sign(sha256(payload)))


def filtered_block(block: common_pb2.Block) -> events_pb2.FilteredBlock:
    """`toFilteredBlock`: tx ids, types, validation codes and event names of a block."""
    out = events_pb2.FilteredBlock(number=block.header.number)
    codes = block_tx_filter(block)
    for index, raw in enumerate(block.data.data):
        envelope = common_pb2.Envelope.FromString(raw)
        payload = common_pb2.Payload.FromString(envelope.payload)
        if not payload.HasField("header"):
            continue
        chdr = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        out.channel_id = chdr.channel_id
        ftx = events_pb2.FilteredTransaction(
            txid=chdr.tx_id,
            type=chdr.type,
            tx_validation_code=codes[index] if index < len(codes) else 0,
        )
        if chdr.type == ENDORSER_TRANSACTION:
            ftx.transaction_actions.SetInParent()
            event = _event_of(envelope)
            if event is not None:
                action = ftx.transaction_actions.chaincode_actions.add()
                action.chaincode_event.tx_id = event.tx_id
                action.chaincode_event.chaincode_id = event.chaincode_id
                action.chaincode_event.event_name = event.event_name
        out.filtered_transactions.append(ftx)
    return out


def _event_of(envelope: common_pb2.Envelope):  # type: ignore[no-untyped-def]
    from fabric_protos.peer import chaincode_event_pb2

    try:
        action = unpack_transaction(envelope).chaincode_action
        event = chaincode_event_pb2.ChaincodeEvent.FromString(action.events)
    except Exception:
        return None
    return event if event.chaincode_id else None


@dataclass(frozen=True)
class BlockTransaction:
    """One transaction of a block, as an auditor reads it."""

    block_number: int
    index: int
    tx_id: str
    validation_code: int

    @property
    def code_name(self) -> str:
        return transaction_pb2.TxValidationCode.Name(self.validation_code)


def block_transactions(block: common_pb2.Block) -> list[BlockTransaction]:
    """The transactions of a full block with their validation codes, in block order."""
    return [
        BlockTransaction(block.header.number, t_index, t.txid, t.tx_validation_code)
        for t_index, t in enumerate(filtered_block(block).filtered_transactions)
    ]


class BlockReader:
    """Reads a channel's blocks through the Deliver service of the gateway's peer (or devnet),
    signed as the gateway's identity (which the channel's Readers policy must name)."""

    def __init__(self, gateway: Gateway, channel_id: str) -> None:
        self._gateway = gateway
        self._channel_id = channel_id
        self._stub = events_pb2_grpc.DeliverStub(gateway.grpc_channel)

    def _request(self, start: Position, stop: Position, wait: bool) -> common_pb2.Envelope:
        gw = self._gateway
        return seek_envelope(self._channel_id, gw.creator, gw.sign, start, stop, wait=wait)

    def blocks(
        self,
        start: Position = "oldest",
        stop: Position = MAX_BLOCK,
        *,
        wait: bool = True,
        timeout: float | None = None,
    ) -> Iterator[common_pb2.Block]:
        """Full blocks from `start` to `stop` (inclusive); endless by default (close it)."""
        for response in self._stream(self._stub.Deliver, self._request(start, stop, wait), timeout):
            yield response.block

    def filtered_blocks(
        self,
        start: Position = "oldest",
        stop: Position = MAX_BLOCK,
        *,
        wait: bool = True,
        timeout: float | None = None,
    ) -> Iterator[events_pb2.FilteredBlock]:
        for response in self._stream(
            self._stub.DeliverFiltered, self._request(start, stop, wait), timeout
        ):
            yield response.filtered_block

    def block(self, number: int, *, timeout: float = 30.0) -> common_pb2.Block:
        """Block `number`, which must exist (NOT_FOUND otherwise)."""
        for block in self.blocks(number, number, wait=False, timeout=timeout):
            return block
        raise DeliverError(f"block {number} was not delivered", "NOT_FOUND")

    def height(self, *, timeout: float = 30.0) -> int:
        """The chain's height: one more than the newest block's number."""
        for block in self.blocks("newest", "newest", wait=False, timeout=timeout):
            return block.header.number + 1
        raise DeliverError("the newest block was not delivered", "NOT_FOUND")

    def _stream(
        self, method, request: common_pb2.Envelope, timeout: float | None
    ) -> Iterator[events_pb2.DeliverResponse]:  # type: ignore[no-untyped-def]
        call = method(iter([request]), timeout=timeout)
        try:
            for response in call:
                kind = response.WhichOneof("Type")
                if kind == "status":
                    if response.status != common_pb2.Status.SUCCESS:
                        name = common_pb2.Status.Name(response.status)
                        raise DeliverError(
                            f"reading blocks of {self._channel_id}: the peer answered {name}",
                            name,
                        )
                    return
                yield response
        except grpc.RpcError as exc:
            raise DeliverError(
                f"reading blocks of {self._channel_id} failed: {exc.code().name}: {exc.details()}"
            ) from exc
        finally:
            call.cancel()

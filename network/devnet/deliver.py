"""Fabric's peer `Deliver` service (`protos.Deliver`), served by devnet from its block store.

For each signed seek envelope a client sends on the stream, as `common/deliver/deliver.go` does:
parse it (BAD_REQUEST when malformed, or its timestamp is more than the timewindow from now),
find the channel (NOT_FOUND), check the reader (a valid identity of a channel MSP that the
channel's Readers policy names, whose signature verifies and whose certificate has not expired:
FORBIDDEN), then send blocks from start to stop (oldest, newest, a number, or the next commit)
and a final SUCCESS status. With BLOCK_UNTIL_READY a block not yet committed is waited for;
with FAIL_IF_NOT_READY it ends the stream with NOT_FOUND. The reader is re-checked before each
block, so a certificate that expires (or is revoked) mid-stream ends it with FORBIDDEN.

`DeliverFiltered` sends filtered blocks; `DeliverWithPrivateData` sends each block with an
empty private data map (devnet has no private data collections), as Fabric does for a channel
without collections.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import events_pb2, events_pb2_grpc

from network.deliver import filtered_block
from network.devnet import acl
from network.devnet.acl import PolicyNotSatisfied
from network.devnet.ledger import DevnetLedger
from network.devnet.msp import AccessDenied, verify_signature
from network.devnet.service import TIMEWINDOW_SECONDS

log = logging.getLogger("network.devnet")

Status = common_pb2.Status
Respond = Callable[[common_pb2.Block], events_pb2.DeliverResponse]


class _Refused(Exception):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


def _full(block: common_pb2.Block) -> events_pb2.DeliverResponse:
    return events_pb2.DeliverResponse(block=block)


def _filtered(block: common_pb2.Block) -> events_pb2.DeliverResponse:
    return events_pb2.DeliverResponse(filtered_block=filtered_block(block))


def _with_private_data(block: common_pb2.Block) -> events_pb2.DeliverResponse:
    return events_pb2.DeliverResponse(
        block_and_private_data=events_pb2.BlockAndPrivateData(block=block)
    )


class DeliverService(events_pb2_grpc.DeliverServicer):
    def __init__(self, ledger: DevnetLedger) -> None:
        self.ledger = ledger

    async def Deliver(
        self, requests: AsyncIterator[common_pb2.Envelope], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[events_pb2.DeliverResponse]:
        async for response in self._serve(requests, _full):
            yield response

    async def DeliverFiltered(
        self, requests: AsyncIterator[common_pb2.Envelope], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[events_pb2.DeliverResponse]:
        async for response in self._serve(requests, _filtered):
            yield response

    async def DeliverWithPrivateData(
        self, requests: AsyncIterator[common_pb2.Envelope], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[events_pb2.DeliverResponse]:
        async for response in self._serve(requests, _with_private_data):
            yield response

    async def _serve(
        self, requests: AsyncIterator[common_pb2.Envelope], respond: Respond
    ) -> AsyncIterator[events_pb2.DeliverResponse]:
        async for envelope in requests:
            status = Status.SUCCESS
            try:
                async for block in self._blocks(envelope):
                    yield respond(block)
            except _Refused as exc:
                log.info("deliver request refused (%s): %s", Status.Name(exc.status), exc)
                status = exc.status
            yield events_pb2.DeliverResponse(status=status)
            if status != Status.SUCCESS:
                return

    def _check_reader(self, envelope: common_pb2.Envelope, creator_bytes: bytes) -> None:
        ledger = self.ledger
        try:
            creator = ledger.validator.creator(creator_bytes)
            ledger.acl.check(acl.DELIVER, creator.msp_id, creator.identity.role)
            verify_signature(creator.public_key, envelope.payload, envelope.signature, "request")
        except (AccessDenied, PolicyNotSatisfied) as exc:
            raise _Refused(Status.FORBIDDEN, str(exc)) from exc

    async def _blocks(self, envelope: common_pb2.Envelope) -> AsyncIterator[common_pb2.Block]:
        ledger = self.ledger
        try:
            payload = common_pb2.Payload.FromString(envelope.payload)
            if not payload.HasField("header"):
                raise ValueError("envelope has no header")
            chdr = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
            shdr = common_pb2.SignatureHeader.FromString(payload.header.signature_header)
        except Exception as exc:
            raise _Refused(Status.BAD_REQUEST, f"malformed envelope: {exc}") from exc
        if not chdr.HasField("timestamp"):
            raise _Refused(Status.BAD_REQUEST, "channel header must contain a timestamp")
        if abs(chdr.timestamp.seconds - time.time()) > TIMEWINDOW_SECONDS:
            raise _Refused(Status.BAD_REQUEST, "envelope timestamp is outside the timewindow")
        if chdr.channel_id != ledger.channel_id:
            raise _Refused(Status.NOT_FOUND, f"channel '{chdr.channel_id}' not found")
        try:
            seek = ab_pb2.SeekInfo.FromString(payload.data)
        except Exception as exc:
            raise _Refused(Status.BAD_REQUEST, f"malformed seek info: {exc}") from exc
        self._check_reader(envelope, shdr.creator)
        if not seek.HasField("start") or not seek.HasField("stop"):
            raise _Refused(Status.BAD_REQUEST, "seek info must have a start and a stop")
        number = self._start(seek.start)
        stop = self._stop(seek, number)
        while True:
            height = ledger.height
            if number >= height:
                if seek.behavior == ab_pb2.SeekInfo.FAIL_IF_NOT_READY:
                    raise _Refused(Status.NOT_FOUND, f"block {number} is not committed yet")
                await ledger.wait_for_height(number)
            block = ledger.store.block(number)
            if block is None:
                raise _Refused(Status.NOT_FOUND, f"block {number} not found")
            self._check_reader(envelope, shdr.creator)
            if seek.content_type == ab_pb2.SeekInfo.HEADER_WITH_SIG and not _is_config_block(block):
                block = common_pb2.Block(header=block.header, metadata=block.metadata)
            yield block
            if number == stop:
                return
            number += 1

    def _start(self, start: ab_pb2.SeekPosition) -> int:
        """`FileLedger.Iterator`: the first block number (NOT_FOUND beyond the height)."""
        height = self.ledger.height
        kind = start.WhichOneof("Type")
        if kind == "oldest":
            return 0
        if kind == "newest":
            return height - 1
        if kind == "specified":
            if start.specified.number > height:
                raise _Refused(Status.NOT_FOUND, f"block {start.specified.number} not found")
            return start.specified.number
        if kind == "next_commit":
            return height
        raise _Refused(Status.NOT_FOUND, "unknown start position")

    def _stop(self, seek: ab_pb2.SeekInfo, number: int) -> int:
        kind = seek.stop.WhichOneof("Type")
        if kind == "oldest":
            return number
        if kind == "newest":
            if seek.start == seek.stop:
                return number
            return self.ledger.height - 1
        if kind == "specified":
            if seek.stop.specified.number < number:
                raise _Refused(
                    Status.BAD_REQUEST,
                    f"start number {number} greater than stop number {seek.stop.specified.number}",
                )
            return seek.stop.specified.number
        return -1  # next_commit as a stop: Fabric never matches it, the stream runs on


def _is_config_block(block: common_pb2.Block) -> bool:
    if len(block.data.data) != 1:
        return False
    try:
        envelope = common_pb2.Envelope.FromString(block.data.data[0])
        payload = common_pb2.Payload.FromString(envelope.payload)
        chdr = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
    except Exception:
        return False
    return chdr.type == common_pb2.HeaderType.CONFIG

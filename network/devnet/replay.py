"""Re-derive, from a block's own transactions, what devnet stored beside it (pure).

A committed block holds each transaction's envelope (with its endorsed read-write set and
chaincode event) and, in metadata, each one's validation code. Replaying the write sets of the
VALID transactions in block order reproduces the world state, the key history, the tx index and
the events exactly as the commit path wrote them — what `alliance network repair` rebuilds and
what `alliance audit chain` compares against the stored rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabric_protos.common import common_pb2
from fabric_protos.peer import chaincode_event_pb2
from google.protobuf.message import DecodeError

from network.devnet.store import TxRecord
from network.errors import LedgerIntegrityError
from network.protoutil import (
    VALID,
    MalformedMessage,
    ReadWriteSet,
    Version,
    block_tx_filter,
    unpack_transaction,
)


@dataclass(frozen=True)
class ReplayedBlock:
    txs: list[TxRecord]
    updates: dict[str, tuple[bytes | None, Version]]
    history: list[tuple[str, int, bytes | None]]


def replay_block(block: common_pb2.Block) -> ReplayedBlock:
    """The records, state updates and history entries committing `block` produced.

    Block 0 (the channel's genesis config) changes nothing. A transaction is named by its
    channel header's tx id (what the orderer read); only VALID ones are unpacked for their
    write sets and events. Raises LedgerIntegrityError when a transaction cannot be read (the
    block's data hash already vouched for its bytes, so devnet committed something it should
    not have)."""
    number = block.header.number
    if number == 0:
        return ReplayedBlock([], {}, [])
    codes = block_tx_filter(block)
    txs: list[TxRecord] = []
    updates: dict[str, tuple[bytes | None, Version]] = {}
    history: list[tuple[str, int, bytes | None]] = []
    for txnum, raw in enumerate(block.data.data):
        valid = codes[txnum] == VALID
        writes: dict[str, bytes | None] = {}
        event = None
        try:
            envelope = common_pb2.Envelope.FromString(raw)
            payload = common_pb2.Payload.FromString(envelope.payload)
            header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
            if valid:
                tx = unpack_transaction(envelope)
                for ns in ReadWriteSet.from_bytes(tx.chaincode_action.results):
                    writes.update(ns.writes)
                event = _event(tx.chaincode_action.events)
        except (MalformedMessage, DecodeError, ValueError) as exc:
            raise LedgerIntegrityError(
                f"block {number}: transaction {txnum} cannot be replayed ({exc})"
            ) from exc
        txs.append(TxRecord(header.tx_id, txnum, codes[txnum], header.timestamp.seconds, event))
        for key, value in writes.items():
            updates[key] = (value, (number, txnum))
            history.append((key, txnum, value))
    return ReplayedBlock(txs, updates, history)


def _event(raw: bytes) -> tuple[str, str, bytes] | None:
    """A valid transaction's chaincode event, as the commit path records it (none when absent
    or unreadable)."""
    if not raw:
        return None
    try:
        ev = chaincode_event_pb2.ChaincodeEvent.FromString(raw)
    except DecodeError:
        return None
    return (ev.chaincode_id, ev.event_name, ev.payload)

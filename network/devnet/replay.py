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

    Block 0 (the channel's genesis config) changes nothing. Raises LedgerIntegrityError when a
    transaction of the block cannot be read (the block's data hash already vouched for it, so
    that means devnet committed something it should not have)."""
    number = block.header.number
    if number == 0:
        return ReplayedBlock([], {}, [])
    codes = block_tx_filter(block)
    txs: list[TxRecord] = []
    updates: dict[str, tuple[bytes | None, Version]] = {}
    history: list[tuple[str, int, bytes | None]] = []
    for txnum, raw in enumerate(block.data.data):
        try:
            tx = unpack_transaction(common_pb2.Envelope.FromString(raw))
            valid = codes[txnum] == VALID
            writes: dict[str, bytes | None] = {}
            event = None
            if valid:
                for ns in ReadWriteSet.from_bytes(tx.chaincode_action.results):
                    writes.update(ns.writes)
                if tx.chaincode_action.events:
                    ev = chaincode_event_pb2.ChaincodeEvent.FromString(tx.chaincode_action.events)
                    event = (ev.chaincode_id, ev.event_name, ev.payload)
        except (MalformedMessage, DecodeError, ValueError) as exc:
            raise LedgerIntegrityError(
                f"block {number}: transaction {txnum} cannot be replayed ({exc})"
            ) from exc
        stamp = tx.channel_header.timestamp.seconds
        txs.append(TxRecord(tx.tx_id, txnum, codes[txnum], stamp, event))
        for key, value in writes.items():
            updates[key] = (value, (number, txnum))
            history.append((key, txnum, value))
    return ReplayedBlock(txs, updates, history)

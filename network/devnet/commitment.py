"""Devnet's per-block state commitment: what ties the world state, history, tx index and events
to the chain (pure: no I/O).

Each block's metadata slot COMMIT_HASH holds, as Fabric's peer does, a `common.Metadata` whose
value chains over everything the peer derived from the block:

    commit[n] = sha256(DOMAIN ‖ commit[n-1] ‖ header_hash[n] ‖ sha256(validation codes)
                       ‖ sha256(tx index rows) ‖ sha256(state changes) ‖ sha256(events))

with commit[-1] = b"". The state changes are every valid write of the block as (txnum, key, tx id,
timestamp, value or delete) in (txnum, key) order — the key history — and the world state is the
last change of each key. So one pass in block order re-derives every commitment from the stored
rows, and a world-state row must equal its key's last change: a flipped byte anywhere is named
by block (or by key). A chained hash of the changes (rather than a Merkle root of the whole
state) costs O(changes) at commit, needs no tree on disk, and still pins every row; the price
is that a proof about one key needs the history, which devnet keeps anyway.

Not a signature: whoever can rewrite the whole file can recompute it. It catches corruption and
single edits; a real network's orderer signs its blocks.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from fabric_protos.common import common_pb2

DOMAIN = b"alliance-devnet-commit-v1"
COMMIT_HASH = common_pb2.BlockMetadataIndex.COMMIT_HASH

IndexRow = tuple[int, str, int]
"""(txnum, tx id, validation code)"""
ChangeRow = tuple[int, bytes, str, int, bytes | None]
"""(txnum, key as UTF-8, tx id, timestamp, value or None for a delete)"""
EventRow = tuple[int, str, str, str, bytes]
"""(txnum, tx id, chaincode, event name, payload)"""

_U64 = struct.Struct(">Q")
_U32 = struct.Struct(">I")


def _b(data: bytes) -> bytes:
    return _U32.pack(len(data)) + data


def index_digest(rows: Iterable[IndexRow]) -> bytes:
    h = hashlib.sha256()
    for txnum, tx_id, code in rows:
        h.update(_U64.pack(txnum) + _b(tx_id.encode()) + _U32.pack(code))
    return h.digest()


def changes_digest(rows: Iterable[ChangeRow]) -> bytes:
    h = hashlib.sha256()
    for txnum, key, tx_id, timestamp, value in rows:
        stamp = _U64.pack(timestamp & (2**64 - 1))
        h.update(_U64.pack(txnum) + _b(key) + _b(tx_id.encode()) + stamp)
        h.update(b"\x00" if value is None else b"\x01" + _b(value))
    return h.digest()


def events_digest(rows: Iterable[EventRow]) -> bytes:
    h = hashlib.sha256()
    for txnum, tx_id, chaincode, name, payload in rows:
        h.update(
            _U64.pack(txnum)
            + _b(tx_id.encode())
            + _b(chaincode.encode())
            + _b(name.encode())
            + _b(payload)
        )
    return h.digest()


def chain(
    previous: bytes,
    header_hash: bytes,
    tx_filter: bytes,
    index: bytes,
    changes: bytes,
    events: bytes,
) -> bytes:
    """commit[n] from commit[n-1] and the digests of block n's derived rows."""
    return hashlib.sha256(
        DOMAIN
        + _b(previous)
        + header_hash
        + hashlib.sha256(tx_filter).digest()
        + index
        + changes
        + events
    ).digest()


def stored_commit(block: common_pb2.Block) -> bytes:
    """The commitment recorded in a block's metadata (b"" when it has none)."""
    slots = block.metadata.metadata
    if len(slots) <= COMMIT_HASH or not slots[COMMIT_HASH]:
        return b""
    return common_pb2.Metadata.FromString(slots[COMMIT_HASH]).value


def record_commit(block: common_pb2.Block, commit: bytes) -> None:
    slots = block.metadata.metadata
    while len(slots) <= COMMIT_HASH:
        slots.append(b"")
    slots[COMMIT_HASH] = common_pb2.Metadata(value=commit).SerializeToString()


@dataclass(frozen=True)
class Checkpoint:
    """How far the ledger was last fully verified, so start-up re-derives only newer blocks.

    `height` blocks were verified; the last one had `block_hash` and commitment `commit`;
    `metadata` chains over the metadata of all of them (validation codes, commitments), so
    older blocks' metadata is still checked at every start. `seal` is a hash over the rest:
    a checkpoint whose seal does not verify is ignored (the whole ledger is re-verified); a
    sealed one the chain no longer matches means the chain changed, and is reported."""

    height: int
    block_hash: bytes
    commit: bytes
    metadata: bytes
    seal: bytes = b""

    def sealed(self) -> Checkpoint:
        return Checkpoint(self.height, self.block_hash, self.commit, self.metadata, self._seal())

    def is_sealed(self) -> bool:
        return self.seal == self._seal()

    def _seal(self) -> bytes:
        return hashlib.sha256(
            DOMAIN
            + b"checkpoint"
            + _U64.pack(self.height)
            + _b(self.block_hash)
            + _b(self.commit)
            + _b(self.metadata)
        ).digest()


def metadata_step(previous: bytes, number: int, block: common_pb2.Block) -> bytes:
    """The running digest over blocks' metadata, extended by block `number`."""
    return hashlib.sha256(
        previous + _U64.pack(number) + block.metadata.SerializeToString()
    ).digest()

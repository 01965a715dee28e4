"""Devnet's peer and orderer in one object: endorse, accept for ordering, commit, notify.

Everything runs on one asyncio event loop (the gRPC handlers, the block cutter, the commit loop)
except the SQLite write of each block, which runs on a single commit thread so the loop keeps
serving while the disk syncs. The world state is read from SQLite through a bounded cache
whose view changes only on the loop, after its block is durable (the keys of the block being
written are pinned to their old entries meanwhile); a simulation therefore always reads
committed state, and a CommitStatus answer is never given for a block that is not on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from fabric_protos.common import common_pb2
from fabric_protos.peer import chaincode_event_pb2, proposal_response_pb2

from network.devnet.acl import ChannelAcl
from network.devnet.endorser import ContractRouter, Endorser, PeerIdentity
from network.devnet.msp import CreatorValidator
from network.devnet.orderer import Orderer
from network.devnet.store import LedgerStore, TxRecord
from network.devnet.txcheck import (
    Broadcast,
    EndorsementCheck,
    Rejected,
    check_broadcast,
    committer_checks,
)
from network.devnet.validation import Candidate, validate_block
from network.devnet.world_state import CachedWorldState
from network.protoutil import (
    VALID,
    ReadWriteSet,
    block_header_hash,
    config_envelope,
    new_block,
)

__all__ = ["DevnetLedger", "OrderedTx", "Rejected", "TxStatus"]

log = logging.getLogger("network.devnet")

RECENT_STATUS_LIMIT = 10_000
"""Commit statuses kept in memory for CommitStatus calls; older ones are read from SQLite."""


@dataclass(frozen=True)
class OrderedTx:
    tx_id: str
    envelope: bytes
    rwset: ReadWriteSet
    timestamp: int
    event: tuple[str, str, bytes] | None
    endorsed: bool = True
    """The endorsements satisfy the endorsement policy (else ENDORSEMENT_POLICY_FAILURE)."""
    code: int = VALID
    """What the committer's checks before MVCC found (txcheck.committer_checks)."""


@dataclass(frozen=True)
class TxStatus:
    block_number: int
    code: int


class DevnetLedger:
    def __init__(
        self,
        store: LedgerStore,
        validator: CreatorValidator,
        peers: dict[str, PeerIdentity],
        router_factory: Callable[[], ContractRouter],
        *,
        channel_id: str,
        chaincode: str,
        batch_size: int,
        batch_timeout: float,
        orderer_msps: frozenset[str] = frozenset(),
    ) -> None:
        self.store = store
        self.validator = validator
        self.channel_id = channel_id
        self.chaincode = chaincode
        self.state = CachedWorldState(store)
        self.endorser = Endorser(peers, self.state, store.history, router_factory, chaincode)
        self.acl = ChannelAcl(channel_id, orderer_msps)
        self.endorsements = EndorsementCheck(peers, self.endorser.policy)
        self.height = store.height()
        self.last_hash = store.last_hash()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="devnet-commit")
        self._queue: asyncio.Queue[list[OrderedTx]] = asyncio.Queue()
        self.orderer: Orderer[OrderedTx] = Orderer(
            batch_size, batch_timeout, self._queue.put_nowait
        )
        self._inflight: set[str] = set()
        self._recent: dict[str, TxStatus] = {}
        self._waiters: dict[str, list[asyncio.Future[TxStatus]]] = {}
        self._new_block = asyncio.Event()
        self.commit_task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.height == 0:
            await self._write_genesis()
        self.commit_task = asyncio.get_running_loop().create_task(self._commit_loop())

    async def drain(self) -> None:
        """Refuse new submissions; order and commit everything already accepted."""
        self._stopping = True
        self.orderer.cut()
        await self._queue.join()

    async def close(self) -> None:
        """Stop the commit loop and its thread (after `drain`)."""
        if self.commit_task is not None:
            self.commit_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.commit_task
        self._executor.shutdown(wait=True)

    async def _write_genesis(self) -> None:
        envelope = config_envelope(self.channel_id)
        block = new_block(0, b"", [envelope], [0])
        block_hash = block_header_hash(block.header)
        await asyncio.get_running_loop().run_in_executor(
            self._executor, self.store.commit_block, block, block_hash, [], {}, []
        )
        self.height, self.last_hash = 1, block_hash

    # -- endorsement ----------------------------------------------------------------------------


    def reload_peers(self, peers: dict[str, PeerIdentity]) -> None:
        """Endorse with `peers` (an org's peer0 was reissued by `alliance keys renew-ca`); keep
        accepting endorsements of the earlier peer identities while their certificates are
        still valid (transactions endorsed before the switch still commit), drop them after."""
        from network.devnet.msp import AccessDenied

        kept = []
        for peer in self.endorsements.known_peers():
            try:
                self.validator.creator(peer.serialized)
            except AccessDenied:
                continue
            kept.append(peer)
        self.endorser.set_peers(peers)
        self.endorsements.set_peers([*kept, *peers.values()])

    def remember_endorsement(
        self, prp_bytes: bytes, endorsements: tuple[proposal_response_pb2.Endorsement, ...]
    ) -> None:
        """Note the signatures devnet just made, so commit need not verify them again."""
        self.endorsements.remember(prp_bytes, endorsements)

    def is_known_tx(self, tx_id: str) -> bool:
        return tx_id in self._inflight or self.tx_status(tx_id) is not None

    # -- ordering -------------------------------------------------------------------------------

    def submit(self, envelope: common_pb2.Envelope, channel_id: str | None = None) -> str:
        """Broadcast: the orderer's checks (Rejected when it refuses), then order the envelope.

        Whatever the orderer accepts is committed with a validation code, as on Fabric: a replay
        of a known transaction id is ordered and committed as DUPLICATE_TXID, a forged or
        missing endorsement as ENDORSEMENT_POLICY_FAILURE, a bad header as BAD_COMMON_HEADER."""
        if self._stopping:
            raise Rejected("unavailable", "devnet is shutting down; retry after it restarts")
        if channel_id is not None and channel_id != self.channel_id:
            raise Rejected("no_channel", f"channel '{channel_id}' does not exist")
        seen = check_broadcast(envelope, self.validator, self.acl)
        ordered = self._ordered(envelope, seen)
        self._inflight.add(ordered.tx_id)
        self.orderer.enqueue(ordered)
        return ordered.tx_id

    def _ordered(self, envelope: common_pb2.Envelope, seen: Broadcast) -> OrderedTx:
        checked = committer_checks(envelope, seen, self.chaincode)
        tx = checked.tx
        endorsed = tx is not None and self.endorsements.satisfied(tx)
        event = None
        if tx is not None and tx.chaincode_action.events:
            try:
                ev = chaincode_event_pb2.ChaincodeEvent.FromString(tx.chaincode_action.events)
                event = (ev.chaincode_id, ev.event_name, ev.payload)
            except Exception:
                event = None
        return OrderedTx(
            tx_id=checked.tx_id,
            envelope=envelope.SerializeToString(),
            rwset=checked.rwset,
            timestamp=seen.channel_header.timestamp.seconds,
            event=event,
            endorsed=endorsed,
            code=checked.code,
        )

    # -- commit ---------------------------------------------------------------------------------

    async def _commit_loop(self) -> None:
        while True:
            batch = await self._queue.get()
            try:
                await self._commit(batch)
            except Exception:
                log.exception("committing a block failed; devnet stops accepting transactions")
                self._stopping = True
                for tx in batch:
                    self._inflight.discard(tx.tx_id)
                raise
            finally:
                self._queue.task_done()

    async def _commit(self, batch: list[OrderedTx]) -> None:
        number = self.height
        committed = {t.tx_id for t in batch if self.tx_status(t.tx_id) is not None}
        outcome = validate_block(
            number,
            [Candidate(t.tx_id, t.rwset, t.endorsed, t.code) for t in batch],
            self.state,
            committed,
        )
        block = new_block(number, self.last_hash, [t.envelope for t in batch], outcome.codes)
        block_hash = block_header_hash(block.header)
        records = []
        history: list[tuple[str, int, bytes | None]] = []
        for txnum, (tx, code) in enumerate(zip(batch, outcome.codes, strict=True)):
            valid = code == 0
            records.append(
                TxRecord(tx.tx_id, txnum, code, tx.timestamp, tx.event if valid else None)
            )
            if valid:
                history.extend((k, txnum, v) for k, v in tx.rwset.writes.items())
        self.state.pin(outcome.updates)
        await asyncio.get_running_loop().run_in_executor(
            self._executor,
            self.store.commit_block,
            block,
            block_hash,
            records,
            outcome.updates,
            history,
        )
        self.state.apply_block(outcome.updates)
        self.height, self.last_hash = number + 1, block_hash
        if len(self._recent) > RECENT_STATUS_LIMIT:
            self._recent.clear()
        for record in records:
            status = TxStatus(number, record.code)
            self._recent.setdefault(record.tx_id, status)
            self._inflight.discard(record.tx_id)
            for fut in self._waiters.pop(record.tx_id, ()):
                if not fut.done():
                    fut.set_result(status)
        self._new_block.set()
        self._new_block = asyncio.Event()

    # -- queries --------------------------------------------------------------------------------

    def tx_status(self, tx_id: str) -> TxStatus | None:
        status = self._recent.get(tx_id)
        if status is not None:
            return status
        row = self.store.tx_status(tx_id)
        return None if row is None else TxStatus(*row)

    async def wait_for_commit(self, tx_id: str) -> TxStatus:
        """The transaction's status once committed (waits as long as the caller lets it)."""
        status = self.tx_status(tx_id)
        if status is not None:
            return status
        fut: asyncio.Future[TxStatus] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(tx_id, [])
        waiters.append(fut)
        try:
            return await fut
        finally:
            if fut in waiters:
                waiters.remove(fut)
            if not waiters:
                self._waiters.pop(tx_id, None)

    async def wait_for_height(self, height: int) -> None:
        """Return once the chain is taller than `height` - 1 blocks (i.e. block `height` exists)."""
        while self.height <= height:
            await self._new_block.wait()

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
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from fabric_protos.common import common_pb2
from fabric_protos.peer import chaincode_event_pb2

from network.devnet.endorser import ERROR_THRESHOLD, ContractRouter, Endorser, PeerIdentity
from network.devnet.msp import AccessDenied, CreatorValidator, verify_signature
from network.devnet.orderer import Orderer
from network.devnet.store import LedgerStore, TxRecord
from network.devnet.validation import Candidate, validate_block
from network.devnet.world_state import CachedWorldState
from network.protoutil import (
    MalformedMessage,
    ReadWriteSet,
    UnpackedTransaction,
    block_header_hash,
    compute_tx_id,
    config_envelope,
    new_block,
    sha256,
    unpack_transaction,
)

log = logging.getLogger("network.devnet")

RECENT_LIMIT = 100_000
RECENT_STATUS_LIMIT = 10_000
"""Commit statuses kept in memory for CommitStatus calls; older ones are read from SQLite."""


class Rejected(Exception):
    """A request refused by a rule; `kind` tells the service which gRPC status to use."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "invalid", "forbidden", "bad_request", "duplicate", "not_found"
        self.message = message


@dataclass(frozen=True)
class OrderedTx:
    tx_id: str
    envelope: bytes
    rwset: ReadWriteSet
    timestamp: int
    event: tuple[str, str, bytes] | None
    endorsed: bool = True
    """The endorsements satisfy the endorsement policy (else ENDORSEMENT_POLICY_FAILURE)."""


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
    ) -> None:
        self.store = store
        self.validator = validator
        self.channel_id = channel_id
        self.chaincode = chaincode
        self.state = CachedWorldState(store)
        self.endorser = Endorser(peers, self.state, store.history, router_factory, chaincode)
        self._peers_by_identity = {p.serialized: p for p in peers.values()}
        self.height = store.height()
        self.last_hash = store.last_hash()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="devnet-commit")
        self._queue: asyncio.Queue[list[OrderedTx]] = asyncio.Queue()
        self.orderer: Orderer[OrderedTx] = Orderer(
            batch_size, batch_timeout, self._queue.put_nowait
        )
        self._inflight: set[str] = set()
        self._issued: OrderedDict[str, bytes] = OrderedDict()
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

    def remember_endorsement(self, tx_id: str, prp_bytes: bytes) -> None:
        """Note what was endorsed, so Submit need not re-verify devnet's own signature."""
        self._issued[tx_id] = sha256(prp_bytes)
        if len(self._issued) > RECENT_LIMIT:
            self._issued.popitem(last=False)

    def is_known_tx(self, tx_id: str) -> bool:
        return tx_id in self._inflight or self.tx_status(tx_id) is not None

    # -- ordering -------------------------------------------------------------------------------

    def submit(self, envelope: common_pb2.Envelope) -> str:
        """Check a signed prepared transaction as the orderer and committer would; enqueue it."""
        if self._stopping:
            raise Rejected("unavailable", "devnet is shutting down; retry after it restarts")
        if not envelope.signature:
            raise Rejected("invalid", "prepared transaction must be signed")
        try:
            tx = unpack_transaction(envelope)
        except MalformedMessage as exc:
            raise Rejected("bad_request", str(exc)) from exc
        self._check_header(tx)
        try:
            self.validator.verify(
                tx.creator, envelope.payload, envelope.signature, "transaction envelope"
            )
        except AccessDenied as exc:
            raise Rejected("forbidden", f"SigFilter evaluation failed: {exc}") from exc
        endorsed = self._endorsement_satisfied(tx)
        if self.is_known_tx(tx.tx_id):
            raise Rejected(
                "duplicate",
                f"duplicate transaction found [{tx.tx_id}] (DUPLICATE_TXID): this signed "
                "transaction was already submitted; build a new proposal to run it again",
            )
        ordered = self._ordered(tx, envelope, endorsed)
        self._inflight.add(tx.tx_id)
        self.orderer.enqueue(ordered)
        return tx.tx_id

    def _check_header(self, tx: UnpackedTransaction) -> None:
        if tx.channel_header.channel_id != self.channel_id:
            raise Rejected("not_found", f"channel '{tx.channel_header.channel_id}' not found")
        if compute_tx_id(tx.signature_header.nonce, tx.creator) != tx.tx_id:
            raise Rejected(
                "bad_request",
                f"BAD_PROPOSAL_TXID: transaction id {tx.tx_id} is not sha256(nonce || creator)",
            )
        if tx.action_header != tx.header.signature_header:
            raise Rejected(
                "bad_request", "the transaction action was not created by the envelope's creator"
            )
        if tx.chaincode != self.chaincode:
            raise Rejected("bad_request", f"chaincode {tx.chaincode!r} is not deployed here")
        if tx.proposal_hash != tx.expected_proposal_hash():
            raise Rejected(
                "bad_request",
                "the endorsed proposal hash does not match the transaction's header and payload",
            )
        if tx.chaincode_action.response.status >= ERROR_THRESHOLD:
            raise Rejected("bad_request", "a failed chaincode response cannot be submitted")

    def _endorsement_satisfied(self, tx: UnpackedTransaction) -> bool:
        """Fabric's VSCC: do the valid endorsements come from enough voting members' peers?

        As on Fabric, a transaction that fails is still ordered, and committed as
        ENDORSEMENT_POLICY_FAILURE with none of its writes applied. Endorsements devnet issued
        for exactly this response payload are known valid; others are verified."""
        issued = self._issued.pop(tx.tx_id, None) == sha256(tx.prp_bytes)
        endorsers: set[str] = set()
        for e in tx.endorsements:
            peer = self._peers_by_identity.get(e.endorser)
            if peer is None:
                continue
            if not issued:
                try:
                    verify_signature(
                        peer.public_key, tx.prp_bytes + e.endorser, e.signature, "endorsement"
                    )
                except AccessDenied:
                    continue
            endorsers.add(peer.msp_id)
        return self.endorser.policy.satisfied_by(endorsers)

    def _ordered(
        self, tx: UnpackedTransaction, envelope: common_pb2.Envelope, endorsed: bool
    ) -> OrderedTx:
        try:
            rwsets = ReadWriteSet.from_bytes(tx.chaincode_action.results)
        except MalformedMessage as exc:
            raise Rejected("bad_request", f"BAD_RWSET: {exc}") from exc
        rwset = ReadWriteSet(self.chaincode)
        for ns in rwsets:
            if ns.namespace != self.chaincode:
                raise Rejected("bad_request", f"ILLEGAL_WRITESET: namespace {ns.namespace!r}")
            rwset = ns
        event = None
        if tx.chaincode_action.events:
            ev = chaincode_event_pb2.ChaincodeEvent.FromString(tx.chaincode_action.events)
            event = (ev.chaincode_id, ev.event_name, ev.payload)
        return OrderedTx(
            tx_id=tx.tx_id,
            envelope=envelope.SerializeToString(),
            rwset=rwset,
            timestamp=tx.channel_header.timestamp.seconds,
            event=event,
            endorsed=endorsed,
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
        outcome = validate_block(
            number, [Candidate(t.tx_id, t.rwset, t.endorsed) for t in batch], self.state
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

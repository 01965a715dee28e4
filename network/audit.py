"""The auditor's view of the ledger: who signed each transaction, in which block, and with what
outcome — read through the peer's query system chaincode (`qscc`), as on Fabric.

Devnet answers the same `qscc` functions (GetTransactionByID, GetBlockByTxID, GetChainInfo), so an
audit trail is produced by one code path on either ledger.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabric_protos.common import common_pb2, ledger_pb2
from fabric_protos.peer import transaction_pb2

from alliance.canonical import loads
from alliance.identity import Identity
from alliance.job_changes import describe_change
from network.errors import LedgerIntegrityError
from network.gateway import Network
from network.protoutil import (
    block_data_hash,
    block_header_hash,
    deserialize_identity,
    unpack_transaction,
    validation_code_name,
)

QSCC = "qscc"


@dataclass(frozen=True)
class TransactionRecord:
    """One committed transaction as an auditor sees it."""

    tx_id: str
    block_number: int
    validation_code: str
    timestamp: int
    creator_msp_id: str
    creator_name: str
    creator_role: str
    creator_fingerprint: str
    endorsers: tuple[str, ...]
    """MSP ids of the endorsing peers."""


@dataclass(frozen=True)
class ChainInfo:
    height: int
    current_block_hash: str
    previous_block_hash: str


def chain_info(network: Network) -> ChainInfo:
    raw = network.get_contract(QSCC).evaluate_transaction("GetChainInfo", network.name)
    info = ledger_pb2.BlockchainInfo.FromString(raw)
    return ChainInfo(info.height, info.currentBlockHash.hex(), info.previousBlockHash.hex())


def verify_chain(network: Network) -> ChainInfo:
    """Fetch every block through qscc and check the chain: numbers, header hashes linking each
    block to the one before, data hashes over each block's transactions, and the head hash the
    peer reports. Raises LedgerIntegrityError naming the first block that does not verify."""
    info = chain_info(network)
    qscc = network.get_contract(QSCC)
    previous = b""
    for number in range(info.height):
        block = common_pb2.Block.FromString(
            qscc.evaluate_transaction("GetBlockByNumber", network.name, str(number))
        )
        if block.header.number != number:
            raise LedgerIntegrityError(
                f"block {number}: the peer returned block {block.header.number}"
            )
        if number and block.header.previous_hash != previous:
            raise LedgerIntegrityError(
                f"block {number}: previous hash does not link to block {number - 1}"
            )
        if block_data_hash(block.data.data) != block.header.data_hash:
            raise LedgerIntegrityError(f"block {number}: data hash does not match its transactions")
        previous = block_header_hash(block.header)
    if info.height and previous.hex() != info.current_block_hash:
        raise LedgerIntegrityError("the head block's hash differs from the one the peer reports")
    return info


def transaction_record(network: Network, tx_id: str) -> TransactionRecord:
    """Who signed `tx_id`, which peers endorsed it, its block and validation code."""
    qscc = network.get_contract(QSCC)
    processed = transaction_pb2.ProcessedTransaction.FromString(
        qscc.evaluate_transaction("GetTransactionByID", network.name, tx_id)
    )
    block = common_pb2.Block.FromString(
        qscc.evaluate_transaction("GetBlockByTxID", network.name, tx_id)
    )
    tx = unpack_transaction(processed.transactionEnvelope)
    msp_id, pem = deserialize_identity(tx.creator)
    identity = Identity(msp_id=msp_id, certificate=pem)
    endorsers = tuple(deserialize_identity(e.endorser)[0] for e in tx.endorsements)
    return TransactionRecord(
        tx_id=tx_id,
        block_number=block.header.number,
        validation_code=validation_code_name(processed.validationCode),
        timestamp=tx.channel_header.timestamp.seconds,
        creator_msp_id=msp_id,
        creator_name=identity.common_name,
        creator_role=identity.role,
        creator_fingerprint=identity.fingerprint,
        endorsers=endorsers,
    )


@dataclass(frozen=True)
class TrailEntry:
    """One transaction in a job's life: what it did, who signed it, where it sits in the chain."""

    record: TransactionRecord
    state: str
    action: str
    actor: str
    """The org(s) the contract recorded for the action (e.g. the approver)."""

    def to_dict(self) -> dict[str, object]:
        r = self.record
        return {
            "tx_id": r.tx_id,
            "block": r.block_number,
            "timestamp": r.timestamp,
            "validation": r.validation_code,
            "state": self.state,
            "action": self.action,
            "actor": self.actor,
            "signer": f"{r.creator_name} ({r.creator_role})",
            "signer_msp_id": r.creator_msp_id,
            "signer_fingerprint": r.creator_fingerprint,
            "endorsers": list(r.endorsers),
        }


def job_trail(network: Network, chaincode: str, job_id: str) -> list[TrailEntry]:
    """Every transaction that changed `job_id`, oldest first, with its signer and block."""
    history = loads(network.get_contract(chaincode).evaluate_transaction("JobHistory", job_id))
    entries: list[TrailEntry] = []
    before = None
    for version in reversed(history):
        after = version.get("value") or {}
        action, actor = describe_change(before, after)
        entries.append(
            TrailEntry(
                record=transaction_record(network, version["tx_id"]),
                state=str(after.get("state", "")),
                action=action,
                actor=actor,
            )
        )
        before = after
    return entries

"""The peer's query system chaincode (`qscc`) as devnet answers it: ledger reads for auditors.

Same functions, arguments and answers as Fabric's `core/scc/qscc/query.go`: each takes the channel
name first, answers a serialised protobuf, and refuses with a status-500 message of Fabric's
wording. Query-only: devnet evaluates it and never endorses it.
"""

from __future__ import annotations

from fabric_protos.common import common_pb2, ledger_pb2
from fabric_protos.peer import proposal_response_pb2, transaction_pb2

from network.devnet.store import LedgerStore
from network.errors import LedgerIntegrityError

NAME = "qscc"


def _error(message: str) -> proposal_response_pb2.Response:
    return proposal_response_pb2.Response(status=500, message=message)


def _ok(payload: bytes) -> proposal_response_pb2.Response:
    return proposal_response_pb2.Response(status=200, payload=payload)


def invoke(
    store: LedgerStore,
    channel_id: str,
    height: int,
    last_hash: bytes,
    function: str,
    args: list[bytes],
) -> proposal_response_pb2.Response:
    """Answer one qscc call; a block that fails its integrity check is refused, never served."""
    try:
        return _invoke(store, channel_id, height, last_hash, function, args)
    except LedgerIntegrityError as exc:
        return _error(f"ledger integrity check failed: {exc}")


def _invoke(
    store: LedgerStore,
    channel_id: str,
    height: int,
    last_hash: bytes,
    function: str,
    args: list[bytes],
) -> proposal_response_pb2.Response:
    if not args:
        return _error(f"missing 3rd argument for {function}")
    if args[0].decode(errors="replace") != channel_id:
        return _error(f"Invalid chain ID, {args[0].decode(errors='replace')}")
    arg = args[1] if len(args) > 1 else b""
    if function == "GetChainInfo":
        previous = store.read_block(height - 1) if height else None
        info = ledger_pb2.BlockchainInfo(
            height=height,
            currentBlockHash=last_hash,
            previousBlockHash=previous.header.previous_hash if previous else b"",
        )
        return _ok(info.SerializeToString())
    if function == "GetBlockByNumber":
        if not arg:
            return _error("Block number must not be nil.")
        try:
            number = int(arg.decode())
        except ValueError as exc:
            return _error(f"Failed to parse block number with error {exc}")
        block = store.read_block(number)
        if block is None:
            return _error(
                f"Failed to get block number {number}, error no such block number "
                f"[{number}] in index"
            )
        return _ok(block.SerializeToString())
    if function == "GetBlockByHash":
        if not arg:
            return _error("Block hash must not be nil.")
        block = store.block_by_hash(arg)
        if block is None:
            return _error(
                f"Failed to get block hash {arg.hex()}, error no such block hash in index"
            )
        return _ok(block.SerializeToString())
    if function in ("GetTransactionByID", "GetBlockByTxID"):
        if not arg:
            return _error("Transaction ID must not be nil.")
        tx_id = arg.decode(errors="replace")
        found = store.block_of_tx(tx_id)
        if found is None:
            what = "transaction with id" if function == "GetTransactionByID" else "block for txID"
            return _error(
                f"Failed to get {what} {tx_id}, error no such transaction ID [{tx_id}] in index"
            )
        block, txnum, code = found
        if function == "GetBlockByTxID":
            return _ok(block.SerializeToString())
        processed = transaction_pb2.ProcessedTransaction(
            transactionEnvelope=common_pb2.Envelope.FromString(block.data.data[txnum]),
            validationCode=code,
        )
        return _ok(processed.SerializeToString())
    return _error(f"Requested function {function} not found.")

"""Everything about the ledger network: the Gateway client (`network.gateway`), the block
reader (`network.deliver`), the embedded ledger (`network.devnet`), Fabric's messages
(`network.protoutil`) and the error tree (`network.errors`). Guide: network/README.md.

    from network import connect
    with connect(address, identity=identity, signer=signer, tls_root_certs=ca) as gateway:
        contract = gateway.get_network("alliance").get_contract("alliance")
        contract.submit_transaction("RegisterDataset", spec_json)
"""

import alliance.grpc_engine  # noqa: F401  (gRPC's I/O path, chosen before grpc loads)
from network.deliver import BlockReader
from network.errors import (
    ChaincodeEventsError,
    CheckpointError,
    CommitError,
    CommitStatusError,
    ContractRejected,
    DeliverError,
    DevnetError,
    EndorseError,
    ErrorDetail,
    EvaluateError,
    GatewayError,
    LedgerIntegrityError,
    NetworkError,
    SubmitError,
    Unavailable,
)
from network.gateway import (
    ChaincodeEvent,
    Commit,
    CommitStatus,
    Contract,
    FileCheckpoint,
    Gateway,
    InMemoryCheckpoint,
    Network,
    Proposal,
    Transaction,
    connect,
)

__all__ = [
    "BlockReader",
    "ChaincodeEvent",
    "ChaincodeEventsError",
    "CheckpointError",
    "Commit",
    "CommitError",
    "CommitStatus",
    "CommitStatusError",
    "Contract",
    "ContractRejected",
    "DeliverError",
    "DevnetError",
    "EndorseError",
    "ErrorDetail",
    "EvaluateError",
    "FileCheckpoint",
    "Gateway",
    "GatewayError",
    "InMemoryCheckpoint",
    "LedgerIntegrityError",
    "Network",
    "NetworkError",
    "Proposal",
    "SubmitError",
    "Transaction",
    "Unavailable",
    "connect",
]

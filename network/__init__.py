"""Everything about the ledger network: the Gateway client (`network.gateway`), the embedded
ledger (`network.devnet`), Fabric's messages (`network.protoutil`) and the error tree
(`network.errors`).

    from network import connect
    with connect(address, identity=identity, signer=signer, tls_root_certs=ca) as gateway:
        contract = gateway.get_network("alliance").get_contract("alliance")
        contract.submit_transaction("RegisterDataset", spec_json)
"""

from network.errors import (
    ChaincodeEventsError,
    CheckpointError,
    CommitError,
    CommitStatusError,
    ContractRejected,
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
    "ChaincodeEvent",
    "ChaincodeEventsError",
    "CheckpointError",
    "Commit",
    "CommitError",
    "CommitStatus",
    "CommitStatusError",
    "Contract",
    "ContractRejected",
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

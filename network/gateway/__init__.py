"""The Gateway client: Gateway → Network → Contract → Proposal → Transaction → Commit.

One client for devnet and for a real Fabric peer; errors in `network.gateway.errors`.
"""

from network.gateway.checkpoint import Checkpoint, FileCheckpoint, InMemoryCheckpoint
from network.gateway.commit import Commit, CommitStatus
from network.gateway.contract import Contract
from network.gateway.events import ChaincodeEvent, ChaincodeEventStream
from network.gateway.gateway import Gateway, Timeouts, connect
from network.gateway.network import Network
from network.gateway.proposal import Proposal
from network.gateway.transaction import Transaction

__all__ = [
    "ChaincodeEvent",
    "ChaincodeEventStream",
    "Checkpoint",
    "Commit",
    "CommitStatus",
    "Contract",
    "FileCheckpoint",
    "Gateway",
    "InMemoryCheckpoint",
    "Network",
    "Proposal",
    "Timeouts",
    "Transaction",
    "connect",
]

"""Real Hyperledger Fabric for an alliance: configs, launcher, channel, CCaaS deployment.

from network.fabric import start_fabric, stop_fabric, fabric_status, gateway_endpoint
"""

from network.fabric.errors import FabricBinariesError, FabricCommandError, FabricError
from network.fabric.launcher import (
    FabricNetwork,
    PeerInfo,
    chaincode_committed,
    fabric_status,
    gateway_endpoint,
    remove_fabric_state,
    restart_chaincode,
    restart_peer,
    start_fabric,
    stop_fabric,
)

__all__ = [
    "FabricBinariesError",
    "FabricCommandError",
    "FabricError",
    "FabricNetwork",
    "PeerInfo",
    "chaincode_committed",
    "fabric_status",
    "gateway_endpoint",
    "remove_fabric_state",
    "restart_chaincode",
    "restart_peer",
    "start_fabric",
    "stop_fabric",
]

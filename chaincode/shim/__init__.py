"""The chaincode shim: serves the governance contract to a Fabric peer (chaincode as a service).

Written over `hyperledger-fabric-protos` rather than PyPI's `fabric-chaincode-python`, whose
released handler writes to the stream from several tasks at once and drops chaincode events
(see the project's FABRIC notes). Here every write goes through one queue per peer stream.

    from chaincode import default_router
    from chaincode.shim import ChaincodeServer
    ChaincodeServer(default_router(), chaincode_id=package_id, address="127.0.0.1:9999").start()
"""

from chaincode.shim.errors import PeerError, ShimError, StreamClosed
from chaincode.shim.handler import Handler
from chaincode.shim.proposal import ProposalInfo, parse_signed_proposal
from chaincode.shim.server import ChaincodeServer, ServerTls
from chaincode.shim.stub import PeerStub

__all__ = [
    "ChaincodeServer",
    "Handler",
    "PeerError",
    "PeerStub",
    "ProposalInfo",
    "ServerTls",
    "ShimError",
    "StreamClosed",
    "parse_signed_proposal",
]

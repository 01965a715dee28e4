"""Multi-party computation: transports (in-memory, gRPC with mutual TLS) and protocols.

Public surface: the `Transport` and `MpcProtocol` interfaces, the job context and result types
(outputs as `bytes` or `StreamedOutput`), the two transports, the gRPC server that hosts many
jobs, the protocol registry and `StatsProtocol`.
"""

from node.mpc.framing import FrameHeader, Framer
from node.mpc.grpc_transport import (
    AuthorizePeer,
    ClientTls,
    GrpcTransport,
    MpcServer,
    PeerEndpoint,
    ServerTls,
)
from node.mpc.memory_transport import MemoryNetwork, MemoryTransport
from node.mpc.protocol import (
    InputRef,
    JobContext,
    LocalInputs,
    MpcProtocol,
    OutputValue,
    ProtocolResult,
    StreamedOutput,
    output_bytes,
    write_output,
)
from node.mpc.registry import PROTOCOLS, execute, get_protocol
from node.mpc.stats import StatsProtocol, decode_vector_output
from node.mpc.transport import Transport

__all__ = [
    "PROTOCOLS",
    "AuthorizePeer",
    "ClientTls",
    "FrameHeader",
    "Framer",
    "GrpcTransport",
    "InputRef",
    "JobContext",
    "LocalInputs",
    "MemoryNetwork",
    "MemoryTransport",
    "MpcProtocol",
    "MpcServer",
    "OutputValue",
    "PeerEndpoint",
    "ProtocolResult",
    "ServerTls",
    "StatsProtocol",
    "StreamedOutput",
    "Transport",
    "decode_vector_output",
    "execute",
    "get_protocol",
    "output_bytes",
    "write_output",
]

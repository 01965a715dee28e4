"""The governance contract, written against a small Stub protocol, and the router serving it.

    from chaincode import MemoryStub, default_router
    router = default_router()
    response = MemoryStub().invoke(router, "GetCharter", creator=identity)
"""

import alliance.grpc_engine  # noqa: F401  (gRPC's I/O path, chosen before grpc loads)
from chaincode.contracts import default_router
from chaincode.errors import (
    Conflict,
    ContractError,
    Expired,
    InternalError,
    InvalidArgument,
    NotAuthorized,
    NotFound,
    UnknownFunction,
)
from chaincode.memory_stub import MemoryStub
from chaincode.router import Response, Router

__all__ = [
    "Conflict",
    "ContractError",
    "Expired",
    "InternalError",
    "InvalidArgument",
    "MemoryStub",
    "NotAuthorized",
    "NotFound",
    "Response",
    "Router",
    "UnknownFunction",
    "default_router",
]

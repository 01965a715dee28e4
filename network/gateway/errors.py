"""The Gateway client's errors (one tree, drawn in `network.errors`), and the single place where
gRPC errors become them.

Fabric's gateway explains a failure with a gRPC status and one `ErrorDetail` per peer or orderer;
`from_rpc_error` keeps both, and recognises a contract's refusal ("chaincode response <status>,
<ErrorClass>: <text>") as `ContractRejected`.
"""

from __future__ import annotations

import re

import grpc

from network.errors import (
    ChaincodeEventsError,
    CommitError,
    CommitStatusError,
    ContractRejected,
    EndorseError,
    ErrorDetail,
    EvaluateError,
    GatewayError,
    NetworkError,
    SubmitError,
    Unavailable,
)
from network.rpcstatus import details_from_trailers

__all__ = [
    "ChaincodeEventsError",
    "CommitError",
    "CommitStatusError",
    "ContractRejected",
    "EndorseError",
    "ErrorDetail",
    "EvaluateError",
    "GatewayError",
    "NetworkError",
    "SubmitError",
    "Unavailable",
    "from_rpc_error",
]

_CHAINCODE_RESPONSE = re.compile(r"chaincode response (\d+), (.*)", re.DOTALL)
_ERROR_CLASS = re.compile(r"([A-Za-z_][A-Za-z0-9_]*): (.*)", re.DOTALL)


def _contract_refusal(texts: list[str]) -> tuple[int, str, str] | None:
    for text in texts:
        m = _CHAINCODE_RESPONSE.search(text)
        if m:
            status, rest = int(m.group(1)), m.group(2)
            c = _ERROR_CLASS.match(rest)
            if c:
                return status, c.group(1), c.group(2)
            return status, "ContractError", rest
    return None


def from_rpc_error(exc: grpc.RpcError, stage: type[GatewayError], tx_id: str = "") -> GatewayError:
    """Map a gRPC error raised by a Gateway call to this package's error for that stage."""
    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
    message = (exc.details() if isinstance(exc, grpc.Call) else str(exc)) or ""
    trailers = exc.trailing_metadata() if isinstance(exc, grpc.Call) else None
    details = details_from_trailers(trailers)
    name = code.name if code is not None else "UNKNOWN"
    if code == grpc.StatusCode.UNAVAILABLE:
        return Unavailable(
            f"the gateway is unavailable: {message} (is the ledger running and is the address "
            "and TLS CA right?)",
            tx_id=tx_id,
            code=name,
            details=details,
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return stage(
            f"{message or 'deadline exceeded'}: the gateway did not answer in time",
            tx_id=tx_id,
            code=name,
            details=details,
        )
    if stage in (EndorseError, EvaluateError):
        refusal = _contract_refusal([d.message for d in details] + [message])
        if refusal is not None:
            status, error_type, reason = refusal
            return ContractRejected(
                message,
                error_type=error_type,
                reason=reason,
                status=status,
                tx_id=tx_id,
                code=name,
                details=details,
            )
    return stage(message, tx_id=tx_id, code=name, details=details)

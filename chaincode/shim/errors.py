"""The exception tree of the chaincode shim (the server a Fabric peer dials).

    ShimError               base
    ├── PeerError           the peer answered a stub call with ERROR (or an unexpected type)
    └── StreamClosed        the peer's stream ended while a call waited for its answer

The contract never sees these as such: the router turns any exception into a 500 response.
"""

from __future__ import annotations


class ShimError(Exception):
    """Root of every error raised by `chaincode.shim`."""


class PeerError(ShimError):
    """The peer refused a stub call (GET_STATE, PUT_STATE, ...); the message is the peer's."""


class StreamClosed(ShimError):
    """The peer's stream closed before it answered; the transaction cannot finish."""

"""The one exception tree of the `node` package.

    NodeError
    ├── DatasetError         a local dataset is missing, unreadable, or changed since registered
    ├── NodeStartError       a node process could not be started
    ├── GateRefused          the approval gate refused a job (not approved, expired, …)
    ├── TransportError       the MPC transport failed (connect, TLS, foreign peer, deadline)
    └── ProtocolError        a protocol could not complete
        ├── ProtocolAborted  some party aborted; carries the reason and who aborted
        └── ProtocolTimeout  a step exceeded its deadline

Every message says what was wrong and what to do.
"""

from __future__ import annotations


class NodeError(Exception):
    """Root of every error raised by the `node` package."""


class DatasetError(NodeError):
    """A local dataset is missing, unreadable, or no longer matches its registered fingerprint."""


class NodeStartError(NodeError):
    """A node process could not be started (already running, died while starting, too slow)."""


class GateRefused(NodeError):
    """The approval gate refused to claim or run a job."""


class TransportError(NodeError):
    """The MPC transport failed."""


class ProtocolError(NodeError):
    """A protocol could not complete."""


class ProtocolAborted(ProtocolError):
    """A party aborted the protocol; every party sees the same reason."""

    def __init__(self, reason: str, party: str | None = None) -> None:
        self.reason = reason
        self.party = party
        super().__init__(f"aborted by {party}: {reason}" if party else f"aborted: {reason}")


class ProtocolTimeout(ProtocolError):
    """A protocol step exceeded its deadline."""

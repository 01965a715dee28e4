"""The one exception tree of the `node` package.

    NodeError
    ├── DatasetError         a local dataset is missing, unreadable, or changed since registered
    ├── NodeStartError       a node process could not be started
    ├── GateRefused          the approval gate refused a job (not approved, expired, …)
    ├── TransportError       the MPC transport failed (connect, TLS, foreign peer, deadline)
    └── ProtocolError        a protocol could not complete
        ├── InputValueError  a value of this party's input does not fit (input ref, 1-based row)
        ├── ProtocolAborted  some party aborted; carries the reason and who aborted
        └── ProtocolTimeout  a step exceeded its deadline
            ├── PeerUnreachable   a peer's node never linked up for the job
            └── DeadlineExceeded  the run exceeded its deadline

Errors about an input carry `input_ref` (and `row`, counting data rows from 1), so the runner can
publish a coded failure (alliance/failures.py) without the message, which stays local.

Every message says what was wrong and what to do.
"""

from __future__ import annotations


class NodeError(Exception):
    """Root of every error raised by the `node` package."""


class DatasetError(NodeError):
    """A local dataset is missing, unreadable, or no longer matches its registered fingerprint."""

    def __init__(self, message: str, *, input_ref: str | None = None,
                 row: int | None = None) -> None:
        super().__init__(message)
        self.input_ref = input_ref
        self.row = row


class NodeStartError(NodeError):
    """A node process could not be started (already running, died while starting, too slow)."""


class GateRefused(NodeError):
    """The approval gate refused to claim or run a job.

    `code` is the public failure code (alliance.failures.FailureCode value) and `input_ref` the
    dataset or input it is about, when the refusal is about this node's own data."""

    def __init__(self, message: str, *, code: str = "gate_refused",
                 input_ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.input_ref = input_ref


class TransportError(NodeError):
    """The MPC transport failed."""


class ProtocolError(NodeError):
    """A protocol could not complete."""


class InputValueError(ProtocolError):
    """A value of this party's input does not fit what the protocol needs (not a number, out of
    range); `row` counts data rows from 1."""

    def __init__(self, message: str, *, input_ref: str | None = None,
                 row: int | None = None) -> None:
        super().__init__(message)
        self.input_ref = input_ref
        self.row = row


class ProtocolAborted(ProtocolError):
    """A party aborted the protocol; every party sees the same reason."""

    def __init__(self, reason: str, party: str | None = None) -> None:
        self.reason = reason
        self.party = party
        super().__init__(f"aborted by {party}: {reason}" if party else f"aborted: {reason}")


class ProtocolTimeout(ProtocolError):
    """A protocol step exceeded its deadline."""


class PeerUnreachable(ProtocolTimeout):
    """A peer's node did not link up for the job in time."""

    def __init__(self, message: str, peer: str | None = None) -> None:
        super().__init__(message)
        self.peer = peer


class DeadlineExceeded(ProtocolTimeout):
    """The run did not end within its deadline."""

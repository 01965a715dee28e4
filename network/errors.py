"""The one exception tree of the `network` package.

    NetworkError
    ├── GatewayError            a Gateway call failed; carries tx_id, gRPC code and per-peer details
    │   ├── EvaluateError       Evaluate refused (bad proposal, peer error)
    │   ├── EndorseError        Endorse refused (bad proposal, signature, duplicate tx id, ...)
    │   ├── ContractRejected    the contract itself refused (EndorseError and EvaluateError):
    │   │                       `error_type` ("NotAuthorized", ...) and `reason`
    │   ├── SubmitError         the ordering service refused the signed transaction (incl. replay)
    │   ├── CommitStatusError   the commit status could not be obtained
    │   ├── ChaincodeEventsError  the event stream failed
    │   └── Unavailable         the gateway could not be reached (not running, TLS, deadline)
    ├── CommitError             the transaction was ordered but committed INVALID (`code`, e.g.
    │                           MVCC_READ_CONFLICT): its writes were not applied
    ├── CheckpointError         a checkpoint file cannot be read or written
    └── DevnetError             devnet cannot be started, reached or stopped
        └── LedgerIntegrityError  the stored chain does not verify

Lower-layer errors (gRPC, SQLite, OS) are mapped once, where they happen, with `raise ... from`.
Every message says what was wrong and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorDetail:
    """One peer's (or orderer's) reason, as Fabric's gateway attaches them to a gRPC status."""

    address: str
    msp_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.address} ({self.msp_id}): {self.message}"


class NetworkError(Exception):
    """Root of every error raised by the `network` package."""


class GatewayError(NetworkError):
    """A Gateway call failed. `code` is the gRPC status name (e.g. "ABORTED")."""

    def __init__(
        self,
        message: str,
        *,
        tx_id: str = "",
        code: str = "UNKNOWN",
        details: tuple[ErrorDetail, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.tx_id = tx_id
        self.code = code
        self.details = tuple(details)

    def __str__(self) -> str:
        text = self.message
        if self.details:
            text += "; " + "; ".join(str(d) for d in self.details)
        if self.tx_id:
            text += f" [tx {self.tx_id}]"
        return text


class EvaluateError(GatewayError):
    """The gateway refused or failed to evaluate the proposal."""


class EndorseError(GatewayError):
    """The gateway refused or failed to endorse the proposal."""


class ContractRejected(EndorseError, EvaluateError):
    """The contract refused the transaction: `error_type` is its error class, `reason` its text."""

    def __init__(
        self,
        message: str,
        *,
        error_type: str,
        reason: str,
        status: int,
        tx_id: str = "",
        code: str = "UNKNOWN",
        details: tuple[ErrorDetail, ...] = (),
    ) -> None:
        super().__init__(message, tx_id=tx_id, code=code, details=details)
        self.error_type = error_type
        self.reason = reason
        self.status = status

    def __str__(self) -> str:
        return f"{self.error_type}: {self.reason}"


class SubmitError(GatewayError):
    """The signed transaction was not accepted for ordering (bad signature, replayed tx id, ...)."""


class CommitStatusError(GatewayError):
    """The commit status of a submitted transaction could not be obtained."""


class ChaincodeEventsError(GatewayError):
    """The chaincode event stream could not be opened or broke."""


class Unavailable(GatewayError):
    """The gateway could not be reached (not running, wrong port, TLS mismatch, deadline)."""


class CommitError(NetworkError):
    """The transaction was committed as INVALID: none of its writes were applied."""

    def __init__(self, tx_id: str, code: int, code_name: str, block_number: int) -> None:
        super().__init__(
            f"transaction {tx_id} committed as invalid in block {block_number}: {code_name}"
            + (
                "; another transaction changed what it read, re-run it"
                if code_name in ("MVCC_READ_CONFLICT", "PHANTOM_READ_CONFLICT")
                else ""
            )
        )
        self.tx_id = tx_id
        self.code = code
        self.code_name = code_name
        self.block_number = block_number


class DeliverError(NetworkError):
    """A block stream (Deliver) ended with a status other than SUCCESS, or broke."""

    def __init__(self, message: str, status_name: str = "") -> None:
        super().__init__(message)
        self.status_name = status_name
        """Fabric's `common.Status` name (NOT_FOUND, FORBIDDEN, BAD_REQUEST, ...), if any."""


class CheckpointError(NetworkError):
    """A checkpoint file cannot be read or written."""


class DevnetError(NetworkError):
    """Devnet cannot be started, reached or stopped."""


class LedgerIntegrityError(DevnetError):
    """The stored chain does not verify (a hash, a link, or an index disagrees)."""

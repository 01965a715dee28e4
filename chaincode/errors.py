"""The one exception tree of the `chaincode` package: every reason a transaction is refused.

    ContractError            base; carries an HTTP-like status for the response
    ├── InvalidArgument      400  malformed or out-of-range input (bad JSON, name, type, digest)
    │   └── UnknownFunction  400  no transaction function of that name
    ├── NotAuthorized        403  the caller (org, role or certificate) may not do this
    ├── NotFound             404  no such charter, member, proposal, dataset or job
    ├── Conflict             409  wrong state, duplicate, already voted / approved / claimed
    ├── Expired              410  the job or proposal is past its expiry
    └── InternalError        500  a bug in the contract (never raised on purpose)

The router turns each into a response `status`, with the message
"<ErrorClassName>: <human message>". Every message says what was wrong and what to do.
"""

from __future__ import annotations


class ContractError(Exception):
    """Root of every refusal raised by the governance contract."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def response_message(self) -> str:
        return f"{type(self).__name__}: {self.message}"


class InvalidArgument(ContractError):
    """Malformed or out-of-range input."""

    status = 400


class UnknownFunction(InvalidArgument):
    """The transaction names no function of this contract."""


class NotAuthorized(ContractError):
    """The caller's org, role or certificate does not allow this transaction."""

    status = 403


class NotFound(ContractError):
    """The named object is not on the ledger."""

    status = 404


class Conflict(ContractError):
    """The object is in the wrong state, or the action was already taken."""

    status = 409


class Expired(ContractError):
    """The job or proposal is past its expiry time."""

    status = 410


class InternalError(ContractError):
    """An unexpected failure inside the contract: a bug, never a refusal by rule."""

    status = 500

"""Errors of the multi-lender query service (node/query/).

    QueryError
    ├── QueryRefused        the server refused the query: not a member, over quota, bad purpose,
    │                       no consent hash, bad signature (carries a stable `code`)
    ├── ServerUnavailable   a query server did not answer (down, TLS failure, deadline)
    ├── EpochUnavailable    the servers hold no common table epoch yet (or it rolled over)
    ├── ContributionError   a member's contribution was malformed or refused
    ├── ProtocolError       a malformed message, key or answer (names what was wrong)
    └── SaltError           a salt file or a served salt of the wrong length (salt.py)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import grpc


class QueryError(Exception):
    """Base of every error of the query service."""


class QueryRefused(QueryError):
    """A query server refused the query (or the asker's node did, before sending it, for a
    reason the servers refuse it for); `code` is stable (for CLIs and logs), the message says
    why and what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ServerUnavailable(QueryError):
    """A query server could not be reached or did not answer in time."""


class EpochUnavailable(QueryError):
    """The two servers hold no common table epoch (not formed yet, or rolled over meanwhile)."""


class ContributionError(QueryError):
    """A member's contribution is malformed, out of range, or was refused by a server."""


class ProtocolError(QueryError):
    """A malformed message, DPF key, point or answer."""


class SaltError(QueryError):
    """A salt file or a served salt is not SALT_BYTES long."""


def server_may_not_ask(org: str) -> QueryRefused:
    """The refusal of a lookup by either server's member (both servers' and the asker's node's):
    a server holds the masked table D, and an answer's masks would show it each member's record
    of the applicant, not their sum (node/query/README.md, "Who may ask")."""
    return QueryRefused(
        "server_may_not_ask",
        f"{org} runs a query server of this service and may not ask: a server holds the "
        "masked table, and the masks of an answer would show it each member's record of the "
        "applicant; ask from a member that runs no query server")


def rpc_status(exc: Exception) -> tuple[grpc.StatusCode | None, str]:
    """(status code, details) of a failed gRPC call; None and "" for an RpcError that carries
    neither (its str() is gRPC's call object, not a sentence)."""
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else ""
    return code, details or ""

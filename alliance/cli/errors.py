"""Mapping every known error to what the user sees: one message line and an exit code.

1  the ledger refused the action (the contract's reason is printed)
2  the command line was wrong
3  the ledger or a node could not be reached
4  local trouble: files, keys, passphrase, data
"""

from __future__ import annotations

from alliance.cli.parsing import UsageError
from alliance.errors import AllianceError


def exit_code_for(exc: BaseException) -> int | None:
    """The exit code for a known error, or None for a bug (which should show its traceback)."""
    from network.errors import ContractRejected, GatewayError, NetworkError, Unavailable
    from node.errors import NodeError

    if isinstance(exc, UsageError):
        return 2
    if isinstance(exc, ContractRejected):
        return 1
    if isinstance(exc, (Unavailable,)):
        return 3
    if isinstance(exc, (GatewayError, NetworkError)):
        return 1
    if isinstance(exc, (AllianceError, NodeError, OSError)):
        return 4
    return None


def message_for(exc: BaseException) -> str:
    from network.errors import ContractRejected

    if isinstance(exc, ContractRejected):
        return f"refused by the ledger: {exc.error_type}: {exc.reason}"
    return str(exc)

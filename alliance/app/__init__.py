"""The application layer: the use cases both front ends (the `alliance` CLI and the TUI) call.

It wires `network/` and `node/` together with the domain (`alliance.*`), and owns every message a
user reads. It may import network/ and node/ (like the front ends do; the domain packages below
it never import it). Use cases take a `Session` (one org acting on one NET; `open_session`) or a
network directory, return typed results (the ledger's pydantic records, or dataclasses here),
raise only `AppError`s (`alliance.app.errors`, each with its exit code), report long work through
a progress callback and never print.

    session   open a session as ORG
    network   init, up, down, status, add-org, node restart
    members   list, propose, vote, proposals, revoke-cert
    datasets  register (with progress), update, list, show, retire, history
    jobs      request, approve, reject, revoke, vote, list, show, history, wait (events)
    results   delivered outputs, a job's result as a value or a file
    audit     trail, verify, chain, verify-chain, export (offline bundle), lineage, report
    keys      list, revoke (ledger + CRL), change-passphrase
    nodes     a node's state and runs
"""

from alliance.app.errors import (
    EXIT_CODES,
    AppError,
    BadInput,
    Cancelled,
    FileMissing,
    JobEnded,
    LocalTrouble,
    Refused,
    Unreachable,
    WaitTimedOut,
)
from alliance.app.session import Session, open_session

__all__ = [
    "EXIT_CODES",
    "AppError",
    "BadInput",
    "Cancelled",
    "FileMissing",
    "JobEnded",
    "LocalTrouble",
    "Refused",
    "Session",
    "Unreachable",
    "WaitTimedOut",
    "open_session",
]

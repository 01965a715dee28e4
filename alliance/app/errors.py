"""The one exception tree of the application layer, and the exit code of each class.

    AppError                 exit 4 unless a subclass says otherwise
    ├── Refused        1     the ledger refused the action (its reason, in CLI words), or a
    │                        check failed (a file does not match its recorded digest)
    ├── BadInput       2     a value given by the user is malformed, unknown or ambiguous
    ├── Unreachable    3     the ledger or a node is not running or cannot be reached
    ├── LocalTrouble   4     local files, keys, the passphrase, data files
    │   └── FileMissing 4    a file named by the user does not exist
    ├── JobEnded       5     a job waited for ended without completing (FAILED, REJECTED, ...)
    ├── WaitTimedOut   6     a wait ended at its timeout; the job goes on
    └── Cancelled    130     the user stopped a long use case (its progress callback raised it)

Lower layers' errors (alliance, network, node, OS, pydantic) are mapped once, at the use case's
edge, by `mapped_errors()` with `raise ... from`; every message says what to do next, naming a
CLI command, never a contract function.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

EXIT_CODES: dict[int, str] = {
    0: "done",
    1: "the ledger refused the action (its reason is printed), or a check failed",
    2: "the command line or a value on it was wrong",
    3: "the ledger or a node is not running or cannot be reached",
    4: "local trouble: a file, a key, the passphrase, a data file",
    5: "`job wait`: the job ended without completing",
    6: "`job wait`: the timeout passed before the job ended",
    130: "interrupted",
}


class AppError(Exception):
    """Root of every error the application layer raises; `exit_code` for front ends."""

    exit_code = 4
    kind = "error"

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message

    def to_dict(self) -> dict[str, object]:
        return {"error": self.kind, "message": str(self), "exit_code": self.exit_code}


class Refused(AppError):
    """The ledger refused the action; `error_type` is the contract's class of refusal."""

    exit_code = 1
    kind = "refused"

    def __init__(self, message: str, *, error_type: str = "", hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.error_type = error_type

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "error_type": self.error_type}


class BadInput(AppError):
    exit_code = 2
    kind = "bad_input"


class Unreachable(AppError):
    exit_code = 3
    kind = "unreachable"


class LocalTrouble(AppError):
    exit_code = 4
    kind = "local"


class FileMissing(LocalTrouble):
    kind = "file_missing"


class JobEnded(AppError):
    exit_code = 5
    kind = "job_ended"


class WaitTimedOut(AppError):
    exit_code = 6
    kind = "timeout"


class Cancelled(AppError):
    """Raised by a front end's progress callback to stop a long use case where it is (a dataset
    being fingerprinted is then not registered)."""

    exit_code = 130
    kind = "cancelled"


CONTRACT_COMMANDS: dict[str, str] = {
    "ListJobs": "`alliance job list`",
    "ListDatasets": "`alliance dataset list`",
    "ListProposals": "`alliance member proposals`",
    "ListMembers": "`alliance member list`",
    "RegisterDataset": "`alliance dataset register`",
    "NewDatasetVersion": "`alliance dataset update`",
    "RetireDataset": "`alliance dataset retire`",
    "RevokeJob": "`alliance job revoke`",
    "ApproveJob": "`alliance job approve`",
    "RejectJob": "`alliance job reject`",
    "RequestJob": "`alliance job request`",
    "ProposeMember": "`alliance member propose`",
    "VoteProposal": "`alliance member vote`",
    "ExpireJob": "`alliance job expire`",
    "InitCharter": "`alliance network up`",
}


def in_cli_words(text: str) -> str:
    """A contract's reason with its function names replaced by the CLI commands that call them."""
    import re

    return re.sub(
        r"\b(" + "|".join(CONTRACT_COMMANDS) + r")\b",
        lambda m: CONTRACT_COMMANDS[m.group(1)],
        text,
    )


def to_app_error(exc: BaseException) -> AppError | None:
    """The application error for a lower layer's error; None for a bug (keep its traceback)."""
    if isinstance(exc, AppError):
        return exc
    from pydantic import ValidationError

    from alliance.errors import AllianceError, DatasetFileError, PassphraseError
    from network.errors import (
        CommitError,
        ContractRejected,
        DevnetError,
        GatewayError,
        LedgerIntegrityError,
        NetworkError,
        Unavailable,
    )
    from node.errors import NodeError, NodeStartError

    if isinstance(exc, ContractRejected):
        return Refused(
            f"refused by the ledger: {exc.error_type}: {in_cli_words(exc.reason)}",
            error_type=exc.error_type,
        )
    if isinstance(exc, Unavailable):
        return Unreachable(
            f"the ledger cannot be reached: {exc}",
            hint="see what runs with `alliance network status --dir NET`; "
            "start what is missing with `alliance network up --dir NET`",
        )
    if isinstance(exc, LedgerIntegrityError):
        return Refused(f"the ledger does not verify: {exc}")
    if isinstance(exc, DevnetError) and "not running" in str(exc):
        return Unreachable(str(exc))
    if isinstance(exc, CommitError):
        return Refused(str(exc), error_type=exc.code_name)
    if isinstance(exc, (GatewayError, NetworkError)):
        return Refused(str(exc)) if isinstance(exc, GatewayError) else LocalTrouble(str(exc))
    if isinstance(exc, DatasetFileError) and "does not exist" in str(exc):
        return FileMissing(str(exc))
    if isinstance(exc, PassphraseError):
        return LocalTrouble(str(exc))
    if isinstance(exc, (AllianceError, NodeStartError, NodeError)):
        return LocalTrouble(str(exc))
    if isinstance(exc, FileNotFoundError):
        return FileMissing(f"{exc.filename or exc}: no such file")
    if isinstance(exc, OSError):
        return LocalTrouble(str(exc))
    if isinstance(exc, ValidationError):
        return BadInput(validation_message(exc))
    return None


def validation_message(exc: object) -> str:
    """A pydantic error as one line per problem, without pydantic's tuple locations."""
    problems = []
    for err in exc.errors():  # type: ignore[attr-defined]
        where = ".".join(str(part) for part in err.get("loc", ()) if not isinstance(part, int))
        text = str(err.get("msg", "")).removeprefix("Value error, ")
        problems.append(f"{where}: {text}" if where else text)
    return "; ".join(problems)


@contextmanager
def mapped_errors() -> Iterator[None]:
    """Re-raise a lower layer's error as the application's own (`raise ... from`)."""
    try:
        yield
    except AppError:
        raise
    except Exception as exc:
        mapped = to_app_error(exc)
        if mapped is None:
            raise
        raise mapped from exc

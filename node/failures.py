"""From an exception to what may be published about it: a `FailureReport` (code, own input,
1-based row, peer) for FailJob. Pure. The exception's text — paths, cell values, a peer's abort
reason — never enters the report; the runner writes it to the local failure log instead.
"""

from __future__ import annotations

from collections.abc import Iterator

from alliance.failures import (
    INPUT_CODES,
    PEER_CODES,
    ROW_CODES,
    TEMPLATES,
    FailureCode,
    FailureReport,
)
from node.errors import (
    DatasetError,
    DeadlineExceeded,
    GateRefused,
    InputValueError,
    PeerUnreachable,
    ProtocolAborted,
    ProtocolError,
    ProtocolTimeout,
    TransportError,
)

NODE_STOPPED = FailureReport(code=FailureCode.NODE_STOPPED)
SHUTDOWN_REASON = "node shutting down"
"""node.daemon.SHUTDOWN_REASON: the reason a stopping node aborts its runs with."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then its causes (explicit first, else implicit), without looping."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify(exc: BaseException, org: str, own_inputs: set[str]) -> FailureReport:
    """The public report of `org`'s failure `exc`. `own_inputs` are the job's input references
    and datasets owned by `org` (a reference outside them is dropped, never published)."""
    chain = list(_chain(exc))
    for item in chain:
        report = _one(item, org)
        if report is not None:
            return _checked(report, org, own_inputs)
    if any(isinstance(item, ProtocolError) for item in chain):
        return FailureReport(code=FailureCode.PROTOCOL_ERROR)
    return FailureReport(code=FailureCode.INTERNAL_ERROR)


def _one(exc: BaseException, org: str) -> FailureReport | None:
    if isinstance(exc, GateRefused):
        return _report(exc.code, input_ref=exc.input_ref)
    if isinstance(exc, InputValueError):
        return _report(FailureCode.INPUT_TYPE_MISMATCH, input_ref=exc.input_ref, row=exc.row)
    if isinstance(exc, DatasetError):
        return _report(FailureCode.INPUT_INVALID, input_ref=exc.input_ref, row=exc.row)
    if isinstance(exc, ProtocolAborted):
        if exc.party == org and exc.reason == SHUTDOWN_REASON:
            return _report(FailureCode.NODE_STOPPED)
        if exc.party is None or exc.party == org:
            return None  # our own abort: its cause says why (else: protocol_error)
        if exc.__cause__ is not None:  # the link to that peer broke
            return _report(FailureCode.PEER_UNREACHABLE, peer=exc.party)
        return _report(FailureCode.PEER_ABORTED, peer=exc.party)
    if isinstance(exc, DeadlineExceeded | TimeoutError):
        return _report(FailureCode.DEADLINE_PASSED)
    if isinstance(exc, PeerUnreachable):
        return _report(FailureCode.PEER_UNREACHABLE, peer=exc.peer)
    if isinstance(exc, ProtocolTimeout):
        return _report(FailureCode.PEER_TIMEOUT)
    if isinstance(exc, TransportError):
        return _report(FailureCode.PEER_UNREACHABLE)
    return None


def _report(code: str, *, input_ref: str | None = None, row: int | None = None,
            peer: str | None = None) -> FailureReport | None:
    try:
        code = FailureCode(code)
    except ValueError:
        return None
    return FailureReport.model_construct(code=code, input=input_ref, row=row, peer=peer)


def _checked(report: FailureReport, org: str, own_inputs: set[str]) -> FailureReport:
    """`report` reduced to what FailJob accepts: references the job names, fields its code has."""
    code = report.code
    input_ref = report.input if report.input in own_inputs else None
    if code in INPUT_CODES and input_ref is None:
        code = FailureCode.PROTOCOL_ERROR if code in ROW_CODES else FailureCode.GATE_REFUSED
    row = report.row if code in ROW_CODES and report.row is not None and report.row >= 1 else None
    peer = report.peer if code in PEER_CODES and report.peer not in (None, org) else None
    if code == FailureCode.PEER_ABORTED and peer is None:
        code = FailureCode.PROTOCOL_ERROR
    return FailureReport(
        code=code, input=input_ref if code in INPUT_CODES else None, row=row, peer=peer
    )


def public_abort_reason(exc: BaseException, org: str, own_inputs: set[str]) -> str:
    """What a party tells its peers when it aborts because of `exc`: the coded message the ledger
    would show, never the exception's text (peers are other members: cell values and paths stay
    here)."""
    report = classify(exc, org, own_inputs)
    text = TEMPLATES[report.code].format(
        party=org, input=report.input or "", peer=report.peer or "another party",
        peer_node=f"{report.peer}'s node" if report.peer else "another party's node",
        at_row=f" (data row {report.row})" if report.row is not None else "",
    )
    return f"{text} [{report.code.value}]"

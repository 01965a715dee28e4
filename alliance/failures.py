"""Why a job failed, in a form safe to publish: a reason code from a closed list, the party, and
optionally the input reference, a row number and the peer — and a message rendered from a fixed
template per code. A node sends a `FailureReport` with FailJob; the contract accepts nothing else
(no free text), renders the message itself and records it. The full detail (exception text, local
paths, cell values) stays in the reporting node's local failure log (`alliance job why JOB`).

Row numbers count data rows from 1 (the first row after a CSV header is row 1), as everywhere a
user reads them.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FailureCode(StrEnum):
    INPUT_MISSING = "input_missing"
    INPUT_UNREADABLE = "input_unreadable"
    INPUT_INVALID = "input_invalid"
    INPUT_TYPE_MISMATCH = "input_type_mismatch"
    FINGERPRINT_MISMATCH = "fingerprint_mismatch"
    GATE_REFUSED = "gate_refused"
    PEER_UNREACHABLE = "peer_unreachable"
    PEER_TIMEOUT = "peer_timeout"
    PEER_ABORTED = "peer_aborted"
    PROTOCOL_ERROR = "protocol_error"
    DEADLINE_PASSED = "deadline_passed"
    RECEIPT_REFUSED = "receipt_refused"
    NODE_STOPPED = "node_stopped"
    INTERNAL_ERROR = "internal_error"


INPUT_CODES = frozenset({
    FailureCode.INPUT_MISSING, FailureCode.INPUT_UNREADABLE, FailureCode.INPUT_INVALID,
    FailureCode.INPUT_TYPE_MISMATCH, FailureCode.FINGERPRINT_MISMATCH,
})
"""Codes that name one of the reporting party's own inputs (`input` required)."""
ROW_CODES = frozenset({FailureCode.INPUT_INVALID, FailureCode.INPUT_TYPE_MISMATCH})
"""Codes that may name a row of that input."""
PEER_CODES = frozenset({
    FailureCode.PEER_UNREACHABLE, FailureCode.PEER_TIMEOUT, FailureCode.PEER_ABORTED,
})
"""Codes that may name another party (`peer`)."""

TEMPLATES: dict[FailureCode, str] = {
    FailureCode.INPUT_MISSING: "{party}'s node holds no local data for input {input}",
    FailureCode.INPUT_UNREADABLE: "{party}'s node could not read its local data for input {input}",
    FailureCode.INPUT_INVALID:
        "{party}'s data for input {input} holds a value the protocol cannot use{at_row}",
    FailureCode.INPUT_TYPE_MISMATCH:
        "{party}'s data for input {input} holds a value that does not fit the column's type"
        "{at_row}",
    FailureCode.FINGERPRINT_MISMATCH:
        "{party}'s local data for input {input} no longer matches the fingerprint the job "
        "approved",
    FailureCode.GATE_REFUSED:
        "{party}'s node refused to run the job: its own check of the job on the ledger failed",
    FailureCode.PEER_UNREACHABLE: "{party}'s node could not reach {peer_node}",
    FailureCode.PEER_TIMEOUT: "{party}'s node waited too long for {peer_node}",
    FailureCode.PEER_ABORTED: "{party}'s run was aborted by {peer}",
    FailureCode.PROTOCOL_ERROR: "{party}'s side of the protocol failed",
    FailureCode.DEADLINE_PASSED: "{party}'s run did not finish before its deadline",
    FailureCode.RECEIPT_REFUSED: "the ledger refused {party}'s receipt for the run",
    FailureCode.NODE_STOPPED: "{party}'s node stopped during the run; the run was abandoned",
    FailureCode.INTERNAL_ERROR: "{party}'s node failed with an internal error",
}
DETAIL_HINT = "; {party} sees the detail with `alliance job why {job_id}`"


class FailureReport(BaseModel):
    """Body of FailJob: what a node may say about why its part of a job failed."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    code: FailureCode = Field(strict=False)
    """Strict elsewhere; the code may be given as its string value."""
    input: str | None = Field(default=None, max_length=200)
    """One of the job's input references (`org/dataset:column`) or datasets (`org/dataset`)."""
    row: int | None = Field(default=None, ge=1)
    """1-based data row of `input`."""
    peer: str | None = Field(default=None, max_length=64)
    """Another participant of the job."""

    @model_validator(mode="after")
    def _fields_fit_the_code(self) -> FailureReport:
        if self.code in INPUT_CODES and self.input is None:
            raise ValueError(f"failure code {self.code} needs the input it is about")
        if self.code not in INPUT_CODES and self.input is not None:
            raise ValueError(f"failure code {self.code} names no input; leave input out")
        if self.row is not None and self.code not in ROW_CODES:
            raise ValueError(
                f"failure code {self.code} names no row; only {', '.join(sorted(ROW_CODES))} do"
            )
        if self.peer is not None and self.code not in PEER_CODES:
            raise ValueError(
                f"failure code {self.code} names no peer; only {', '.join(sorted(PEER_CODES))} do"
            )
        if self.code == FailureCode.PEER_ABORTED and self.peer is None:
            raise ValueError("failure code peer_aborted needs the peer that aborted")
        return self


def render_failure(report: FailureReport, party: str, job_id: str) -> str:
    """The public message of `report`: its code's fixed template, filled with the party, the
    input, the row and the peer (all of which the contract checked against the job)."""
    peer_node = f"{report.peer}'s node" if report.peer else "another party's node"
    text = TEMPLATES[report.code].format(
        party=party,
        input=report.input or "",
        peer=report.peer or "another party",
        peer_node=peer_node,
        at_row=f" (data row {report.row})" if report.row is not None else "",
    )
    return text + DETAIL_HINT.format(party=party, job_id=job_id)

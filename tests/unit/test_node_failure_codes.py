"""node.failures: each kind of error becomes a code, with only references the job names; the
local failure log keeps the detail and gives a job's entries back."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from alliance.failures import FailureCode, FailureReport
from node import failure_log
from node.errors import (
    DatasetError,
    DeadlineExceeded,
    GateRefused,
    InputValueError,
    NodeError,
    PeerUnreachable,
    ProtocolAborted,
    ProtocolError,
    ProtocolTimeout,
    TransportError,
)
from node.failures import SHUTDOWN_REASON, classify, public_abort_reason

OWN = {"bank/customers:amount", "bank/customers"}


def aborted_by_self(cause: BaseException) -> ProtocolAborted:
    try:
        raise ProtocolAborted(f"bank: {cause}", "bank") from cause
    except ProtocolAborted as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (GateRefused("local data of bank/customers has fingerprint …", code="fingerprint_mismatch",
                     input_ref="bank/customers"),
         FailureReport(code="fingerprint_mismatch", input="bank/customers")),
        (GateRefused("job-1 expired"), FailureReport(code="gate_refused")),
        (aborted_by_self(InputValueError("row 3 is 'C00000'", input_ref="bank/customers:amount",
                                         row=3)),
         FailureReport(code="input_type_mismatch", input="bank/customers:amount", row=3)),
        (aborted_by_self(DatasetError("id b'\\xff' is not UTF-8")),
         FailureReport(code="protocol_error")),
        (aborted_by_self(ProtocolError("job names no recipient")),
         FailureReport(code="protocol_error")),
        (ProtocolAborted("telecom: whatever telecom said", "telecom"),
         FailureReport(code="peer_aborted", peer="telecom")),
        (ProtocolAborted(SHUTDOWN_REASON, "bank"), FailureReport(code="node_stopped")),
        (DeadlineExceeded("run 1 exceeded 120 s"), FailureReport(code="deadline_passed")),
        (PeerUnreachable("could not connect with telecom at 10.0.0.5", "telecom"),
         FailureReport(code="peer_unreachable", peer="telecom")),
        (ProtocolTimeout("no message from telecom"), FailureReport(code="peer_timeout")),
        (TransportError("cannot listen on host-a:7000"), FailureReport(code="peer_unreachable")),
        (NodeError("the protocol produced no result"), FailureReport(code="internal_error")),
        (KeyError("/home/bank/secret.csv"), FailureReport(code="internal_error")),
    ],
)
def test_each_error_maps_to_its_code(exc: BaseException, expected: FailureReport) -> None:
    assert classify(exc, "bank", OWN) == expected


def test_a_reference_the_job_does_not_name_is_dropped() -> None:
    exc = InputValueError("bad", input_ref="/tmp/C00000.csv", row=2)
    assert classify(exc, "bank", OWN) == FailureReport(code="protocol_error")
    gate = GateRefused("x", code="input_unreadable", input_ref="telecom/subs")
    assert classify(gate, "bank", OWN) == FailureReport(code="gate_refused")


def test_a_peer_abort_naming_ourselves_is_not_a_peer_abort() -> None:
    assert classify(ProtocolAborted("x", None), "bank", OWN).code == FailureCode.PROTOCOL_ERROR


def test_the_shutdown_reason_is_the_daemons() -> None:
    from node.daemon import SHUTDOWN_REASON as DAEMON_REASON

    assert SHUTDOWN_REASON == DAEMON_REASON


def test_the_abort_reason_for_peers_carries_no_text_of_the_error() -> None:
    exc = aborted_by_self(InputValueError("row 3 is 'C00000'", input_ref="bank/customers:amount",
                                          row=3))
    reason = public_abort_reason(exc, "bank", OWN)
    assert "C00000" not in reason
    assert reason == ("bank's data for input bank/customers:amount holds a value that does not "
                      "fit the column's type (data row 3) [input_type_mismatch]")


def entry(job_id: str, detail: str) -> failure_log.FailureEntry:
    return failure_log.FailureEntry(job_id=job_id, run=1, at=5, code="input_unreadable",
                                    input="bank/customers", row=None, peer=None, detail=detail)


def test_the_failure_log_gives_back_a_jobs_entries_only(tmp_path: Path) -> None:
    failure_log.record(tmp_path, entry("job-a", "cannot read /data/ä.csv"))
    failure_log.record(tmp_path, entry("job-b", "other"))
    failure_log.record(tmp_path, entry("job-a", "second run"))
    assert [e.detail for e in failure_log.read(tmp_path, "job-a")] == [
        "cannot read /data/ä.csv", "second run"]
    assert failure_log.read(tmp_path, "job-c") == []


def test_the_failure_log_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    failure_log.record(tmp_path, entry("job-a", "x"))
    mode = stat.S_IMODE(failure_log.log_path(tmp_path).stat().st_mode)
    assert mode & 0o077 == 0


def test_no_log_means_no_entries(tmp_path: Path) -> None:
    assert failure_log.read(tmp_path / "nowhere", "job-a") == []


def test_a_corrupted_log_line_is_an_error_naming_the_line(tmp_path: Path) -> None:
    failure_log.record(tmp_path, entry("job-a", "x"))
    with failure_log.log_path(tmp_path).open("a") as handle:
        handle.write("{not json\n")
    with pytest.raises(NodeError, match="line 2"):
        failure_log.read(tmp_path, "job-a")


def test_describe_gives_the_chain() -> None:
    try:
        try:
            raise OSError("disk gone")
        except OSError as inner:
            raise DatasetError("cannot read f.csv") from inner
    except DatasetError as exc:
        assert failure_log.describe(exc) == (
            "DatasetError: cannot read f.csv <- OSError: disk gone")

"""The job runner against a fake ledger and a fake protocol host: the gate, claims, receipts,
outputs and failures, without processes."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alliance.canonical import sha256_digest
from alliance.failures import FailureReport
from alliance.models import Job, JobState, RunResult, TxMark
from node import failure_log
from node.errors import ProtocolAborted
from node.mpc.protocol import JobContext, LocalInputs, ProtocolResult
from node.outputs import list_outputs
from node.runner import JobRunner
from node.sources import open_source
from node.store import LocalDataset, NodeStore

NOW = 1_000_000


def make_job(fp_bank: str, fp_telecom: str, **overrides: Any) -> Job:
    data: dict[str, Any] = {
        "id": "job-1", "protocol": "stats", "requester": "telecom",
        "inputs": [
            {"ref": "bank/customers:exposure", "owner": "bank", "dataset": "bank/customers",
             "column": "exposure", "version": 1, "fingerprint": fp_bank},
            {"ref": "telecom/subs:balance", "owner": "telecom", "dataset": "telecom/subs",
             "column": "balance", "version": 1, "fingerprint": fp_telecom},
        ],
        "parameters": {"op": "sum"}, "outputs": {"result": ["telecom"]}, "dealer": None,
        "participants": ["bank", "telecom"], "required_approvers": ["bank"],
        "approvals": {"bank": {"tx_id": "t1", "at": NOW - 10, "by_request": False},
                      "telecom": {"tx_id": "t0", "at": NOW - 20, "by_request": True}},
        "votes_needed": 0, "votes": {}, "state": "APPROVED", "created_at": NOW - 20,
        "created_tx": "t0", "expires_at": NOW + 600, "max_runs": 1, "runs_used": 0,
        "current_run": 0, "claims": {}, "receipts": {}, "results": {}, "failures": {},
        "updated_at": NOW - 10, "updated_tx": "t1",
    }
    data.update(overrides)
    return Job.model_validate(data)


class FakeLedger:
    def __init__(self, job: Job) -> None:
        self.job = job
        self.calls: list[tuple[str, Any]] = []
        self.tx = 0
        self.verdict: str | None = "COMPLETED"
        """How the run is judged when this node's receipt arrives (None: others still owe)."""

    def _tx(self) -> str:
        self.tx += 1
        return f"tx{self.tx}"

    def get_job(self, job_id: str) -> Job:
        return self.job.model_copy(deep=True)

    def participant_jobs(self, org: str) -> list[Job]:
        return [self.get_job(self.job.id)]

    def claim(self, job_id: str) -> tuple[Job, str]:
        tx = self._tx()
        self.calls.append(("claim", job_id))
        if self.job.state == JobState.APPROVED:
            self.job.state = JobState.RUNNING
            self.job.runs_used += 1
            self.job.current_run = self.job.runs_used
            self.job.claims = {}
        self.job.claims["me"] = TxMark(tx_id=tx, at=NOW)
        return self.get_job(job_id), tx

    def submit_receipt(self, job_id: str, receipt: dict[str, Any]) -> tuple[Job, str]:
        self.calls.append(("receipt", receipt))
        tx = self._tx()
        if self.verdict is not None:
            self.judge(self.verdict)
        return self.get_job(job_id), tx

    def judge(self, verdict: str) -> None:
        """The run's last receipt is in: the ledger records the run COMPLETED or DISPUTED."""
        run = self.job.current_run
        self.job.results[str(run)] = RunResult(
            run=run, state=JobState(verdict), output_digests={}, disputes=[],
            tx_id=self._tx(), at=NOW,
        )
        self.job.state = JobState(verdict)

    def fail(self, job_id: str, report: FailureReport) -> tuple[Job, str]:
        assert isinstance(report, FailureReport)  # coded, never free text
        self.calls.append(("fail", report))
        self.job.state = JobState.FAILED
        return self.get_job(job_id), self._tx()

    def running_jobs(self) -> list[Job]:
        return [self.get_job(self.job.id)] if self.job.state == JobState.RUNNING else []

    def expire_run(self, job_id: str) -> tuple[Job, str]:
        self.calls.append(("expire", job_id))
        self.job.state = JobState.FAILED
        return self.get_job(job_id), self._tx()

    def dataset_rows(self, dataset_id: str) -> int:
        return 1_000_000 if dataset_id == "bank/customers" else 2


class FakeHost:
    def __init__(self, outputs: dict[str, bytes] | None = None, error: Exception | None = None):
        self.outputs = outputs if outputs is not None else {"result": b'{"value":"3"}'}
        self.error = error
        self.runs: list[tuple[JobContext, int, LocalInputs]] = []

    def run_protocol(self, job: JobContext, run: int, prepare: Callable[[], LocalInputs],
                     deadline_seconds: float, *, peer_prepare_seconds: float = 0.0,
                     ) -> tuple[ProtocolResult, str]:
        self.peer_prepare_seconds = peer_prepare_seconds
        inputs = prepare()  # as the node does once its links are up
        self.runs.append((job, run, inputs))
        if self.error:
            raise self.error
        return ProtocolResult(outputs=dict(self.outputs)), "sha256:" + "ab" * 32


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Any]:
    files = {}
    for org, name, column in (("bank", "customers", "exposure"), ("telecom", "subs", "balance")):
        path = tmp_path / f"{org}.csv"
        path.write_text(f"id,{column}\nA,1\nB,2\n")
        store = NodeStore(tmp_path / org / "node.sqlite")
        fp = open_source(str(path)).fingerprint()
        store.put_dataset(LocalDataset(name=name, location=str(path),
                                       columns_json=json.dumps(fp.schema), row_count=2,
                                       fingerprint=fp.fingerprint, merkle_root=fp.merkle_root))
        files[org] = (path, store, fp.fingerprint)
    return {"files": files, "tmp": tmp_path}


class FakeLedgerFor(FakeLedger):
    """Claims recorded under the runner's org."""

    def __init__(self, job: Job, org: str) -> None:
        super().__init__(job)
        self.org = org

    def claim(self, job_id: str) -> tuple[Job, str]:
        _, tx = super().claim(job_id)
        self.job.claims[self.org] = self.job.claims.pop("me")
        return self.get_job(job_id), tx


def _runner(setup: dict[str, Any], org: str, ledger: FakeLedger, host: FakeHost) -> JobRunner:
    store = setup["files"][org][1]
    return JobRunner(org, store, ledger, host, setup["tmp"] / org / "outputs", clock=lambda: NOW)


def _job(setup: dict[str, Any], **overrides: Any) -> Job:
    return make_job(setup["files"]["bank"][2], setup["files"]["telecom"][2], **overrides)


def test_an_approved_job_is_claimed_run_and_receipted_with_the_recipients_output(setup) -> None:
    ledger = FakeLedgerFor(_job(setup), "telecom")
    host = FakeHost()
    outcome = _runner(setup, "telecom", ledger, host).handle("job-1")
    assert outcome.action == "done", outcome.detail
    receipt = next(arg for name, arg in ledger.calls if name == "receipt")
    assert receipt["output_digests"] == {"result": sha256_digest(b'{"value":"3"}')}
    assert receipt["input_fingerprints"] == {"telecom/subs": setup["files"]["telecom"][2]}
    assert receipt["transcript_digest"] == "sha256:" + "ab" * 32
    assert list(host.runs[0][2]) == ["telecom/subs:balance"]  # only its own inputs
    delivered = list_outputs(setup["tmp"] / "telecom" / "outputs")
    assert [m["job_id"] for m in delivered] == ["job-1"]
    assert delivered[0]["claim_tx"] == "tx1" and delivered[0]["receipt_tx"] == "tx2"
    assert delivered[0]["completed_tx"] == "tx3"


def test_a_non_recipient_receipts_no_output_and_writes_none(setup) -> None:
    ledger = FakeLedgerFor(_job(setup), "bank")
    outcome = _runner(setup, "bank", ledger, FakeHost(outputs={})).handle("job-1")
    assert outcome.action == "done", outcome.detail
    receipt = next(arg for name, arg in ledger.calls if name == "receipt")
    assert receipt["output_digests"] == {}
    assert not (setup["tmp"] / "bank" / "outputs").exists()


def test_the_same_job_handled_twice_runs_once(setup) -> None:
    ledger = FakeLedgerFor(_job(setup), "telecom")
    host = FakeHost()
    runner = _runner(setup, "telecom", ledger, host)
    runner.handle("job-1")
    ledger.job.state = JobState.RUNNING  # the others have not receipted yet
    again = runner.handle("job-1")
    assert again.action == "skipped"
    assert len(host.runs) == 1


def test_a_changed_file_is_refused_before_claiming_with_a_fingerprint_reason(setup) -> None:
    setup["files"]["bank"][0].write_text("id,exposure\nA,1\nB,999\n")
    ledger = FakeLedgerFor(_job(setup), "bank")
    host = FakeHost()
    outcome = _runner(setup, "bank", ledger, host).handle("job-1")
    assert outcome.action == "refused"
    assert [name for name, _ in ledger.calls] == ["fail"]
    assert ledger.calls[0][1] == FailureReport(code="fingerprint_mismatch", input="bank/customers")
    [entry] = failure_log.read(setup["tmp"] / "bank", "job-1")
    assert entry.code == "fingerprint_mismatch" and "has fingerprint sha256:" in entry.detail
    assert not host.runs


@pytest.mark.parametrize("state", ["REQUESTED", "REJECTED", "COMPLETED", "REVOKED"])
def test_a_job_that_is_not_approved_is_never_claimed(setup, state: str) -> None:
    ledger = FakeLedgerFor(_job(setup, state=state), "bank")
    host = FakeHost()
    outcome = _runner(setup, "bank", ledger, host).handle("job-1")
    assert outcome.action == "ignored"
    assert not ledger.calls and not host.runs


def test_an_approved_job_lacking_an_approval_is_refused(setup) -> None:
    job = _job(setup)
    job.approvals.pop("bank")
    ledger = FakeLedgerFor(job, "bank")
    host = FakeHost()
    outcome = _runner(setup, "bank", ledger, host).handle("job-1")
    assert outcome.action == "refused" and "lacks committed approvals" in outcome.detail
    assert not host.runs


def test_a_standing_service_job_is_never_claimed_by_a_node(setup) -> None:
    ledger = FakeLedgerFor(_job(setup, protocol="multilender"), "bank")
    host = FakeHost()
    outcome = _runner(setup, "bank", ledger, host).handle("job-1")
    assert outcome.action == "ignored" and "standing service job" in outcome.detail
    assert not ledger.calls and not host.runs


def test_a_non_participant_does_nothing(setup) -> None:
    ledger = FakeLedgerFor(_job(setup, participants=["telecom", "zeta"]), "bank")
    outcome = _runner(setup, "bank", ledger, FakeHost()).handle("job-1")
    assert outcome.action == "ignored" and not ledger.calls


def test_a_protocol_abort_fails_the_job_and_delivers_nothing(setup) -> None:
    ledger = FakeLedgerFor(_job(setup), "telecom")
    host = FakeHost(error=ProtocolAborted("lost connection to bank", "bank"))
    outcome = _runner(setup, "telecom", ledger, host).handle("job-1")
    assert outcome.action == "failed"
    report = next(arg for name, arg in ledger.calls if name == "fail")
    assert report == FailureReport(code="peer_aborted", peer="bank")
    [entry] = failure_log.read(setup["tmp"] / "telecom", "job-1")
    assert "lost connection to bank" in entry.detail
    assert not any(name == "receipt" for name, _ in ledger.calls)
    outputs = setup["tmp"] / "telecom" / "outputs"
    assert not outputs.exists() or not any(outputs.rglob("*"))


def test_a_run_left_unfinished_by_a_dead_process_is_reported_at_start(setup) -> None:
    job = _job(setup, state="RUNNING", runs_used=1, current_run=1,
               claims={"bank": {"tx_id": "c", "at": NOW}})
    ledger = FakeLedgerFor(job, "bank")
    store = setup["files"]["bank"][1]
    store.record_run("job-1", 1, "running")
    host = FakeHost()
    runner = _runner(setup, "bank", ledger, host)
    runner.recover()
    runner.shutdown()
    assert store.get_run("job-1", 1).state == "failed"
    assert ("fail", FailureReport(code="node_stopped")) in ledger.calls
    assert "stopped during run 1" in failure_log.read(setup["tmp"] / "bank", "job-1")[0].detail
    assert not host.runs


def _staged_or_delivered(setup: dict[str, Any], org: str) -> list[Path]:
    outputs = setup["tmp"] / org / "outputs"
    return sorted(outputs.rglob("*")) if outputs.exists() else []


def _job_dirs(setup: dict[str, Any], org: str) -> list[Path]:
    return [p for p in _staged_or_delivered(setup, org) if p.is_file()]


def test_outputs_of_a_disputed_run_are_discarded_not_delivered(setup) -> None:
    ledger = FakeLedgerFor(_job(setup), "telecom")
    ledger.verdict = "DISPUTED"
    runner = _runner(setup, "telecom", ledger, FakeHost())
    outcome = runner.handle("job-1")
    assert outcome.action == "done" and "discarded" in outcome.detail
    assert any(name == "receipt" for name, _ in ledger.calls)
    assert list_outputs(setup["tmp"] / "telecom" / "outputs") == []
    assert _job_dirs(setup, "telecom") == []  # the staged directory is gone too
    assert "ended DISPUTED" in setup["files"]["telecom"][1].get_run("job-1", 1).detail


def test_outputs_wait_for_the_verdict_and_are_delivered_once_the_run_completes(setup) -> None:
    ledger = FakeLedgerFor(_job(setup), "telecom")
    ledger.verdict = None  # bank has not receipted yet
    runner = _runner(setup, "telecom", ledger, FakeHost())
    outcome = runner.handle("job-1")
    assert outcome.action == "done" and "held" in outcome.detail
    assert list_outputs(setup["tmp"] / "telecom" / "outputs") == []  # not before COMPLETED
    ledger.judge("COMPLETED")
    assert runner.wait_held(timeout=10)
    delivered = list_outputs(setup["tmp"] / "telecom" / "outputs")
    assert [m["job_id"] for m in delivered] == ["job-1"]
    assert delivered[0]["claim_tx"] == "tx1" and delivered[0]["receipt_tx"] == "tx2"
    assert "outputs in" in setup["files"]["telecom"][1].get_run("job-1", 1).detail
    runner.shutdown()


@pytest.mark.parametrize("ending", ["DISPUTED", "FAILED"])
def test_held_outputs_are_discarded_when_the_run_ends_otherwise(setup, ending: str) -> None:
    ledger = FakeLedgerFor(_job(setup), "telecom")
    ledger.verdict = None
    runner = _runner(setup, "telecom", ledger, FakeHost())
    runner.handle("job-1")
    if ending == "FAILED":
        ledger.fail("job-1", FailureReport(code="peer_unreachable", peer="telecom"))
    else:
        ledger.judge(ending)
    assert runner.wait_held(timeout=10)
    assert list_outputs(setup["tmp"] / "telecom" / "outputs") == []
    assert _job_dirs(setup, "telecom") == []
    assert f"ended {ending}" in setup["files"]["telecom"][1].get_run("job-1", 1).detail
    runner.shutdown()


def test_a_run_not_judged_by_its_deadline_is_expired_and_its_outputs_discarded(setup) -> None:
    ledger = FakeLedgerFor(_job(setup), "telecom")
    ledger.verdict = None  # and nobody ever judges the run
    store = setup["files"]["telecom"][1]
    now = [NOW]
    runner = JobRunner("telecom", store, ledger, FakeHost(), setup["tmp"] / "telecom" / "outputs",
                       clock=lambda: now[0])
    original_claim = ledger.claim

    def claim_with_deadline(job_id: str) -> tuple[Job, str]:
        _, tx = original_claim(job_id)
        ledger.job.run_deadline = NOW + 30
        return ledger.get_job(job_id), tx

    ledger.claim = claim_with_deadline  # type: ignore[method-assign]
    outcome = runner.handle("job-1")
    assert "held" in outcome.detail and _job_dirs(setup, "telecom")
    now[0] = NOW + 30  # the run's deadline passes
    assert runner.wait_held(timeout=10)
    assert ("expire", "job-1") in ledger.calls
    assert _job_dirs(setup, "telecom") == []
    assert "ended FAILED" in store.get_run("job-1", 1).detail
    runner.shutdown()


def _rewrite_keeping_size_and_mtime(path: Path, old: str, new: str) -> None:
    """The reviewer's attack: same length, one value changed, the original mtime put back."""
    stat = path.stat()
    text = path.read_text()
    assert len(old) == len(new) and old in text
    path.write_text(text.replace(old, new))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns


def test_data_rewritten_with_the_same_size_and_mtime_fails_the_job(setup) -> None:
    path = setup["files"]["bank"][0]
    ledger = FakeLedgerFor(_job(setup), "bank")
    host = FakeHost(outputs={})
    runner = _runner(setup, "bank", ledger, host)
    runner.fingerprints.fingerprint(str(path))  # an earlier look at the file, before the change
    _rewrite_keeping_size_and_mtime(path, "B,2", "B,9")
    outcome = runner.handle("job-1")
    assert outcome.action in ("failed", "refused"), outcome.detail
    report = next(arg for name, arg in ledger.calls if name == "fail")
    assert report == FailureReport(code="fingerprint_mismatch", input="bank/customers")
    assert "changed" in failure_log.read(setup["tmp"] / "bank", "job-1")[0].detail
    assert not host.runs  # the protocol never saw the changed data
    assert not any(name == "receipt" for name, _ in ledger.calls)


def test_data_changed_between_the_gate_and_the_run_fails_the_job(setup) -> None:
    path = setup["files"]["telecom"][0]

    class ChangesTheFileOnClaim(FakeLedgerFor):
        def claim(self, job_id: str) -> tuple[Job, str]:
            _rewrite_keeping_size_and_mtime(path, "B,2", "B,7")
            return super().claim(job_id)

    ledger = ChangesTheFileOnClaim(_job(setup), "telecom")
    host = FakeHost()
    outcome = _runner(setup, "telecom", ledger, host).handle("job-1")
    assert outcome.action == "failed"
    report = next(arg for name, arg in ledger.calls if name == "fail")
    assert report == FailureReport(code="fingerprint_mismatch", input="telecom/subs")
    assert not host.runs
    assert _job_dirs(setup, "telecom") == []


def test_peers_get_longer_to_link_up_when_they_hold_large_inputs(setup) -> None:
    # telecom waits for bank, whose 1M registered rows take a while to fingerprint before
    # bank's node claims: 60 us per row (alliance/run_deadline.py) on top of the connect timeout
    host = FakeHost()
    _runner(setup, "telecom", FakeLedgerFor(_job(setup), "telecom"), host).handle("job-1")
    assert host.peer_prepare_seconds == pytest.approx(60.0)
    host = FakeHost(outputs={})
    _runner(setup, "bank", FakeLedgerFor(_job(setup), "bank"), host).handle("job-1")
    assert host.peer_prepare_seconds == pytest.approx(2 * 60e-6)

"""Staged outputs survive the node: a runner that dies at each point of staging is replaced by a
fresh one on the same store and outputs directory, which delivers or deletes by the verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_node_runner import NOW, FakeHost, FakeLedgerFor, _job
from test_node_runner import setup as runner_setup

from alliance.failures import FailureReport
from alliance.models import Job, JobState, Receipt
from node.outputs import list_outputs
from node.runner import JobRunner


class Crash(BaseException):
    """Stands for SIGKILL: nothing after it runs in the dying runner."""


class Ledger(FakeLedgerFor):
    """Records receipts on the job (as the contract does) and can die around a receipt."""

    def __init__(self, job: Job, org: str) -> None:
        super().__init__(job, org)
        self.crash_before_receipt = False
        self.crash_after_receipt = False

    def submit_receipt(self, job_id: str, receipt: dict[str, Any]) -> tuple[Job, str]:
        if self.crash_before_receipt:
            raise Crash
        self.calls.append(("receipt", receipt))
        tx = self._tx()
        run = str(receipt["run"])
        self.job.receipts.setdefault(run, {})[self.org] = Receipt(
            run=receipt["run"], org=self.org, output_digests=receipt["output_digests"],
            transcript_digest=receipt["transcript_digest"],
            input_fingerprints=receipt["input_fingerprints"],
            engine_version=receipt["engine_version"], signer="sha256:" + "0" * 64, tx_id=tx,
            at=NOW,
        )
        if self.verdict is not None:
            self.judge(self.verdict)
        if self.crash_after_receipt:
            raise Crash
        return self.get_job(job_id), tx

    def judge(self, verdict: str) -> None:
        super().judge(verdict)
        run = str(self.job.current_run)
        digests = self.job.receipts[run][self.org].output_digests
        self.job.results[run].output_digests.update(digests)


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Any]:
    """Two orgs' data files and stores (test_node_runner's setup)."""
    return runner_setup.__wrapped__(tmp_path)  # type: ignore[attr-defined]


def _runner(setup: dict[str, Any], ledger: Ledger) -> JobRunner:
    store = setup["files"]["telecom"][1]
    return JobRunner("telecom", store, ledger, FakeHost(), _outputs(setup), clock=lambda: NOW)


def _outputs(setup: dict[str, Any]) -> Path:
    return setup["tmp"] / "telecom" / "outputs"


def _hidden_files(setup: dict[str, Any]) -> list[Path]:
    """Files in staging (or any hidden) directories: plaintext outside delivered outputs."""
    root = _outputs(setup)
    return [p for p in root.rglob("*") if p.is_file() and "/." in str(p.relative_to(root.parent))]


def _restart(setup: dict[str, Any], ledger: Ledger) -> JobRunner:
    runner = _runner(setup, ledger)
    runner.recover()
    assert runner.wait_held(timeout=10)
    return runner


def _die(runner: JobRunner) -> None:
    with pytest.raises(Crash):
        runner.handle("job-1")
    runner.shutdown(wait=False)


def test_killed_before_its_receipt_the_node_submits_it_at_start_and_delivers(setup) -> None:
    ledger = Ledger(_job(setup), "telecom")
    ledger.crash_before_receipt = True
    _die(_runner(setup, ledger))
    assert _hidden_files(setup)  # staged, recorded, receipt not submitted
    ledger.crash_before_receipt = False
    runner = _restart(setup, ledger)
    assert [name for name, _ in ledger.calls].count("receipt") == 1
    delivered = list_outputs(_outputs(setup))
    assert [m["job_id"] for m in delivered] == ["job-1"]
    assert _hidden_files(setup) == []
    runner.shutdown()


def test_killed_after_its_receipt_the_run_completed_meanwhile_is_delivered_at_start(
    setup,
) -> None:
    ledger = Ledger(_job(setup), "telecom")
    ledger.verdict = None
    ledger.crash_after_receipt = True
    _die(_runner(setup, ledger))
    ledger.crash_after_receipt = False
    ledger.judge("COMPLETED")  # bank's receipt, while telecom's node is down
    runner = _restart(setup, ledger)
    assert [name for name, _ in ledger.calls].count("receipt") == 1  # not submitted twice
    assert [m["job_id"] for m in list_outputs(_outputs(setup))] == ["job-1"]
    assert _hidden_files(setup) == []
    store = setup["files"]["telecom"][1]
    assert store.get_staged("job-1", 1).state == "delivered"
    runner.shutdown()


def test_killed_after_the_verdict_the_outputs_are_delivered_at_start(setup) -> None:
    ledger = Ledger(_job(setup), "telecom")
    ledger.crash_after_receipt = True  # the receipt completes the run; the node dies at once
    _die(_runner(setup, ledger))
    assert ledger.job.state == JobState.COMPLETED and list_outputs(_outputs(setup)) == []
    ledger.crash_after_receipt = False
    runner = _restart(setup, ledger)
    assert [m["job_id"] for m in list_outputs(_outputs(setup))] == ["job-1"]
    assert _hidden_files(setup) == []
    runner.shutdown()


@pytest.mark.parametrize("ending", ["FAILED", "DISPUTED"])
def test_staged_outputs_of_a_run_that_ended_otherwise_are_deleted_at_start(
    setup, ending: str,
) -> None:
    ledger = Ledger(_job(setup), "telecom")
    ledger.verdict = None
    ledger.crash_after_receipt = True
    _die(_runner(setup, ledger))
    ledger.crash_after_receipt = False
    if ending == "FAILED":
        ledger.fail("job-1", FailureReport(code="node_stopped"))
    else:
        ledger.judge(ending)
    runner = _restart(setup, ledger)
    assert list_outputs(_outputs(setup)) == []
    assert _hidden_files(setup) == []
    assert setup["files"]["telecom"][1].get_staged("job-1", 1).state == "discarded"
    runner.shutdown()


def test_a_staged_file_changed_on_disk_is_not_delivered(setup) -> None:
    ledger = Ledger(_job(setup), "telecom")
    ledger.verdict = None
    ledger.crash_after_receipt = True
    _die(_runner(setup, ledger))
    ledger.crash_after_receipt = False
    ledger.judge("COMPLETED")
    staged = _hidden_files(setup)
    result = next(p for p in staged if p.name.startswith("result"))
    result.write_bytes(b'{"value":"4"}')
    runner = _restart(setup, ledger)
    assert list_outputs(_outputs(setup)) == []
    assert "not delivered" in setup["files"]["telecom"][1].get_staged("job-1", 1).detail
    assert _hidden_files(setup) == []
    runner.shutdown()


def test_temporary_directories_nobody_records_are_deleted_at_start(setup) -> None:
    ledger = Ledger(_job(setup, state="FAILED"), "telecom")
    orphan = _outputs(setup) / "job-0" / ".run-1.tmp-4242"
    orphan.mkdir(parents=True)
    (orphan / "result.json").write_text('{"value":"secret"}')
    runner = _restart(setup, ledger)
    assert not orphan.exists()
    runner.shutdown()


def test_a_node_stopping_while_it_holds_outputs_keeps_them_staged(setup) -> None:
    ledger = Ledger(_job(setup), "telecom")
    ledger.verdict = None
    runner = _runner(setup, ledger)
    assert "held" in runner.handle("job-1").detail
    runner.shutdown()  # an orderly stop before the verdict: nothing is discarded
    assert _hidden_files(setup)
    ledger.judge("COMPLETED")
    runner = _restart(setup, ledger)
    assert [m["job_id"] for m in list_outputs(_outputs(setup))] == ["job-1"]
    runner.shutdown()

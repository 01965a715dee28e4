"""The node's few ledger calls, typed: read a job, claim it, submit a receipt, report a failure,
expire an overdue run, list the running jobs, read a dataset's registered row count.

A thin layer over the Gateway contract so the runner speaks in `Job`s and transaction ids, and so
tests can hand the runner a fake. Each submit returns the committed transaction's id.
"""

from __future__ import annotations

import random
import time
from typing import Any, Protocol

from alliance.canonical import canonical_json
from alliance.failures import FailureReport
from alliance.models import Job
from network.errors import CommitError
from network.gateway import Contract
from network.gateway.retry import endorse_fresh

MVCC_ATTEMPTS = 8
RETRYABLE = ("MVCC_READ_CONFLICT", "PHANTOM_READ_CONFLICT")

class JobLedger(Protocol):
    def get_job(self, job_id: str) -> Job: ...

    def claim(self, job_id: str) -> tuple[Job, str]: ...

    def submit_receipt(self, job_id: str, receipt: dict[str, Any]) -> tuple[Job, str]: ...

    def fail(self, job_id: str, report: FailureReport) -> tuple[Job, str]: ...

    def participant_jobs(self, org: str) -> list[Job]: ...

    def charter_voters(self) -> list[str]: ...

    def running_jobs(self) -> list[Job]: ...

    def expire_run(self, job_id: str) -> tuple[Job, str]: ...

    def dataset_rows(self, dataset_id: str) -> int: ...


class GatewayJobLedger:
    """`JobLedger` over a Gateway contract (signed by the node's identity)."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract

    def get_job(self, job_id: str) -> Job:
        return Job.model_validate_json(self.contract.evaluate_transaction("GetJob", job_id))

    def charter_voters(self) -> list[str]:
        """The charter's voting members now (only their votes on a job count)."""
        from alliance.charter import Charter

        return Charter.from_json(self.contract.evaluate_transaction("GetCharter")).voters()

    def participant_jobs(self, org: str) -> list[Job]:
        import json

        raw = self.contract.evaluate_transaction(
            "ListJobs", canonical_json({"participant": org}).decode()
        )
        return [Job.model_validate(item) for item in json.loads(raw or b"[]")]

    def running_jobs(self) -> list[Job]:
        import json

        raw = self.contract.evaluate_transaction(
            "ListJobs", canonical_json({"state": "RUNNING"}).decode()
        )
        return [Job.model_validate(item) for item in json.loads(raw or b"[]")]

    def dataset_rows(self, dataset_id: str) -> int:
        """The registered row count of `org/name` (what its owner fingerprints before it
        claims a run)."""
        import json

        return int(json.loads(self.contract.evaluate_transaction("GetDataset", dataset_id))[
            "row_count"])

    def _submit(self, function: str, *args: str) -> tuple[Job, str]:
        """Endorse, submit, wait; re-run (as a new transaction) when it lost an MVCC race, as
        the participants' receipts and claims on one job often do, or when the endorsing peers'
        results differed (network.gateway.retry)."""
        for attempt in range(MVCC_ATTEMPTS):
            proposal, transaction = endorse_fresh(
                lambda: self.contract.new_proposal(function, args)
            )
            try:
                transaction.submit().require_success()
            except CommitError as exc:
                if exc.code_name not in RETRYABLE or attempt == MVCC_ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
                continue
            return Job.model_validate_json(transaction.result), proposal.tx_id
        raise AssertionError("unreachable")

    def claim(self, job_id: str) -> tuple[Job, str]:
        return self._submit("ClaimJob", job_id)

    def submit_receipt(self, job_id: str, receipt: dict[str, Any]) -> tuple[Job, str]:
        return self._submit("SubmitReceipt", job_id, canonical_json(receipt).decode())

    def expire_run(self, job_id: str) -> tuple[Job, str]:
        return self._submit("ExpireRun", job_id)

    def fail(self, job_id: str, report: FailureReport) -> tuple[Job, str]:
        """FailJob with a coded report (alliance/failures.py); the contract renders the text."""
        body = canonical_json(report.model_dump(mode="json", exclude_none=True))
        return self._submit("FailJob", job_id, body.decode())
